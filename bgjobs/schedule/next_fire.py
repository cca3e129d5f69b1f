"""Next fire time of a Schedule: jumps field by field on the wall clock, time-zone aware.

The search runs on local wall-clock values (year, month, day, hour, minute,
second) and jumps to the next allowed value of each field with a bisect over
its sorted values; it never ticks through time. Each wall-clock candidate is
then converted to an instant once. Daylight-saving transitions are detected
by asking the zone for both PEP 495 readings of a wall time (fold=0 and
fold=1): equal offsets mean an ordinary time, a larger fold=0 offset a time
repeated by a fall-back transition, a smaller one a time skipped by a
spring-forward gap. Instants are whole seconds on one integer scale, so
comparisons never depend on how datetime compares two times of one zone
(by wall clock, ignoring fold).

Two rules decide what a transition does to a schedule (Debian cron, as
cronsim implements it; docs/schedule-language.md has worked examples):

- wall clock, when minute and hour are both fixed (restricted, neither a
  leading `*/N`): a repeated wall time fires once, at its first occurrence;
  a skipped one fires at the same second of the first existing minute after
  the gap; moved fires that coincide fire once.
- elapsed time, for every other schedule: repeated wall times fire twice,
  skipped ones never.

prev_before() is the mirror image: the same set of fire instants, searched
backwards (the last one strictly before t), with the same jumps.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Final

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.fields import DayRule
from bgjobs.schedule.month_days import matching_days

if TYPE_CHECKING:
    from bgjobs.schedule.model import Schedule

#: A local wall-clock time: (year, month, day, hour, minute, second).
Wall = tuple[int, int, int, int, int, int]

#: How far ahead the search looks, in years of wall-clock time.
SEARCH_YEARS: Final = 50
_LAST_WALL: Final[Wall] = (9999, 12, 31, 23, 59, 59)
_FIRST_WALL: Final[Wall] = (1, 1, 1, 0, 0, 0)

_UTC: Final = UTC
_ONE_SECOND: Final = timedelta(seconds=1)
_ONE_MINUTE: Final = timedelta(minutes=1)
_DATETIME_ZERO: Final = datetime(1, 1, 1)
# Instants count whole seconds from the proleptic ordinal day 0, so that
# date.toordinal() * 86400 is the start of a day.
_SECONDS_ZERO: Final = 86_400
_MONTH_LENGTHS: Final = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# Compiled plans and per-month day lists are cached; the bounds keep a
# long-lived process that builds schedules on the fly from growing without limit.
_CACHE_SIZE: Final = 1024


def require_aware(t: datetime) -> None:
    """Raise ScheduleValidationError unless `t` is a timezone-aware datetime."""
    if not isinstance(t, datetime):
        raise ScheduleValidationError(
            f"the start time must be a timezone-aware datetime (got {type(t).__name__} {t!r})",
            field="t",
            value=t,
            allowed="an aware datetime",
        )
    if t.tzinfo is None or t.utcoffset() is None:
        raise ScheduleValidationError(
            f"the start time must be timezone-aware (got naive {t.isoformat()}): "
            "attach a zone, e.g. t.replace(tzinfo=ZoneInfo('UTC'))",
            field="t",
            value=t,
            allowed="an aware datetime",
        )


def next_after(
    schedule: Schedule, t: datetime, *, within_years: int = SEARCH_YEARS
) -> datetime | None:
    """The earliest fire instant strictly after aware `t`, in the schedule's zone.

    None when nothing fires within `within_years` years of wall-clock time
    (50 by default) or before year 10000.
    """
    plan = _plan_for(schedule)
    if type(t) is not datetime or t.tzinfo is not plan.zone:
        require_aware(t)
    try:
        return plan.next_after(t, within_years)
    except OverflowError:
        # Only reachable at the edges of datetime's range (years 1 and 9999).
        return None


def prev_before(
    schedule: Schedule, t: datetime, *, within_years: int = SEARCH_YEARS
) -> datetime | None:
    """The last fire instant strictly before aware `t`, in the schedule's zone.

    None when nothing fired within `within_years` years of wall-clock time
    (50 by default) or after year 1.
    """
    plan = _plan_for(schedule)
    if type(t) is not datetime or t.tzinfo is not plan.zone:
        require_aware(t)
    try:
        if t.microsecond:
            # Fires are whole seconds: the last one before 10:00:00.5 is the
            # last one before 10:00:01.
            t = t.astimezone(_UTC).replace(microsecond=0) + _ONE_SECOND
        return plan.prev_before(t, within_years)
    except OverflowError:
        # Only reachable at the edges of datetime's range (years 1 and 9999).
        return None


def iter_before(schedule: Schedule, t: datetime) -> Iterator[datetime]:
    """Yield the fire instants strictly before aware `t`, newest first."""
    require_aware(t)
    return _fires_before(schedule, t)


def _fires_before(schedule: Schedule, t: datetime) -> Iterator[datetime]:
    current = prev_before(schedule, t)
    while current is not None:
        yield current
        current = prev_before(schedule, current)


def iter_after(schedule: Schedule, t: datetime) -> Iterator[datetime]:
    """Yield the fire instants strictly after aware `t`, in order (naive `t` refused now)."""
    require_aware(t)
    return _fires_after(schedule, t)


def _fires_after(schedule: Schedule, t: datetime) -> Iterator[datetime]:
    current = next_after(schedule, t)
    while current is not None:
        yield current
        current = next_after(schedule, current)


# Keyed by id() with the schedule kept alongside: hashing a Schedule on every
# call would cost more than the search itself.
_plans: dict[int, tuple[Schedule, _Plan]] = {}


def _plan_for(schedule: Schedule) -> _Plan:
    entry = _plans.get(id(schedule))
    if entry is not None and entry[0] is schedule:
        return entry[1]
    if len(_plans) >= _CACHE_SIZE:
        _plans.clear()
    plan = _Plan(schedule)
    _plans[id(schedule)] = (schedule, plan)
    return plan


_offset_seconds: dict[timedelta, int] = {}


def _seconds(offset: timedelta | None) -> int:
    """A UTC offset in whole seconds (zones reuse a few timedelta objects: cache them)."""
    seconds = _offset_seconds.get(offset)  # type: ignore[arg-type]
    if seconds is None:
        assert offset is not None  # zoneinfo always knows its offset
        seconds = _offset_seconds[offset] = offset // _ONE_SECOND
    return seconds


def _wall_seconds(c: Wall) -> int:
    y, mo, d, h, mi, s = c
    return date(y, mo, d).toordinal() * 86_400 + h * 3600 + mi * 60 + s


def _naive_at(seconds: int) -> datetime:
    # datetime raises OverflowError outside years 1..9999; next_after turns it into None.
    return _DATETIME_ZERO + timedelta(seconds=seconds - _SECONDS_ZERO)


def _wall_at(seconds: int) -> Wall:
    n = _naive_at(seconds)
    return (n.year, n.month, n.day, n.hour, n.minute, n.second)


def _after(c: Wall) -> Wall:
    """The wall time one second after `c`; the search carries second 60 over itself."""
    return (c[0], c[1], c[2], c[3], c[4], c[5] + 1)


def _before(c: Wall) -> Wall:
    """The wall time one second before `c`; the backward search borrows for second -1 itself."""
    return (c[0], c[1], c[2], c[3], c[4], c[5] - 1)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _sorted(values: frozenset[int] | None, low: int, high: int) -> tuple[int, ...]:
    return tuple(range(low, high + 1)) if values is None else tuple(sorted(values))


class _Plan:
    """A schedule compiled for searching: sorted value tuples, its DST rule and caches.

    A plain class rather than a frozen value because it memoises: the
    matching days of each month, which years can match at all, and the zone
    offsets of the last wall time looked at (a chain of next_after calls asks
    for the previous result's offsets first).
    """

    __slots__ = (
        "_days",
        "_days_by_shape",
        "_last",
        "_years",
        "day_of_month",
        "day_of_week",
        "either_day",
        "hours",
        "minutes",
        "months",
        "on_wall_clock",
        "schedule",
        "seconds",
        "zone",
    )

    def __init__(self, s: Schedule) -> None:
        self.schedule = s
        self.months = _sorted(s.month, 1, 12)
        self.hours = _sorted(s.hour, 0, 23)
        self.minutes = _sorted(s.minute, 0, 59)
        self.seconds = _sorted(s.second, 0, 59)
        self.day_of_month = s.day_of_month
        self.day_of_week = s.day_of_week
        self.either_day = s.day_rule is DayRule.OR
        self.on_wall_clock = (
            s.minute is not None
            and s.hour is not None
            and s.minute_step is None
            and s.hour_step is None
        )
        self.zone: tzinfo = s.zone
        self._days: dict[tuple[int, int], tuple[int, ...]] = {}
        self._days_by_shape: dict[tuple[int, int], tuple[int, ...]] = {}
        self._years: dict[tuple[bool, int], bool] = {}
        self._last: tuple[Wall, timedelta, timedelta] = (
            (0, 0, 0, 0, 0, 0),
            _ONE_SECOND,
            _ONE_SECOND,
        )

    # -- the calendar search, on wall-clock values only ---------------------

    def days_in(self, year: int, month: int) -> tuple[int, ...]:
        """The matching days of a month, ascending."""
        days = self._days.get((year, month))
        if days is None:
            length = _MONTH_LENGTHS[month - 1] + (month == 2 and _is_leap(year))
            shape = (date(year, month, 1).weekday(), length)
            days = self._days_by_shape.get(shape)
            if days is None:
                days = self._days_by_shape[shape] = self._matching_days(*shape)
            if len(self._days) >= _CACHE_SIZE:
                self._days.clear()
            self._days[(year, month)] = days
        return days

    def _matching_days(self, first_weekday: int, length: int) -> tuple[int, ...]:
        # A month's matching days depend only on its length and the weekday it
        # starts on; so do the relative days (`L`, `15W`, `5#2`).
        s = self.schedule
        return matching_days(
            first_weekday,
            length,
            s.day_of_month,
            s.relative_days,
            s.day_of_week,
            s.nth_weekdays,
            self.either_day,
        )

    def year_can_match(self, year: int) -> bool:
        """Does any chosen month of the year have a matching day?

        That depends only on whether the year is a leap year and on the
        weekday of January 1st, so sparse schedules (`day 29 months 2 on
        monday`) skip whole years with one dictionary lookup.
        """
        shape = (_is_leap(year), date(year, 1, 1).weekday())
        found = self._years.get(shape)
        if found is None:
            found = self._years[shape] = any(self.days_in(year, m) for m in self.months)
        return found

    def search(self, start: Wall, limit: Wall) -> Wall | None:
        """The first matching wall time at or after `start` and not after `limit`.

        `start` may hold carried-over values (second 60, minute 60, hour 24,
        day 32, month 13): a bisect past the end of a field's values moves on
        to the next larger unit, which resets the smaller ones.
        """
        y, mo, d, h, mi, s = start
        months, hours, minutes, seconds = self.months, self.hours, self.minutes, self.seconds
        last_year = limit[0]
        days_cache = self._days
        while y <= last_year:
            i = bisect_left(months, mo)
            if i == len(months):
                y += 1
                while y <= last_year and not self.year_can_match(y):
                    y += 1
                mo, d, h, mi, s = months[0], 1, 0, 0, 0
                continue
            if months[i] != mo:
                mo, d, h, mi, s = months[i], 1, 0, 0, 0
            days = days_cache.get((y, mo))
            if days is None:
                days = self.days_in(y, mo)
            # Each loop below moves its own field on; running past the last
            # allowed value breaks out to the next larger unit.
            while (i := bisect_left(days, d)) < len(days):
                if days[i] != d:
                    d, h, mi, s = days[i], 0, 0, 0
                while (i := bisect_left(hours, h)) < len(hours):
                    if hours[i] != h:
                        h, mi, s = hours[i], 0, 0
                    while (i := bisect_left(minutes, mi)) < len(minutes):
                        if minutes[i] != mi:
                            mi, s = minutes[i], 0
                        if (i := bisect_left(seconds, s)) < len(seconds):
                            found = (y, mo, d, h, mi, seconds[i])
                            return found if found <= limit else None
                        mi, s = mi + 1, 0
                    h, mi, s = h + 1, 0, 0
                d, h, mi, s = d + 1, 0, 0, 0
            mo, d, h, mi, s = mo + 1, 1, 0, 0, 0
        return None

    def search_back(self, start: Wall, limit: Wall) -> Wall | None:
        """The last matching wall time at or before `start` and not before `limit`.

        The mirror of search(): `start` may hold borrowed values (second -1,
        minute -1, hour -1, day 0, month 0); a bisect before the first of a
        field's values moves back to the previous larger unit, which sets
        the smaller ones to their last values (day 31 means the month's last).
        """
        y, mo, d, h, mi, s = start
        months, hours, minutes, seconds = self.months, self.hours, self.minutes, self.seconds
        first_year = max(limit[0], 1)
        while y >= first_year:
            i = bisect_right(months, mo) - 1
            if i < 0:
                y -= 1
                while y >= first_year and not self.year_can_match(y):
                    y -= 1
                mo, d, h, mi, s = months[-1], 31, 23, 59, 59
                continue
            if months[i] != mo:
                mo, d, h, mi, s = months[i], 31, 23, 59, 59
            days = self._days.get((y, mo))
            if days is None:
                days = self.days_in(y, mo)
            while (i := bisect_right(days, d) - 1) >= 0:
                if days[i] != d:
                    d, h, mi, s = days[i], 23, 59, 59
                while (i := bisect_right(hours, h) - 1) >= 0:
                    if hours[i] != h:
                        h, mi, s = hours[i], 59, 59
                    while (i := bisect_right(minutes, mi) - 1) >= 0:
                        if minutes[i] != mi:
                            mi, s = minutes[i], 59
                        if (i := bisect_right(seconds, s) - 1) >= 0:
                            found = (y, mo, d, h, mi, seconds[i])
                            return found if found >= limit else None
                        mi, s = mi - 1, 59
                    h, mi, s = h - 1, 59, 59
                d, h, mi, s = d - 1, 23, 59, 59
            mo, d, h, mi, s = mo - 1, 31, 23, 59, 59
        return None

    # -- the zone ------------------------------------------------------------

    def readings(self, c: Wall) -> tuple[timedelta, timedelta]:
        """The UTC offsets of both PEP 495 readings (fold=0, fold=1) of a wall time.

        Equal: an ordinary time. fold=0 larger: repeated by a fall-back
        transition. fold=0 smaller: skipped by a spring-forward gap.
        """
        last = self._last
        if last[0] == c:
            return last[1], last[2]
        y, mo, d, h, mi, s = c
        utcoffset = self.zone.utcoffset
        offset0 = utcoffset(datetime(y, mo, d, h, mi, s))
        offset1 = utcoffset(datetime(y, mo, d, h, mi, s, fold=1))
        assert offset0 is not None and offset1 is not None  # zoneinfo always knows
        self._last = (c, offset0, offset1)
        return offset0, offset1

    def offsets(self, c: Wall) -> tuple[int, int]:
        """readings(c) in whole seconds."""
        offset0, offset1 = self.readings(c)
        return _seconds(offset0), _seconds(offset1)

    def offset_at(self, instant: int) -> int:
        """The zone's UTC offset (seconds) at an instant."""
        zone = self.zone
        return _seconds(zone.fromutc(_naive_at(instant).replace(tzinfo=zone)).utcoffset())

    def transition(self, before: int, after: int) -> int:
        """The instant in (before, after] where the offset changes (bisect on whole seconds)."""
        target = self.offset_at(after)
        while after - before > 1:
            middle = (before + after) // 2
            if self.offset_at(middle) == target:
                after = middle
            else:
                before = middle
        return after

    def transition_near(self, c: Wall, offset0: int, offset1: int) -> int:
        """The transition that repeats or skips wall time `c`.

        It lies between the instants of the two readings of `c`.
        """
        seconds = _wall_seconds(c)
        before, after = sorted((seconds - offset0, seconds - offset1))
        return self.transition(before, after)

    def fire(self, c: Wall, fold: int = 0) -> datetime:
        y, mo, d, h, mi, s = c
        if fold:
            return datetime(y, mo, d, h, mi, s, 0, self.zone, fold=1)
        return datetime(y, mo, d, h, mi, s, 0, self.zone)

    # -- next fire -----------------------------------------------------------

    def next_after(self, t: datetime, within_years: int) -> datetime | None:
        zone = self.zone
        local = t if t.tzinfo is zone else t.astimezone(zone)
        w = (local.year, local.month, local.day, local.hour, local.minute, local.second)
        offset0, offset1 = self.readings(w)
        if offset0 == offset1 and not (
            self.on_wall_clock and self._maybe_after_a_transition(w, offset0)
        ):
            # The common case: t's wall time is ordinary, and so is the first
            # matching wall time after it. Then no fire lies between them under
            # either rule (a fall-back's second pass repeats wall times after
            # t's; a gap skips some), so that match is the answer.
            c = self.search(_after(w), _limit(w, within_years))
            if c is None:
                return None
            offset0, offset1 = self.readings(c)
            if offset0 == offset1:
                return self.fire(c)
        return self._next_near_a_transition(t, within_years)

    def _maybe_after_a_transition(self, w: Wall, offset: timedelta) -> bool:
        """Could a transition lie within the minute before ordinary wall time `w`?

        If one did, the fold=0 reading of the wall time a minute earlier has
        the offset from before it (in a gap, a repeated period or before
        either). Only the wall-clock rule cares: a gap that just ended may
        have moved a fire past t.
        """
        y, mo, d, h, mi, s = w
        minute_ago = (
            datetime(y, mo, d, h, mi - 1, s) if mi else datetime(y, mo, d, h, mi, s) - _ONE_MINUTE
        )
        return self.zone.utcoffset(minute_ago) != offset

    def _next_near_a_transition(self, t: datetime, within_years: int) -> datetime | None:
        """The general case: t or the next match is repeated or skipped, or a gap just ended."""
        zone = self.zone
        # Read the wall clock back from the instant: a repeated or skipped
        # wall time handed in by the caller means what its fold says (PEP 495).
        local = t.astimezone(_UTC).astimezone(zone)
        w = (local.year, local.month, local.day, local.hour, local.minute, local.second)
        offset0, offset1 = self.offsets(w)
        t_offset = offset1 if local.fold else offset0
        t_instant = _wall_seconds(w) - t_offset
        limit = _limit(w, within_years)
        if self.on_wall_clock:
            return self._next_on_wall_clock(w, local.fold, t_offset, t_instant, limit)
        return self._next_in_elapsed_time(w, local.fold, t_instant, limit)

    def _next_in_elapsed_time(
        self, w: Wall, fold: int, t_instant: int, limit: Wall
    ) -> datetime | None:
        """Repeated wall times fire twice (fold=0, then fold=1); skipped ones never."""
        start = _after(w)
        offset0, offset1 = self.offsets(w)
        if offset0 > offset1 and fold == 0:
            # t is in the first pass of a repeated period [A, B): after the
            # rest of that pass comes the whole second pass, then B onwards.
            switch = self.transition_near(w, offset0, offset1)
            repeat_end = switch + offset0
            c = self.search(start, limit)
            if c is not None and _wall_seconds(c) < repeat_end:
                return self.fire(c)
            c = self.search(_wall_at(switch + offset1), limit)
            if c is not None and _wall_seconds(c) < repeat_end:
                return self.fire(c, fold=1)
            start = _wall_at(repeat_end)
        while True:
            c = self.search(start, limit)
            if c is None:
                return None
            offset0, offset1 = self.offsets(c)
            if offset0 < offset1:
                # Skipped by a spring-forward gap: never fires; resume after it.
                start = _wall_at(self.transition_near(c, offset0, offset1) + offset1)
                continue
            # Ordinary, or repeated: the first pass unless t is already in the
            # second pass of this period (then c, after t's wall time, is too).
            if _wall_seconds(c) - offset0 > t_instant:
                return self.fire(c)
            return self.fire(c, fold=1)

    def _next_on_wall_clock(
        self, w: Wall, fold: int, t_offset: int, t_instant: int, limit: Wall
    ) -> datetime | None:
        """Repeated wall times fire once (first pass); skipped ones move past the gap."""
        start = _after(w)
        # A fire moved out of a gap, as an instant, waiting for an earlier real match.
        pending: int | None = None
        offset0, offset1 = self.offsets(w)
        if offset0 > offset1 and fold == 1:
            # t is in the second pass of a repeated period: every wall time of
            # that period fired on the first pass, so resume at its end.
            start = _wall_at(self.transition_near(w, offset0, offset1) + offset0)
        elif (before := self.offset_at(t_instant - 60)) < t_offset:
            # A gap ended within the last minute and may have moved a fire to
            # just after t (02:30:10 fires at 03:00:10; t may be 03:00:05).
            switch = self.transition(t_instant - 60, t_instant)
            pending = self._moved_out_of_gap(switch, before, t_offset, t_instant)
        while True:
            c = self.search(start, limit)
            if c is None:
                break
            offset0, offset1 = self.offsets(c)
            if offset0 < offset1:
                switch = self.transition_near(c, offset0, offset1)
                moved = self._moved_out_of_gap(switch, offset0, offset1, t_instant)
                if moved is not None and (pending is None or moved < pending):
                    pending = moved
                start = _wall_at(switch + offset1)
                continue
            # Ordinary or repeated: the first (fold=0) occurrence is the fire,
            # and it is after t (t is before c, or resumed past a second pass).
            if pending is not None and pending <= _wall_seconds(c) - offset0:
                break
            return self.fire(c)
        if pending is None:
            return None
        return self.fire(_wall_at(pending + self.offset_at(pending)))

    def _moved_out_of_gap(
        self, switch: int, offset0: int, offset1: int, t_instant: int
    ) -> int | None:
        """The earliest instant after t among the gap's matches moved past it."""
        moved = self._moved_instants(switch, offset0, offset1)
        return min((instant for instant in moved if instant > t_instant), default=None)

    def _moved_instants(self, switch: int, offset0: int, offset1: int) -> set[int]:
        """The instants the gap's matches move to.

        The gap skips wall times [switch + offset0, switch + offset1). A skipped
        wall time fires at the same second of the first existing minute after
        the gap, so only its second (relative to the gap's end) matters:
        every move lands in the minute that starts at the gap's end.
        """
        gap_start, gap_end = switch + offset0, switch + offset1
        moved_by_second: set[int] = set()
        last = _wall_at(gap_end)
        c = self.search(_wall_at(gap_start), last)
        while c is not None and (seconds := _wall_seconds(c)) < gap_end:
            moved_by_second.add((seconds - gap_end) % 60)
            if len(moved_by_second) == len(self.seconds):
                break
            c = self.search(_after(c), last)
        return {switch + r for r in moved_by_second}

    # -- previous fire -------------------------------------------------------

    def prev_before(self, t: datetime, within_years: int) -> datetime | None:
        zone = self.zone
        local = t if t.tzinfo is zone else t.astimezone(zone)
        w = (local.year, local.month, local.day, local.hour, local.minute, local.second)
        offset0, offset1 = self.readings(w)
        if offset0 == offset1:
            # The common case, mirrored: t's wall time is ordinary, and so is the
            # last matching wall time before it, with no gap ending just before
            # that match (the wall-clock rule moves a gap's fires to the minute
            # after it, possibly past the match).
            c = self.search_back(_before(w), _limit_back(w, within_years))
            if c is None:
                return None
            offset0, offset1 = self.readings(c)
            if offset0 == offset1 and not (
                self.on_wall_clock and self._maybe_after_a_transition(c, offset0)
            ):
                return self.fire(c)
        return self._prev_near_a_transition(t, within_years)

    def _prev_near_a_transition(self, t: datetime, within_years: int) -> datetime | None:
        """The general case: t or the last match is repeated or skipped, or follows a gap."""
        # Read the wall clock back from the instant: a repeated or skipped
        # wall time handed in by the caller means what its fold says (PEP 495).
        local = t.astimezone(_UTC).astimezone(self.zone)
        w = (local.year, local.month, local.day, local.hour, local.minute, local.second)
        offset0, offset1 = self.offsets(w)
        t_offset = offset1 if local.fold else offset0
        t_instant = _wall_seconds(w) - t_offset
        limit = _limit_back(w, within_years)
        if self.on_wall_clock:
            return self._prev_on_wall_clock(w, local.fold, t_instant, limit)
        return self._prev_in_elapsed_time(w, local.fold, limit)

    def _prev_in_elapsed_time(self, w: Wall, fold: int, limit: Wall) -> datetime | None:
        """Repeated wall times fire twice (fold=0, then fold=1); skipped ones never."""
        start = _before(w)
        offset0, offset1 = self.offsets(w)
        if offset0 > offset1:
            # t is in a repeated period [A, B). Going back from t: the second
            # pass from t down to A (if t is in it), the first pass from B (or
            # from t) down to A, then what lies before A.
            switch = self.transition_near(w, offset0, offset1)
            repeat_start, repeat_end = switch + offset1, switch + offset0
            if fold == 1:
                c = self.search_back(start, limit)
                if c is not None and _wall_seconds(c) >= repeat_start:
                    return self.fire(c, fold=1)
                start = _wall_at(repeat_end - 1)
            c = self.search_back(start, limit)
            if c is not None and _wall_seconds(c) >= repeat_start:
                return self.fire(c)
            start = _wall_at(repeat_start - 1)
        while True:
            c = self.search_back(start, limit)
            if c is None:
                return None
            offset0, offset1 = self.offsets(c)
            if offset0 < offset1:
                # Skipped by a spring-forward gap: never fires; resume before it.
                start = _wall_at(self.transition_near(c, offset0, offset1) + offset0 - 1)
                continue
            # Ordinary, or repeated and reached from after its period: then its
            # second pass (fold=1) is the later of its two fires.
            return self.fire(c, fold=1 if offset0 > offset1 else 0)

    def _prev_on_wall_clock(
        self, w: Wall, fold: int, t_instant: int, limit: Wall
    ) -> datetime | None:
        """Repeated wall times fired once (first pass); skipped ones just after the gap."""
        start = _before(w)
        offset0, offset1 = self.offsets(w)
        if offset0 > offset1 and fold == 1:
            # t is in the second pass of a repeated period: every wall time of
            # that period fired on the first pass, before t; resume at its end.
            start = _wall_at(self.transition_near(w, offset0, offset1) + offset0 - 1)
        while True:
            c = self.search_back(start, limit)
            if c is None:
                return None
            offset0, offset1 = self.offsets(c)
            if offset0 < offset1:
                # The gap's matches fire just after it: later than anything
                # before it on the wall clock, so the latest of them before t wins.
                switch = self.transition_near(c, offset0, offset1)
                moved = self._moved_instants(switch, offset0, offset1)
                latest = max((i for i in moved if i < t_instant), default=None)
                if latest is not None:
                    return self.fire(_wall_at(latest + offset1))
                start = _wall_at(switch + offset0 - 1)
                continue
            instant = _wall_seconds(c) - offset0
            before = self.offset_at(instant - 60)
            if before < offset0:
                # A gap ended within the minute before c: its moved fires may
                # lie between c and t (02:30:10 fires at 03:00:10, c 03:00:05).
                switch = self.transition(instant - 60, instant)
                moved = self._moved_instants(switch, before, offset0)
                latest = max((i for i in moved if instant < i < t_instant), default=None)
                if latest is not None:
                    return self.fire(_wall_at(latest + offset0))
            return self.fire(c)


def _limit_back(w: Wall, years: int) -> Wall:
    """The first wall time searched back from `w`: `years` before, and never before year 1."""
    if w[0] - years < 1:
        return _FIRST_WALL
    return (w[0] - years, w[1], w[2], w[3], w[4], w[5])


def _limit(w: Wall, years: int) -> Wall:
    """The last wall time searched from `w`: `years` on, and never past year 9999."""
    if w[0] + years > 9999:
        return _LAST_WALL
    return (w[0] + years, w[1], w[2], w[3], w[4], w[5])
