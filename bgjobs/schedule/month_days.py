"""Days picked relative to the month: the last day, nearest weekdays, the nth weekday.

These are cron's Quartz extensions (`L`, `L-N`, `LW`, `NW` in the day of the
month; `D#N`, `DL` in the day of the week) and their words in the calendar
language. Each picks at most one day in a month, and which one depends only
on the month's length and the weekday it starts on, so the search can cache
a month's matching days by that shape as it does for plain values.

A picked day simply joins its field's plain values: `day 1,last` is the 1st
and the last day; `on monday,last friday` is every Monday and the last
Friday. The day rule then combines the two day fields as before (both must
match, or either with cron's OR rule): `0 0 L * 5` is the last day of the
month or any Friday, as cronsim reads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.fields import WEEKDAY_NAMES

#: The largest N of `L-N` / `N before last`: the 1st of a 31-day month.
MAX_DAYS_BEFORE_LAST: Final = 30
#: A weekday occurs at most 5 times in a month.
MAX_NTH: Final = 5


def _whole(value: object, low: int, high: int, what: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ScheduleValidationError(
            f"{what} must be a whole number in {low}..{high} (got {value!r})",
            field=field,
            value=value,
            allowed=f"{low}..{high}",
        )
    return value


def _nearest_weekday(day: int, first_weekday: int, length: int) -> int:
    # Quartz's `W`: a Saturday moves to the Friday before, a Sunday to the
    # Monday after, but never out of the month (Saturday the 1st moves to
    # Monday the 3rd, a Sunday that ends the month to the Friday before it).
    weekday = (first_weekday + day - 1) % 7  # 0 = Monday
    if weekday == 5:
        return day - 1 if day > 1 else day + 2
    if weekday == 6:
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True, slots=True, order=True)
class LastDay:
    """`L` (before = 0) or `L-N`: the month's last day, or the day N days before it."""

    before: int = 0

    def __post_init__(self) -> None:
        _whole(self.before, 0, MAX_DAYS_BEFORE_LAST, "days before the last", "day_of_month")

    def day_in(self, first_weekday: int, length: int) -> int | None:
        """The day it picks in a month of `length` days starting on `first_weekday` (0 = Monday)."""
        day = length - self.before
        return day if day >= 1 else None


@dataclass(frozen=True, slots=True, order=True)
class LastWeekday:
    """`LW`: the month's last weekday (Monday to Friday)."""

    def day_in(self, first_weekday: int, length: int) -> int | None:
        return _nearest_weekday(length, first_weekday, length)


@dataclass(frozen=True, slots=True, order=True)
class NearestWeekday:
    """`NW`: the weekday (Monday to Friday) nearest day N, within the month.

    A month without day N (the 31st of April) picks nothing, as day N itself would not.
    """

    day: int

    def __post_init__(self) -> None:
        _whole(self.day, 1, 31, "the day of a nearest weekday", "day_of_month")

    def day_in(self, first_weekday: int, length: int) -> int | None:
        if self.day > length:
            return None
        return _nearest_weekday(self.day, first_weekday, length)


@dataclass(frozen=True, slots=True, order=True)
class NthWeekday:
    """`D#N` (nth 1..5) or `DL` (nth = -1): the nth or last given weekday of the month (ISO)."""

    weekday: int
    nth: int

    def __post_init__(self) -> None:
        _whole(self.weekday, 1, 7, "the weekday (ISO, 1 = Monday)", "day_of_week")
        if self.nth != -1:
            _whole(self.nth, 1, MAX_NTH, "the nth weekday (or -1 for the last)", "day_of_week")

    def day_in(self, first_weekday: int, length: int) -> int | None:
        first = 1 + (self.weekday - 1 - first_weekday) % 7
        if self.nth == -1:
            return first + 7 * ((length - first) // 7)
        day = first + 7 * (self.nth - 1)
        return day if day <= length else None


#: What the day of the month may hold besides plain day numbers.
RelativeDay = LastDay | LastWeekday | NearestWeekday
RELATIVE_DAY_TYPES: Final = (LastDay, LastWeekday, NearestWeekday)


def picked_days(
    items: Iterable[RelativeDay | NthWeekday], first_weekday: int, length: int
) -> set[int]:
    """The days a month's shape gets from these items."""
    days = (item.day_in(first_weekday, length) for item in items)
    return {day for day in days if day is not None}


def matching_days(
    first_weekday: int,
    length: int,
    day_of_month: frozenset[int] | None,
    relative_days: frozenset[RelativeDay],
    day_of_week: frozenset[int] | None,
    nth_weekdays: frozenset[NthWeekday],
    either: bool,
) -> tuple[int, ...]:
    """The matching days of a month of `length` days starting on `first_weekday` (0 = Monday)."""
    extra_month_days = picked_days(relative_days, first_weekday, length)
    extra_weekdays = picked_days(nth_weekdays, first_weekday, length)
    matching = []
    for day in range(1, length + 1):
        dom_ok = day_of_month is None or day in day_of_month or day in extra_month_days
        dow_ok = (
            day_of_week is None
            or (first_weekday + day - 1) % 7 + 1 in day_of_week
            or day in extra_weekdays
        )
        if (dom_ok or dow_ok) if either else (dom_ok and dow_ok):
            matching.append(day)
    return tuple(matching)


def weekday_number(weekday: int | str) -> int:
    """An ISO weekday from 1..7 or a name (full or three letters, any case)."""
    if isinstance(weekday, str):
        written = weekday.strip().lower()
        for index, name in enumerate(WEEKDAY_NAMES):
            if written in (name, name[:3]):
                return index + 1
        raise ScheduleValidationError(
            f"unknown weekday {weekday!r}: expected a name such as 'friday' or 'fri', or 1..7",
            field="day_of_week",
            value=weekday,
            allowed="monday..sunday, mon..sun or 1..7",
        )
    return _whole(weekday, 1, 7, "the weekday (ISO, 1 = Monday)", "day_of_week")
