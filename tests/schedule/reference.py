"""A brute-force reference for next_after, written as plainly as possible.

It knows nothing of bgjobs.schedule.next_fire: it walks minute by minute,
reads the wall clock through zoneinfo, and applies the daylight-saving rule
of SPEC 2.4 literally:

- wall clock (minute and hour both fixed): every matching wall time fires
  once, at its first occurrence; one that does not exist fires a minute
  later, and again, until the wall time exists;
- elapsed time (anything else): an instant fires when the wall clock it
  reads matches.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bgjobs.schedule.fields import DayRule
from bgjobs.schedule.model import Schedule
from bgjobs.schedule.month_days import LastDay, LastWeekday, NearestWeekday, NthWeekday

MINUTE = timedelta(minutes=1)


def utc(t: datetime) -> datetime:
    # Aware datetimes in a repeated hour never compare equal across zones
    # (PEP 495), and within one zone datetime compares wall clocks: so
    # instants are always compared in UTC.
    return t.astimezone(UTC)


def is_fixed(s: Schedule) -> bool:
    return (
        s.minute is not None
        and s.hour is not None
        and s.minute_step is None
        and s.hour_step is None
    )


def minute_matches(s: Schedule, wall: datetime) -> bool:
    """Does the wall-clock minute match every field but the second?"""

    def ok(values: frozenset[int] | None, value: int) -> bool:
        return values is None or value in values

    dom = ok(s.day_of_month, wall.day) or any(picks(item, wall) for item in s.relative_days)
    dow = ok(s.day_of_week, wall.isoweekday()) or any(picks(item, wall) for item in s.nth_weekdays)
    day = (dom or dow) if s.day_rule is DayRule.OR else (dom and dow)
    return day and ok(s.month, wall.month) and ok(s.hour, wall.hour) and ok(s.minute, wall.minute)


def picks(item: object, wall: datetime) -> bool:
    """Does a relative day (`L`, `L-N`, `LW`, `NW`, `D#N`, `DL`) pick the wall time's day?

    Written the way Quartz documents them, one day at a time.
    """
    last = calendar.monthrange(wall.year, wall.month)[1]
    if isinstance(item, LastDay):
        return wall.day == last - item.before
    if isinstance(item, LastWeekday):
        weekdays = [
            d for d in range(last, last - 7, -1) if date(wall.year, wall.month, d).weekday() < 5
        ]
        return wall.day == weekdays[0]
    if isinstance(item, NearestWeekday):
        if item.day > last:
            return False
        target = date(wall.year, wall.month, item.day)
        if target.weekday() == 5:  # Saturday: the Friday before, or Monday the 3rd
            return wall.day == (item.day - 1 if item.day > 1 else 3)
        if target.weekday() == 6:  # Sunday: the Monday after, or the Friday before the end
            return wall.day == (item.day + 1 if item.day < last else item.day - 2)
        return wall.day == item.day
    assert isinstance(item, NthWeekday)
    if wall.isoweekday() != item.weekday:
        return False
    if item.nth == -1:
        return wall.day + 7 > last
    return (wall.day - 1) // 7 + 1 == item.nth


def seconds_of(s: Schedule) -> list[int]:
    return sorted(s.second) if s.second is not None else list(range(60))


def exists(zone: ZoneInfo, wall: datetime) -> bool:
    """A wall time exists if it survives a round trip through UTC."""
    back = wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone)
    return back.replace(tzinfo=None) == wall


def reference_elapsed(s: Schedule, t: datetime, window: timedelta) -> datetime | None:
    """Real elapsed time: walk UTC minutes, read each one's wall clock."""
    t = t.astimezone(UTC)
    end = t + window
    m = t.astimezone(UTC).replace(second=0, microsecond=0)
    while m <= end:
        if minute_matches(s, m.astimezone(s.zone)):
            for second in seconds_of(s):
                candidate = m + timedelta(seconds=second)
                if t < candidate <= end:
                    return candidate
        m += MINUTE
    return None


def reference_wall_clock(s: Schedule, t: datetime, window: timedelta) -> datetime | None:
    """Wall clock: every matching wall time fires once, at its first occurrence;
    a skipped one one minute later, and again, until the wall time exists."""
    zone = s.zone
    t = t.astimezone(UTC)
    end = t + window
    # Start early: a wall time in a gap before t may have moved past t.
    wall = t.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) - timedelta(hours=3)
    stop = wall + window + timedelta(hours=6)
    best: datetime | None = None
    while wall <= stop:
        if minute_matches(s, wall):
            for second in seconds_of(s):
                fire = wall + timedelta(seconds=second)
                while not exists(zone, fire):
                    fire += MINUTE
                instant = fire.replace(tzinfo=zone, fold=0).astimezone(UTC)
                if t < instant <= end and (best is None or instant < best):
                    best = instant
        wall += MINUTE
    return best


def reference_next(s: Schedule, t: datetime, window: timedelta) -> datetime | None:
    if is_fixed(s):
        return reference_wall_clock(s, t, window)
    return reference_elapsed(s, t, window)


# -- the previous fire, scanned the same plain way backwards -------------------


def reference_prev_elapsed(s: Schedule, t: datetime, window: timedelta) -> datetime | None:
    """Real elapsed time: walk UTC minutes back from t, read each one's wall clock."""
    t = t.astimezone(UTC)
    start = t - window
    m = t.replace(second=0, microsecond=0)
    while m >= start - MINUTE:
        if minute_matches(s, m.astimezone(s.zone)):
            for second in reversed(seconds_of(s)):
                candidate = m + timedelta(seconds=second)
                if start <= candidate < t:
                    return candidate
        m -= MINUTE
    return None


def reference_prev_wall_clock(s: Schedule, t: datetime, window: timedelta) -> datetime | None:
    """Wall clock: the latest of all fires (computed as in reference_wall_clock) before t."""
    zone = s.zone
    t = t.astimezone(UTC)
    start = t - window
    # End late: a wall time after t's in a repeated hour fired on its first pass.
    wall = t.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0) + timedelta(hours=3)
    stop = wall - window - timedelta(hours=6)
    best: datetime | None = None
    while wall >= stop:
        if minute_matches(s, wall):
            for second in seconds_of(s):
                fire = wall + timedelta(seconds=second)
                while not exists(zone, fire):
                    fire += MINUTE
                instant = fire.replace(tzinfo=zone, fold=0).astimezone(UTC)
                if start <= instant < t and (best is None or instant > best):
                    best = instant
        wall -= MINUTE
    return best


def reference_prev(s: Schedule, t: datetime, window: timedelta) -> datetime | None:
    if is_fixed(s):
        return reference_prev_wall_clock(s, t, window)
    return reference_prev_elapsed(s, t, window)
