"""The six schedule fields, their inclusive bounds and their names: stated once."""

from __future__ import annotations

import enum
from typing import Final

from bgjobs.errors import ScheduleValidationError


class DayRule(enum.Enum):
    """How day_of_month and day_of_week combine when both are restricted."""

    AND = "and"  # calendar language and builder: both must match
    OR = "or"  # cron input with neither day field starting with `*` (Debian cron)


#: Field names in schedule order, smallest unit first.
FIELDS: Final = ("second", "minute", "hour", "day_of_month", "month", "day_of_week")

#: Inclusive bounds of every field (day_of_week is ISO: 1 = Monday, 7 = Sunday).
BOUNDS: Final[dict[str, tuple[int, int]]] = {
    "second": (0, 59),
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month": (1, 12),
    "day_of_week": (1, 7),
}

WEEKDAY_NAMES: Final = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
MONTH_NAMES: Final = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)

#: Longest possible length of each month (February counts its leap day).
MAX_DAYS_IN_MONTH: Final = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def allowed(field: str) -> str:
    """The allowed range of a field, as error messages print it."""
    low, high = BOUNDS[field]
    return f"{low}..{high}"


def check_value(field: str, value: int) -> int:
    """Return `value` if it lies within the field's bounds, else raise."""
    low, high = BOUNDS[field]
    # bool is an int subclass; True as a minute is a bug in the caller.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleValidationError(
            f"{field} must be a whole number in {low}..{high} (got {value!r})",
            field=field,
            value=value,
            allowed=allowed(field),
        )
    if not low <= value <= high:
        raise ScheduleValidationError(
            f"{field} must be in {low}..{high} (got {value})",
            field=field,
            value=value,
            allowed=allowed(field),
        )
    return value


def check_range(field: str, start: int, end: int) -> range:
    """Return the inclusive range start..end of a field, refusing inverted or out-of-bounds ends."""
    check_value(field, start)
    check_value(field, end)
    if start > end:
        low, high = BOUNDS[field]
        raise ScheduleValidationError(
            f"{field} range {start}-{end} is inverted: the start must not exceed the end "
            f"(both in {low}..{high})",
            field=field,
            value=f"{start}-{end}",
            allowed=allowed(field),
        )
    return range(start, end + 1)


def check_step(field: str, step: int) -> int:
    """Return a step that is a positive whole number, else raise."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        low, high = BOUNDS[field]
        raise ScheduleValidationError(
            f"{field} step must be a whole number >= 1 (got {step!r})",
            field=field,
            value=step,
            allowed=f"1..{high - low + 1}",
        )
    return step


def step_values(name: str, step: int) -> frozenset[int]:
    """The values of `*/step` on a field: every step-th value from the field's start."""
    low, high = BOUNDS[name]
    return frozenset(range(low, high + 1, check_step(name, step)))
