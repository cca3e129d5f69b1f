"""Evaluating an RFC 5545 rule on a zone's wall clock, quickly and within bounds.

python-dateutil generates the wall-clock occurrences. Around it:

- evaluation starts from a DTSTART moved close to the asked time (keeping
  the INTERVAL phase), since dateutil walks period by period from DTSTART;
- dates are moved by whole 400-year cycles so that a rule that never fires
  stops at year 9999 soon (dateutil checks UNTIL only against occurrences);
- each wall-clock occurrence becomes an instant by the wall-clock rule of
  fixed-time cron schedules: a repeated wall time fires once, at its first
  occurrence; a skipped one at the same second of the first existing minute
  after the gap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final

from dateutil import rrule as du

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.model import zone
from bgjobs.schedule.rrule_parts import FREQUENCIES, Part

SEARCH_YEARS: Final = 50
#: The anchor of a rule written without DTSTART: Monday 1973-01-01 00:00:00 on the wall clock.
DEFAULT_DTSTART: Final = datetime(1973, 1, 1)
_CYCLE_YEARS: Final = 400  # the Gregorian calendar repeats exactly every 400 years
_SECONDS_PER: Final = {"HOURLY": 3600, "MINUTELY": 60, "SECONDLY": 1}


@dataclass(frozen=True, slots=True)
class RulePlan:
    """What evaluation needs, worked out once per rule."""

    freq: int
    interval: int
    wkst: int
    count: int | None
    until: datetime | None
    by: dict[str, object]
    dtstart: datetime
    zone: tzinfo

    @staticmethod
    def of(parts: dict[str, Part], start: datetime, zone_name: str) -> RulePlan:
        where = zone(zone_name)
        values = {name: value for name, (_, value) in parts.items()}
        freq = FREQUENCIES.index(str(parts["FREQ"][0]))
        by: dict[str, object] = {
            "bysetpos": values.get("BYSETPOS"),
            "bymonth": values.get("BYMONTH"),
            "bymonthday": values.get("BYMONTHDAY"),
            "byyearday": values.get("BYYEARDAY"),
            "byweekno": values.get("BYWEEKNO"),
            "byweekday": _weekdays(values.get("BYDAY")),
            "byhour": values.get("BYHOUR"),
            "byminute": values.get("BYMINUTE"),
            "bysecond": values.get("BYSECOND"),
        }
        _fill_defaults(by, freq, start)
        return RulePlan(
            freq=freq,
            interval=int(str(values.get("INTERVAL", 1))),
            wkst=int(str(values.get("WKST", 0))),
            count=int(str(values["COUNT"])) if "COUNT" in values else None,
            until=_until_wall(values.get("UNTIL"), where),
            by=by,
            dtstart=start,
            zone=where,
        )

    def check(self) -> None:
        """Raise if dateutil refuses the rule as written (reachable BY values, ...)."""
        try:
            self._rule(self.dtstart, None)
        except ValueError as exc:
            raise ScheduleValidationError(
                f"this rule can never fire: {exc}",
                field="rrule",
                value=self.dtstart,
                allowed="a rule with at least one occurrence",
            ) from None

    def next_after(self, t: datetime) -> datetime | None:
        after = t.astimezone(UTC)
        wall = after.astimezone(self.zone).replace(tzinfo=None)
        start = wall - _gap_lookback(after, self.zone)
        best: datetime | None = None
        best_wall: datetime | None = None
        for occurrence in self._occurrences(start, _search_limit(wall)):
            if best_wall is not None and occurrence > best_wall:
                break  # later wall times map to later instants (see _instant)
            instant = _instant(occurrence, self.zone)
            if instant > after and (best is None or instant < best):
                best = instant
                best_wall = instant.astimezone(self.zone).replace(tzinfo=None)
        return None if best is None else best.astimezone(self.zone)

    def prev_before(self, t: datetime) -> datetime | None:
        """The last occurrence strictly before `t`, within 50 years.

        dateutil only walks forwards, so the search walks forwards through a
        window that ends at t and starts a few periods earlier, and widens the
        window eightfold until something fires in it: the work stays near the
        answer, however far the rule's DTSTART lies behind.
        """
        before = t.astimezone(UTC)
        if t.microsecond:
            # Occurrences are whole seconds: the last before 10:00:00.5 is the last before 10:00:01.
            before = before.replace(microsecond=0) + timedelta(seconds=1)
        wall = before.astimezone(self.zone).replace(tzinfo=None)
        earliest = _search_limit_back(wall)
        plan = self._timeless() if earliest < self.dtstart else self
        span = self._period() * 2
        while True:
            start = max(earliest, wall - span) if wall - earliest > span else earliest
            best = plan._last_in_window(start, before)
            if best is not None:
                return best.astimezone(self.zone)
            if start <= earliest:
                return None
            span *= 8

    def _last_in_window(self, start: datetime, before: datetime) -> datetime | None:
        """The latest fire instant before `before` of the occurrences from wall time `start`.

        Later ordinary wall times fire later; only a gap's moves (02:30:50 fires
        at 03:00:50, after 03:00:05) break that order, and only within the gap
        and the minute after it. So the walk ends at the wall time of `before`
        (see _last_wall_before), or at the first ordinary occurrence that fires
        at or after `before`.
        """
        # Starting a little earlier catches a gap just before the window, whose
        # moved fires land inside it.
        start -= _gap_lookback(start.replace(tzinfo=self.zone).astimezone(UTC), self.zone)
        best: datetime | None = None
        for occurrence in self._occurrences(start, _last_wall_before(before, self.zone)):
            instant = _instant(occurrence, self.zone)
            if instant < before:
                if best is None or instant > best:
                    best = instant
            elif not _skipped(occurrence, self.zone):
                break
        return best

    def _timeless(self) -> RulePlan:
        """The rule with its default anchor moved back, so that it also fires before 1973.

        A rule written without DTSTART has no start of its own (only a rule
        with COUNT, or INTERVAL > 1 and no UNTIL, needs one, and must give
        it). Whole 400-year cycles times INTERVAL keep every weekday, leap
        day and "every other" phase; the defaults taken from the anchor are
        already explicit.
        """
        years = _CYCLE_YEARS * self.interval
        if self.count is not None or self.dtstart != DEFAULT_DTSTART or years >= 1973:
            return self
        return dataclasses.replace(self, dtstart=_add_years(self.dtstart, -years))

    def _period(self) -> timedelta:
        """About one period of the rule (INTERVAL x FREQ), as a first window to search back."""
        name = FREQUENCIES[self.freq]
        seconds = _SECONDS_PER.get(name) or {"DAILY": 86_400, "WEEKLY": 7 * 86_400}.get(
            name, 31 * 86_400 if name == "MONTHLY" else 366 * 86_400
        )
        return timedelta(seconds=seconds * self.interval)

    def _occurrences(self, start: datetime, limit: datetime) -> Iterator[datetime]:
        """The wall-clock occurrences from `start` up to `limit`, in order.

        dateutil checks UNTIL only against occurrences it finds, so a rule
        that finds none walks on to year 9999. The Gregorian calendar repeats
        every 400 years (weekdays, leap years and ISO weeks alike), so the
        walk runs on dates moved forward by whole 400-year cycles, as close
        to 9999 as the limit allows: a rule that never fires then costs at
        most 400 years of walking, not 8000.
        """
        until = limit if self.until is None else min(limit, self.until)
        if until < start:
            return
        years = _CYCLE_YEARS * ((9999 - limit.year) // _CYCLE_YEARS)
        try:
            moved_until = _add_years(until, years)
            if self.count is not None:
                # COUNT counts from DTSTART, so walk from there.
                rule = self._rule(_add_years(self.dtstart, years), moved_until)
                for index, occurrence in enumerate(rule):
                    if index >= self.count:
                        return
                    if occurrence >= _add_years(start, years):
                        yield _add_years(occurrence, -years)
                return
            rule = self._rule(_add_years(self._dtstart_near(start), years), moved_until)
            for occurrence in rule.xafter(_add_years(start, years), inc=True):
                yield _add_years(occurrence, -years)
        except (OverflowError, ValueError):
            return  # a DTSTART after the limit, or a period past year 9999

    def _rule(self, dtstart: datetime, until: datetime | None) -> du.rrule:
        return du.rrule(
            self.freq,  # type: ignore[arg-type]  # one of dateutil's 0..6, checked when read
            dtstart=dtstart,
            interval=self.interval,
            wkst=self.wkst,
            until=until,
            cache=False,
            **self.by,  # type: ignore[arg-type]
        )

    def _dtstart_near(self, start: datetime) -> datetime:
        """A DTSTART close before `start` that yields the same occurrences from `start` on.

        dateutil walks period by period from DTSTART; starting decades early
        would make a SECONDLY rule walk billions of periods. The defaults that
        RFC 5545 takes from DTSTART are already explicit (_fill_defaults), so
        only the phase of INTERVAL matters, and it is kept.
        """
        anchor = self.dtstart
        if start <= anchor:
            return anchor
        name = FREQUENCIES[self.freq]
        if name in _SECONDS_PER:
            # Sub-daily: shift by whole periods, keeping DTSTART's position in
            # its hour/minute (dateutil derives reachable BY values from it).
            period = self.interval * _SECONDS_PER[name]
            elapsed = start - anchor
            whole = (elapsed.days * 86_400 + elapsed.seconds) // period
            return anchor + timedelta(seconds=whole * period)
        index = self._period_index(start)
        if index % self.interval == 0:
            # From the start of the period, not mid-way: BYSETPOS counts the
            # whole period's set (the 1st Monday-or-Saturday of a week is
            # its Monday even when asked on its Saturday).
            return max(anchor, self._period_start(index))
        return self._period_start(index + self.interval - index % self.interval)

    def _period_index(self, moment: datetime) -> int:
        anchor = self.dtstart
        name = FREQUENCIES[self.freq]
        if name == "DAILY":
            return (moment.date() - anchor.date()).days
        if name == "WEEKLY":
            return (self._week_start(moment.date()) - self._week_start(anchor.date())).days // 7
        if name == "MONTHLY":
            return (moment.year - anchor.year) * 12 + moment.month - anchor.month
        return moment.year - anchor.year

    def _period_start(self, index: int) -> datetime:
        anchor = self.dtstart
        name = FREQUENCIES[self.freq]
        if name == "DAILY":
            day = anchor.date() + timedelta(days=index)
        elif name == "WEEKLY":
            day = self._week_start(anchor.date()) + timedelta(days=7 * index)
        elif name == "MONTHLY":
            months = anchor.month - 1 + index
            day = date(anchor.year + months // 12, months % 12 + 1, 1)
        else:
            day = date(anchor.year + index, 1, 1)
        return datetime.combine(day, time())

    def _week_start(self, day: date) -> date:
        return day - timedelta(days=(day.weekday() - self.wkst) % 7)


def _weekdays(days: object) -> tuple[du.weekday, ...] | None:
    if days is None:
        return None
    assert isinstance(days, tuple)
    return tuple(du.weekday(day, nth or None) for day, nth in days)


def _fill_defaults(by: dict[str, object], freq: int, start: datetime) -> None:
    # The defaults RFC 5545 (and dateutil) take from DTSTART, made explicit so
    # that evaluation may start from a later DTSTART (_dtstart_near).
    if all(by[key] is None for key in ("byweekno", "byyearday", "bymonthday", "byweekday")):
        if freq == du.YEARLY:
            by["bymonth"] = by["bymonth"] or (start.month,)
            by["bymonthday"] = (start.day,)
        elif freq == du.MONTHLY:
            by["bymonthday"] = (start.day,)
        elif freq == du.WEEKLY:
            by["byweekday"] = (du.weekday(start.weekday()),)
    if by["byhour"] is None and freq < du.HOURLY:
        by["byhour"] = (start.hour,)
    if by["byminute"] is None and freq < du.MINUTELY:
        by["byminute"] = (start.minute,)
    if by["bysecond"] is None and freq < du.SECONDLY:
        by["bysecond"] = (start.second,)


def _until_wall(until: object, where: tzinfo) -> datetime | None:
    if until is None:
        return None
    assert isinstance(until, tuple)
    moment, date_only, utc = until
    assert isinstance(moment, datetime)
    if utc:
        return moment.replace(tzinfo=UTC).astimezone(where).replace(tzinfo=None)
    if date_only:
        return moment.replace(hour=23, minute=59, second=59)  # the whole last day counts
    return moment


def _add_years(moment: datetime, years: int) -> datetime:
    # Whole 400-year cycles only: February 29th stays a leap day.
    return moment.replace(year=moment.year + years)


def _search_limit(wall: datetime) -> datetime:
    year = wall.year + SEARCH_YEARS
    if year > 9999:
        return datetime(9999, 12, 31, 23, 59, 59)
    return wall.replace(year=year, day=min(wall.day, 28) if wall.month == 2 else wall.day)


def _search_limit_back(wall: datetime) -> datetime:
    year = wall.year - SEARCH_YEARS
    if year < 1:
        return datetime(1, 1, 1)
    return wall.replace(year=year, day=min(wall.day, 28) if wall.month == 2 else wall.day)


def _last_wall_before(before: datetime, where: tzinfo) -> datetime:
    """The latest wall time whose fire can come before the instant `before`.

    Later wall times fire later, except on the second pass of a repeated
    hour: there, the rest of the hour fired on its first pass, before
    `before`. So the walk may stop at `before`'s own wall time, or at the end
    of the repeated hour it lies in. (A gap's moved fires come after the gap,
    so they are after `before` too.)
    """
    wall = before.astimezone(where).replace(tzinfo=None)
    first = wall.replace(tzinfo=where, fold=0).utcoffset() or timedelta()
    second = wall.replace(tzinfo=where, fold=1).utcoffset() or timedelta()
    return wall + (first - second) if first > second else wall


def _skipped(wall: datetime, where: tzinfo) -> bool:
    """Is this wall time skipped by a spring-forward gap?"""
    early = wall.replace(tzinfo=where, fold=0).utcoffset() or timedelta()
    late = wall.replace(tzinfo=where, fold=1).utcoffset() or timedelta()
    return early < late


def _gap_lookback(after: datetime, where: tzinfo) -> timedelta:
    # A wall time skipped by a spring-forward jump fires just after the gap,
    # up to a minute late, so just after a jump the search must start from
    # before the gap on the wall clock.
    window = timedelta(minutes=2)
    now = after.astimezone(where).utcoffset() or timedelta()
    before = (after - window).astimezone(where).utcoffset() or timedelta()
    return now - before + window if now > before else timedelta()


def _instant(wall: datetime, where: tzinfo) -> datetime:
    """The UTC instant a wall-clock occurrence fires at (Debian cron's wall-clock rule)."""
    first = wall.replace(tzinfo=where, fold=0)
    second = wall.replace(tzinfo=where, fold=1)
    early = first.utcoffset() or timedelta()
    late = second.utcoffset() or timedelta()
    if early >= late:
        # An ordinary time, or one repeated by a fall-back: fold=0 is the first occurrence.
        return first.astimezone(UTC)
    # Skipped by a spring-forward jump: find the jump, then fire at this
    # occurrence's second of the first whole minute after it.
    before = (wall - late).replace(tzinfo=UTC)  # this wall time read with the later offset
    low_offset = before.astimezone(where).utcoffset()
    low, high = 0, int((late - early).total_seconds())
    while high - low > 1:  # whole seconds: the first second after the jump
        middle = (low + high) // 2
        if (before + timedelta(seconds=middle)).astimezone(where).utcoffset() == low_offset:
            low = middle
        else:
            high = middle
    gap_end = (before + timedelta(seconds=high)).astimezone(where).replace(tzinfo=None)
    minute = gap_end.replace(second=0, microsecond=0)
    if minute < gap_end:
        minute += timedelta(minutes=1)
    return minute.replace(second=wall.second, tzinfo=where).astimezone(UTC)
