"""Schedules back to text: the canonical calendar language, and plain English.

`schedule_text` prints the one canonical form of a Schedule, which `parse`
reads back to an equal value: `second …` (or `every second`), then minute,
hour, day, month, on and `in ZONE` (left out for UTC); EVERY fields left
out; values ascending with runs of three or more written `A-B`; a kept
`*/N` written as such (then the values it does not cover: `*/15,7`);
weekdays by name, months by number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from bgjobs.schedule.fields import MONTH_NAMES, WEEKDAY_NAMES, DayRule, step_values
from bgjobs.schedule.month_days import (
    LastDay,
    LastWeekday,
    NearestWeekday,
    NthWeekday,
    RelativeDay,
)

if TYPE_CHECKING:
    from bgjobs.schedule.model import Interval, Schedule

#: Interval units from the largest down, with their length in milliseconds.
_INTERVAL_UNITS: Final = (
    ("week", 604_800_000),
    ("day", 86_400_000),
    ("hour", 3_600_000),
    ("minute", 60_000),
    ("second", 1000),
    ("millisecond", 1),
)


# ------------------------------------------------------------ canonical text


def schedule_text(s: Schedule) -> str:
    """The canonical calendar-language text of a Schedule."""
    clauses = ["every second" if s.second is None else f"second {_list(s.second)}"]
    if s.minute is not None:
        clauses.append(f"minute {_stepped(s.minute, s.minute_step, 'minute')}")
    if s.hour is not None:
        clauses.append(f"hour {_stepped(s.hour, s.hour_step, 'hour')}")
    if s.day_of_month is not None:
        day = f"day {_day_list(s)}"
        if s.day_rule is DayRule.OR and s.day_of_week is not None:
            day += f" or on {_weekday_list(s)}"
        clauses.append(day)
    if s.month is not None:
        clauses.append(f"month {_list(s.month)}")
    if s.day_of_week is not None and s.day_rule is DayRule.AND:
        clauses.append(f"on {_weekday_list(s)}")
    if s.timezone != "UTC":
        clauses.append(f"in {s.timezone}")
    return " ".join(clauses)


def interval_text(i: Interval) -> str:
    """`every N UNIT` in the largest whole unit, singular when N is 1 (`every 90 seconds`)."""
    for unit, length in _INTERVAL_UNITS:
        if i.ms % length == 0:
            n = i.ms // length
            return f"every {n} {unit}" + ("" if n == 1 else "s")
    raise AssertionError("unreachable: every interval is a whole number of milliseconds")


def runs(values: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted distinct values, as (first, last) pairs."""
    found: list[tuple[int, int]] = []
    for value in sorted(set(values)):
        if found and found[-1][1] == value - 1:
            found[-1] = (found[-1][0], value)
        else:
            found.append((value, value))
    return found


def _list(values: frozenset[int], name: object = str) -> str:
    assert callable(name)
    pieces: list[str] = []
    for first, last in runs(values):
        if last - first >= 2:
            pieces.append(f"{name(first)}-{name(last)}")
        else:
            pieces.extend(str(name(v)) for v in range(first, last + 1))
    return ",".join(pieces)


def _stepped(values: frozenset[int], step: int | None, name: str) -> str:
    if step is None:
        return _list(values)
    # `*/15,7`: the step first (it keeps the leading star), then the values it does not cover.
    extra = values - step_values(name, step)
    return f"*/{step}" + (f",{_list(extra)}" if extra else "")


def _weekday_name(day: int) -> str:
    return WEEKDAY_NAMES[day - 1]


def _relative_order(day: RelativeDay) -> tuple[int, int]:
    # As they fall in a month: nearest weekdays by day, then `N before last`
    # from the largest N, `last weekday`, `last`.
    if isinstance(day, NearestWeekday):
        return (0, day.day)
    if isinstance(day, LastDay) and day.before:
        return (1, -day.before)
    return (2, 0) if isinstance(day, LastWeekday) else (3, 0)


def _relative_text(day: RelativeDay) -> str:
    if isinstance(day, NearestWeekday):
        return f"{day.day} nearest weekday"
    if isinstance(day, LastWeekday):
        return "last weekday"
    return f"{day.before} before last" if day.before else "last"


def _day_list(s: Schedule) -> str:
    """Plain days first, then the relative ones: `1,15 nearest weekday,last`."""
    assert s.day_of_month is not None
    pieces = [_list(s.day_of_month)] if s.day_of_month else []
    pieces += [_relative_text(d) for d in sorted(s.relative_days, key=_relative_order)]
    return ",".join(pieces)


def _nth_groups(days: frozenset[NthWeekday]) -> list[tuple[int, list[int]]]:
    """(weekday, its nths ascending with the last at the end), by weekday."""
    by_weekday: dict[int, list[int]] = {}
    for day in days:
        by_weekday.setdefault(day.weekday, []).append(day.nth)
    return [
        (weekday, sorted(nths, key=lambda n: (n == -1, n)))
        for weekday, nths in sorted(by_weekday.items())
    ]


def _ordinal_word(nth: int) -> str:
    return "last" if nth == -1 else ordinal(nth)


def _weekday_list(s: Schedule) -> str:
    """Plain weekdays first, then the nth ones: `monday,1st,3rd tuesday,last friday`."""
    assert s.day_of_week is not None
    pieces = [_list(s.day_of_week, _weekday_name)] if s.day_of_week else []
    for weekday, nths in _nth_groups(s.nth_weekdays):
        pieces.append(",".join(_ordinal_word(n) for n in nths) + f" {_weekday_name(weekday)}")
    return ",".join(pieces)


# ------------------------------------------------------------------ English


def describe(policy: object) -> str:
    """A schedule in plain English, e.g. "at 08:30:00 on Thursdays, March through June".

    Schedules and Intervals are described here; any other policy by its own
    `describe()` method if it has one, else by its text.
    """
    from bgjobs.schedule.model import Interval, Schedule

    if isinstance(policy, Schedule):
        return _schedule_english(policy)
    if isinstance(policy, Interval):
        return interval_text(policy)
    own = getattr(policy, "describe", None)
    if callable(own):
        described = own()
        if isinstance(described, str):
            return described
    return str(policy)


def english_list(words: list[str], conjunction: str = "and") -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def english_values(values: Iterable[int], name: object = str) -> str:
    """Values with runs of three or more as 'A through B': '1 and 10 through 15'."""
    assert callable(name)
    pieces: list[str] = []
    for first, last in runs(values):
        if last - first >= 2:
            pieces.append(f"{name(first)} through {name(last)}")
        else:
            pieces.extend(str(name(v)) for v in range(first, last + 1))
    return english_list(pieces)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st, ..."""
    if 10 <= abs(n) % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(abs(n) % 10, "th")
    return f"{n}{suffix}"


def weekday_title(day: int) -> str:
    """Monday for 1 ... Sunday for 7 (ISO)."""
    return WEEKDAY_NAMES[day - 1].title()


def month_title(month: int) -> str:
    """January for 1 ... December for 12."""
    return MONTH_NAMES[month - 1].title()


def _schedule_english(s: Schedule) -> str:
    time, fixed_time = _time_english(s)
    days = _days_english(s)
    sentence = time
    if days:
        sentence += f" {days}"
    elif fixed_time and s.month is None:
        sentence += " every day"
    if s.month is not None:
        months = english_values(s.month, month_title)
        sentence += f", {months}" if days else f" in {months}"
    if s.timezone != "UTC":
        sentence += f" ({s.timezone} time)"
    return sentence


def _single(values: frozenset[int] | None) -> int | None:
    return next(iter(values)) if values is not None and len(values) == 1 else None


def _time_english(s: Schedule) -> tuple[str, bool]:
    """The time-of-day phrase, and whether it names one fixed time of day."""
    second, minute, hour = _single(s.second), _single(s.minute), _single(s.hour)
    if second is not None and minute is not None and hour is not None:
        return f"at {hour:02d}:{minute:02d}:{second:02d}", True
    if minute is not None and hour is not None:
        clock = f"{hour:02d}:{minute:02d}"
        if s.second is None:
            return f"every second of {clock}", True
        return f"at seconds {english_values(s.second)} of {clock}", True
    phrases = []
    if s.second is None:
        phrases.append("every second")
    elif s.second != frozenset({0}):
        phrases.append(_unit_values("second", s.second))
    phrases.append(_unit_english("minute", s.minute, s.minute_step, s.second is None))
    # "every 15 minutes of every hour" says nothing "every 15 minutes" does not.
    minute_is_set = s.minute is not None and s.minute_step is None
    phrases.append(_unit_english("hour", s.hour, s.hour_step, not minute_is_set))
    words = [p for p in phrases if p]
    text = " of ".join(words)
    return (text if text.startswith("every") else f"at {text}"), False


def _unit_english(unit: str, values: frozenset[int] | None, step: int | None, covered: bool) -> str:
    if values is None:
        # "every second of every minute" says nothing "every second" does not.
        return "" if covered else f"every {unit}"
    if step is not None:
        extra = values - step_values(unit, step)
        listed = f" and {_unit_values(unit, extra)}" if extra else ""
        return f"every {step} {unit}s{listed}"
    return _unit_values(unit, values)


def _unit_values(unit: str, values: frozenset[int]) -> str:
    plural = "s" if len(values) > 1 else ""
    return f"{unit}{plural} {english_values(values)}"


def _days_english(s: Schedule) -> str:
    month_days = None
    if s.day_of_month is not None:
        phrases = ["the " + english_values(s.day_of_month, ordinal)] if s.day_of_month else []
        relative = sorted(s.relative_days, key=_relative_order)
        phrases += [_relative_english(d) for d in relative]
        month_days = english_list(phrases)
    weekdays = None if s.day_of_week is None else _all_weekdays_english(s)
    if month_days and weekdays:
        if s.day_rule is DayRule.OR:
            return f"on {month_days} or on {weekdays}"
        return f"on {month_days} if it is {_all_weekdays_english(s, singular=True)}"
    if month_days:
        return f"on {month_days}"
    if weekdays:
        return f"on {weekdays}"
    return ""


def _relative_english(day: RelativeDay) -> str:
    if isinstance(day, NearestWeekday):
        return f"the weekday nearest the {ordinal(day.day)}"
    if isinstance(day, LastWeekday):
        return "the last weekday of the month"
    if day.before:
        days = "day" if day.before == 1 else "days"
        return f"{day.before} {days} before the last day of the month"
    return "the last day of the month"


def _all_weekdays_english(s: Schedule, *, singular: bool = False) -> str:
    """Plain weekdays and nth ones: 'Mondays and the last Friday'; singular: 'a Monday or ...'."""
    assert s.day_of_week is not None
    phrases = []
    if s.day_of_week:
        plain = _weekdays_english(s.day_of_week, singular=singular)
        phrases.append(f"a {plain}" if singular else plain)
    for weekday, nths in _nth_groups(s.nth_weekdays):
        ordinals = english_list([_ordinal_word(n) for n in nths], "or" if singular else "and")
        phrases.append(f"the {ordinals} {weekday_title(weekday)}")
    return english_list(phrases, "or" if singular else "and")


def _weekdays_english(days: frozenset[int], *, singular: bool = False) -> str:
    """'Mondays and Thursdays', 'Monday through Friday'; singular: 'Monday or Thursday'."""
    if days == frozenset(range(1, 6)):
        return "weekday" if singular else "weekdays"
    if days == frozenset({6, 7}):
        return "weekend day" if singular else "weekends"
    plural = "" if singular else "s"
    pieces: list[str] = []
    for first, last in runs(days):
        if last - first >= 2:
            pieces.append(f"{weekday_title(first)} through {weekday_title(last)}")
        else:
            pieces.extend(f"{weekday_title(d)}{plural}" for d in range(first, last + 1))
    return english_list(pieces, "or" if singular else "and")
