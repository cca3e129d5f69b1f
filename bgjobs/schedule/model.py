"""Schedule and Interval: immutable, hashable, validated on construction."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import next_fire, render
from bgjobs.schedule.fields import (
    BOUNDS,
    FIELDS,
    MAX_DAYS_IN_MONTH,
    DayRule,
    allowed,
    check_value,
    step_values,
)
from bgjobs.schedule.month_days import (
    RELATIVE_DAY_TYPES,
    NthWeekday,
    RelativeDay,
    matching_days,
)

#: A field's value: None means EVERY (unrestricted), else the set of matching values.
FieldValues = frozenset[int] | None

EVERY: Final = None


@functools.cache
def _zone_names_by_lower() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


#: What an IANA zone name looks like: up to four parts of letters, digits and `_+-`
#: (America/Argentina/Buenos_Aires, Etc/GMT+5). The longest real one has 32 characters.
_ZONE_SHAPE: Final = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+){0,3}")
_MAX_ZONE_LENGTH: Final = 64
_QUOTE_LIMIT: Final = 40


def canonical_zone_name(name: str) -> str:
    """Return the IANA spelling of a zone name matched case-insensitively, or raise.

    Only ScheduleValidationError ever leaves: a name that cannot be a zone
    (too long, too deep, odd characters) is refused before zoneinfo looks it
    up, since zoneinfo's own lookup can fail in other ways (a 400-part name
    exhausts its recursion).
    """
    if not isinstance(name, str) or not name.strip():
        raise ScheduleValidationError(
            f"time zone must be an IANA zone name such as 'Europe/Stockholm' (got {name!r})",
            field="timezone",
            value=name,
            allowed="an IANA time zone name",
        )
    if name.lower() == "utc":
        return "UTC"
    found = _zone_names_by_lower().get(name.lower())
    if found is not None:
        return found
    if len(name) <= _MAX_ZONE_LENGTH and _ZONE_SHAPE.fullmatch(name):
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, RecursionError):
            pass
        else:
            return name
    shown = name if len(name) <= _QUOTE_LIMIT else name[: _QUOTE_LIMIT - 3] + "..."
    raise ScheduleValidationError(
        f"unknown time zone {shown!r}: use an IANA zone name such as 'Europe/Stockholm'",
        field="timezone",
        value=name,
        allowed="an IANA time zone name",
    )


@functools.cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The ZoneInfo for a canonical zone name (cached: ZoneInfo reads a file)."""
    return zoneinfo.ZoneInfo(name)


def _freeze(name: str, values: Iterable[int] | None, *, picked: bool = False) -> FieldValues:
    # `picked`: the field also has relative days (`L`, `2nd monday`), which
    # restrict it on their own: EVERY becomes "no plain values".
    if values is None:
        return frozenset() if picked else None
    if isinstance(values, (str, bytes)):
        raise ScheduleValidationError(
            f"{name} must be EVERY (None) or a set of whole numbers in {allowed(name)} "
            f"(got {values!r})",
            field=name,
            value=values,
            allowed=allowed(name),
        )
    frozen = frozenset(check_value(name, v) for v in values)
    if not frozen and not picked:
        raise ScheduleValidationError(
            f"{name} must hold at least one value in {allowed(name)} (got an empty set)",
            field=name,
            value=values,
            allowed=allowed(name),
        )
    return frozen


@dataclass(frozen=True, slots=True)
class Schedule:
    """A calendar schedule: six fields, a day rule and a time zone.

    Each field is EVERY (None) or a frozenset of values within its bounds.
    `relative_days` adds days picked relative to the month to the day of the
    month (`L`, `LW`, `15W`), `nth_weekdays` to the day of the week (`5#2`,
    `5L`); either one restricts its field, whose plain values may then be
    empty (see bgjobs/schedule/month_days.py).
    `minute_step` / `hour_step` remember a leading-star step (`*/15`, or
    `*/15,7`: the field then holds the step's values and more), which decides
    the daylight-saving rule (see docs/schedule-language.md).
    """

    second: FieldValues = frozenset({0})
    minute: FieldValues = None
    hour: FieldValues = None
    day_of_month: FieldValues = None
    month: FieldValues = None
    day_of_week: FieldValues = None
    minute_step: int | None = None
    hour_step: int | None = None
    day_rule: DayRule = DayRule.AND
    timezone: str = "UTC"
    relative_days: frozenset[RelativeDay] = frozenset()
    nth_weekdays: frozenset[NthWeekday] = frozenset()
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        relative = _freeze_items("relative_days", self.relative_days, RELATIVE_DAY_TYPES)
        nth = _freeze_items("nth_weekdays", self.nth_weekdays, (NthWeekday,))
        object.__setattr__(self, "relative_days", relative)
        object.__setattr__(self, "nth_weekdays", nth)
        picked = {"day_of_month": bool(relative), "day_of_week": bool(nth)}
        for name in FIELDS:
            values = _freeze(name, getattr(self, name), picked=picked.get(name, False))
            object.__setattr__(self, name, values)
        self._check_steps()
        if not isinstance(self.day_rule, DayRule):
            raise ScheduleValidationError(
                f"day_rule must be DayRule.AND or DayRule.OR (got {self.day_rule!r})",
                field="day_rule",
                value=self.day_rule,
                allowed="DayRule.AND, DayRule.OR",
            )
        if self.day_rule is DayRule.OR and (self.day_of_month is None or self.day_of_week is None):
            raise ScheduleValidationError(
                "the OR day rule needs both day_of_month and day_of_week restricted",
                field="day_rule",
                value=self.day_rule.value,
                allowed="OR only with both day fields restricted",
            )
        name = canonical_zone_name(self.timezone)
        object.__setattr__(self, "timezone", name)
        object.__setattr__(self, "_zone", zone(name))
        self._check_can_fire()

    def _check_steps(self) -> None:
        # A field that starts with `*/N` may list more values (`*/15,7`, as in
        # Debian cron): the step's values must all be there. The step kept is
        # the smallest one whose values are all there, so that `*/30,15,45`
        # and `*/15` (the same values, both starting with a star) are equal.
        for name, step in (("minute", self.minute_step), ("hour", self.hour_step)):
            if step is None:
                continue
            values = getattr(self, name)
            expected = step_values(name, step)
            if values is None or not expected <= values:
                raise ScheduleValidationError(
                    f"{name}_step {step} does not match the {name} values "
                    f"(*/{step} means {sorted(expected)}, all of which must be among them)",
                    field=name,
                    value=step,
                    allowed=f"1..{BOUNDS[name][1] - BOUNDS[name][0] + 1}",
                )
            smallest = next(s for s in range(1, step + 1) if step_values(name, s) <= values)
            object.__setattr__(self, f"{name}_step", smallest)

    def _check_can_fire(self) -> None:
        # With the OR rule any weekday matches, and with day_of_month EVERY the
        # 1st of every month exists. Otherwise some chosen day must exist in
        # some chosen month (Feb 29 counts: it recurs every 4 years, and with
        # a weekday restriction within 28, inside the 50-year search bound).
        if self.relative_days or self.nth_weekdays:
            self._check_picked_days_can_fire()
            return
        if self.day_rule is DayRule.OR or self.day_of_month is None:
            return
        months = self.month if self.month is not None else range(1, 13)
        longest = max(MAX_DAYS_IN_MONTH[m - 1] for m in months)
        if min(self.day_of_month) > longest:
            raise ScheduleValidationError(
                f"this schedule can never fire: no chosen month has day {min(self.day_of_month)}",
                field="day_of_month",
                value=sorted(self.day_of_month),
                allowed=f"1..{longest} in the chosen months",
            )

    def _check_picked_days_can_fire(self) -> None:
        # Relative days depend on a month's length and first weekday only:
        # try every shape each chosen month can have (every one recurs within
        # 28 years, inside the 50-year search bound).
        months = self.month if self.month is not None else range(1, 13)
        for month in months:
            lengths = (28, 29) if month == 2 else (MAX_DAYS_IN_MONTH[month - 1],)
            for length in lengths:
                for first_weekday in range(7):
                    if matching_days(
                        first_weekday,
                        length,
                        self.day_of_month,
                        self.relative_days,
                        self.day_of_week,
                        self.nth_weekdays,
                        self.day_rule is DayRule.OR,
                    ):
                        return
        raise ScheduleValidationError(
            "this schedule can never fire: no day of the chosen months matches both "
            "its day of the month and its weekday",
            field="day_of_month",
            value=sorted(self.day_of_month or ()),
            allowed="days that some chosen month has",
        )

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        """The schedule's time zone."""
        return self._zone

    def next_after(self, t: datetime) -> datetime | None:
        """The earliest fire instant strictly after the aware datetime `t`, in the schedule's zone.

        Returns None when nothing fires within 50 years or before year 10000.
        """
        return next_fire.next_after(self, t)

    def iter_after(self, t: datetime) -> Iterator[datetime]:
        """Yield the fire instants strictly after `t`, in order."""
        return next_fire.iter_after(self, t)

    def prev_before(self, t: datetime) -> datetime | None:
        """The last fire instant strictly before the aware datetime `t`, in the schedule's zone.

        The mirror of next_after, with the same daylight-saving rules: a fire
        returned by one is found by the other. Returns None when nothing fired
        within 50 years before `t` or after year 1.
        """
        return next_fire.prev_before(self, t)

    def iter_before(self, t: datetime) -> Iterator[datetime]:
        """Yield the fire instants strictly before `t`, newest first."""
        return next_fire.iter_before(self, t)

    def __str__(self) -> str:
        return render.schedule_text(self)


def _freeze_items(name: str, items: object, kinds: tuple[type, ...]) -> frozenset[Any]:
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise ScheduleValidationError(
            f"{name} must be a set of {', '.join(k.__name__ for k in kinds)} (got {items!r})",
            field=name,
            value=items,
            allowed=", ".join(k.__name__ for k in kinds),
        )
    frozen = frozenset(items)
    for item in frozen:
        if not isinstance(item, kinds):
            raise ScheduleValidationError(
                f"{name} must hold only {', '.join(k.__name__ for k in kinds)} (got {item!r})",
                field=name,
                value=item,
                allowed=", ".join(k.__name__ for k in kinds),
            )
    return frozen


#: Interval bounds, in milliseconds. A "year" is 365.25 days.
MIN_INTERVAL_MS: Final = 1
MAX_INTERVAL_MS: Final = 36525 * 86_400_000


@dataclass(frozen=True, slots=True)
class Interval:
    """A fixed period of real elapsed time, in whole milliseconds (1 ms .. 100 years)."""

    ms: int

    def __post_init__(self) -> None:
        if isinstance(self.ms, bool) or not isinstance(self.ms, int):
            raise ScheduleValidationError(
                f"interval must be a whole number of milliseconds (got {self.ms!r})",
                field="interval",
                value=self.ms,
                allowed=f"{MIN_INTERVAL_MS}..{MAX_INTERVAL_MS} ms",
            )
        if not MIN_INTERVAL_MS <= self.ms <= MAX_INTERVAL_MS:
            raise ScheduleValidationError(
                f"interval must be from 1 millisecond to 100 years (got {self.ms} ms)",
                field="interval",
                value=self.ms,
                allowed=f"{MIN_INTERVAL_MS}..{MAX_INTERVAL_MS} ms",
            )

    @classmethod
    def milliseconds(cls, n: int) -> Interval:
        return cls(_scaled(n, 1, "milliseconds"))

    @classmethod
    def seconds(cls, n: int) -> Interval:
        return cls(_scaled(n, 1000, "seconds"))

    @classmethod
    def minutes(cls, n: int) -> Interval:
        return cls(_scaled(n, 60_000, "minutes"))

    @classmethod
    def hours(cls, n: int) -> Interval:
        return cls(_scaled(n, 3_600_000, "hours"))

    @classmethod
    def days(cls, n: int) -> Interval:
        return cls(_scaled(n, 86_400_000, "days"))

    @classmethod
    def weeks(cls, n: int) -> Interval:
        return cls(_scaled(n, 604_800_000, "weeks"))

    @property
    def timedelta(self) -> timedelta:
        """The interval as a timedelta."""
        return timedelta(milliseconds=self.ms)

    def next_after(self, t: datetime) -> datetime:
        """`t` plus the interval (real elapsed time); `t` must be aware."""
        next_fire.require_aware(t)
        return t + timedelta(milliseconds=self.ms)

    def prev_before(self, t: datetime) -> datetime:
        """`t` minus the interval: the mirror of next_after (an Interval has no fixed slots)."""
        next_fire.require_aware(t)
        return t - timedelta(milliseconds=self.ms)

    def iter_before(self, t: datetime) -> Iterator[datetime]:
        """Yield t - k * interval for k = 1, 2, ..., newest first."""
        next_fire.require_aware(t)
        step = timedelta(milliseconds=self.ms)
        current = t
        while True:
            try:
                current = current - step
            except OverflowError:
                return
            yield current

    def iter_after(self, t: datetime) -> Iterator[datetime]:
        """Yield t + k * interval for k = 1, 2, ..."""
        next_fire.require_aware(t)
        step = timedelta(milliseconds=self.ms)
        current = t
        while True:
            try:
                current = current + step
            except OverflowError:
                return
            yield current

    def __str__(self) -> str:
        return render.interval_text(self)


def _scaled(n: int, factor: int, unit: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ScheduleValidationError(
            f"interval {unit} must be a whole number >= 1 (got {n!r})",
            field="interval",
            value=n,
            allowed=f"1..{MAX_INTERVAL_MS // factor} {unit}",
        )
    return n * factor


# The seed's spellings.
def new_interval_milliseconds(n: int) -> Interval:
    return Interval.milliseconds(n)


def new_interval_seconds(n: int) -> Interval:
    return Interval.seconds(n)


def new_interval_minutes(n: int) -> Interval:
    return Interval.minutes(n)


def new_interval_hours(n: int) -> Interval:
    return Interval.hours(n)


def new_interval_days(n: int) -> Interval:
    return Interval.days(n)


def new_interval_weeks(n: int) -> Interval:
    return Interval.weeks(n)
