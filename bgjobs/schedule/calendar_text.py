"""The calendar language and intervals: from a parse tree of grammar/schedule.lark to a value.

Clauses come in any order and each field may be given once (`at` gives
second, minute and hour). `every UNIT` fires once per unit, at its start,
unless other clauses say when: the fields below the unit that no clause
gives are set to their first value (`every day` = `at 00:00:00`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from lark import Token, Tree

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.fields import BOUNDS, DayRule
from bgjobs.schedule.grammar import error_at, quote, relocate
from bgjobs.schedule.model import EVERY, FieldValues, Interval, Schedule, canonical_zone_name
from bgjobs.schedule.month_days import NthWeekday, RelativeDay
from bgjobs.schedule.value_lists import (
    ISO_WEEKDAY_BY_PREFIX,
    MONTH_BY_PREFIX,
    FieldSpec,
    read_list,
)

CALENDAR_FIELDS: Final = {
    "second": FieldSpec("second", 0, 59, {}),
    "minute": FieldSpec("minute", 0, 59, {}),
    "hour": FieldSpec("hour", 0, 23, {}),
    "day_of_month": FieldSpec("day_of_month", 1, 31, {}),
    "month": FieldSpec("month", 1, 12, MONTH_BY_PREFIX),
    "day_of_week": FieldSpec("day_of_week", 1, 7, ISO_WEEKDAY_BY_PREFIX, wraps_weekdays=True),
}

#: The field each list clause sets.
_CLAUSE_FIELD: Final = {
    "second_clause": "second",
    "minute_clause": "minute",
    "hour_clause": "hour",
    "day_clause": "day_of_month",
    "month_clause": "month",
    "on_clause": "day_of_week",
}

#: Milliseconds per interval unit, by the unit's singular name.
UNIT_MS: Final = {
    "ms": 1,
    "millisecond": 1,
    "second": 1000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 604_800_000,
}
# 100 years of milliseconds has 13 digits; more than this is too large whatever the unit.
_MAX_INTERVAL_DIGITS: Final = 16

#: `every UNIT`: the field the unit itself claims, and the fields it sets to their start.
_EVERY_CLAIMS: Final = {
    "second": "second",
    "minute": "minute",
    "hour": "hour",
    "day": "day_of_month",
    "week": "day_of_month",  # a day of the month does not fit a weekly rhythm
    "month": "month",
}
_EVERY_STARTS: Final = {
    "second": (),
    "minute": ("second",),
    "hour": ("second", "minute"),
    "day": ("second", "minute", "hour"),
    "week": ("second", "minute", "hour", "day_of_week"),
    "month": ("second", "minute", "hour", "day_of_month"),
}
_FIRST_VALUE: Final = {"second": 0, "minute": 0, "hour": 0, "day_of_month": 1, "day_of_week": 1}

#: How error messages name a field.
_FIELD_WORDS: Final = {
    "second": "the second",
    "minute": "the minute",
    "hour": "the hour",
    "day_of_month": "the day of the month",
    "month": "the month",
    "day_of_week": "the weekday",
    "timezone": "the time zone",
    "every": "'every'",
}


def read_schedule(tree: Tree[Token], text: str, timezone: str | None) -> Schedule | Interval:
    """The Schedule or Interval that a `schedule` parse tree of `text` stands for."""
    first = tree.children[0]
    assert isinstance(first, Tree)
    if first.data == "interval":
        return _interval(first.children, text)
    draft = _Draft(text)
    for clause in tree.children:
        assert isinstance(clause, Tree)
        draft.add(clause)
    return draft.build(timezone)


def _interval(children: Sequence[Tree[Token] | Token], text: str) -> Interval:
    _, count, unit = (_token(child) for child in children)
    if len(count) > _MAX_INTERVAL_DIGITS:
        raise error_at(
            text,
            _at(count),
            f"interval {quote(str(count))} is too large: the longest interval is 100 years",
            field="interval",
            value=str(count),
            allowed="1 millisecond .. 100 years",
        )
    n = int(count)
    if n < 1:
        raise error_at(
            text,
            _at(count),
            f"an interval must be a whole number >= 1 (got {n})",
            field="interval",
            value=n,
            allowed="1 millisecond .. 100 years",
        )
    try:
        return Interval(n * UNIT_MS[_singular(unit)])
    except ScheduleValidationError as exc:
        raise relocate(exc, text, _at(count)) from None


@dataclass
class _Draft:
    """The fields given so far, and which keyword gave each (to point at a second one)."""

    text: str
    values: dict[str, FieldValues] = field(default_factory=dict)
    steps: dict[str, int] = field(default_factory=dict)
    relative_days: frozenset[RelativeDay] = frozenset()
    nth_weekdays: frozenset[NthWeekday] = frozenset()
    given_by: dict[str, Token] = field(default_factory=dict)
    day_rule: DayRule = DayRule.AND
    every_unit: str | None = None
    zone: Token | None = None
    first_day_value: int = 0

    def add(self, clause: Tree[Token]) -> None:
        kind = clause.data
        keyword = _token(clause.children[0])
        if kind in _CLAUSE_FIELD:
            self._list(_CLAUSE_FIELD[kind], keyword, clause.children[1])
            if kind == "day_clause":
                self.first_day_value = _at(_first_token(clause.children[1]))
                if len(clause.children) > 2:
                    self._list("day_of_week", _token(clause.children[3]), clause.children[4])
                    self.day_rule = DayRule.OR
        elif kind == "at_clause":
            self._at_time(keyword, _token(clause.children[1]))
        elif kind == "every_clause":
            self._every(keyword, _token(clause.children[1]))
        else:  # in_clause
            self._claim("timezone", keyword)
            self.zone = _token(clause.children[1])

    def _claim(self, name: str, keyword: Token) -> None:
        earlier = self.given_by.get(name)
        if earlier is not None:
            raise error_at(
                self.text,
                _at(keyword),
                f"{_FIELD_WORDS[name]} is given twice, first by {quote(str(earlier))} "
                f"and again by {quote(str(keyword))}; give each field once",
                field=name,
                value=str(keyword),
                allowed="each field once",
            )
        self.given_by[name] = keyword

    def _list(self, name: str, keyword: Token, items: Tree[Token] | Token) -> None:
        self._claim(name, keyword)
        assert isinstance(items, Tree)
        children = [child for child in items.children if isinstance(child, Tree)]
        read = read_list(CALENDAR_FIELDS[name], children, self.text)
        self.values[name] = read.values
        if read.step is not None:
            self.steps[name] = read.step
        self.relative_days |= read.relative_days
        self.nth_weekdays |= read.nth_weekdays

    def _at_time(self, keyword: Token, time: Token) -> None:
        for name in ("second", "minute", "hour"):
            self._claim(name, keyword)
        parts = str(time).split(":")
        start = _at(time)
        offsets = [start, start + len(parts[0]) + 1, start + len(parts[0]) + len(parts[1]) + 2]
        names = ("hour", "minute", "second")
        if len(parts) == 2:
            self.values["second"] = frozenset({0})
        for name, part, offset in zip(names, parts, offsets, strict=False):
            value = int(part)
            low, high = BOUNDS[name]
            if not low <= value <= high:
                raise error_at(
                    self.text,
                    offset,
                    f"{name} must be in {low}..{high} (got {value}) in the time {time}",
                    field=name,
                    value=value,
                    allowed=f"{low}..{high}",
                )
            self.values[name] = frozenset({value})

    def _every(self, keyword: Token, unit: Token) -> None:
        if self.every_unit is not None:
            self._claim("every", keyword)  # raises: 'every' was already given
        self.given_by["every"] = keyword
        name = _singular(unit)
        if str(unit).lower() != name:
            raise error_at(
                self.text,
                _at(unit),
                f"write 'every {name}' (singular) for once per {name}, "
                f"or 'every N {name}s' for an interval (got 'every {unit}')",
                field="every",
                value=str(unit),
                allowed="second, minute, hour, day, week, month",
            )
        self._claim(_EVERY_CLAIMS[name], keyword)
        self.every_unit = name
        if name == "second":
            self.values["second"] = EVERY

    def build(self, timezone: str | None) -> Schedule:
        values = dict(self.values)
        if self.every_unit is not None:
            for name in _EVERY_STARTS[self.every_unit]:
                if name == "day_of_month" and "day_of_week" in self.given_by:
                    continue  # `every month on monday`: the weekdays say which days
                if name not in self.given_by:
                    values[name] = frozenset({_FIRST_VALUE[name]})
        zone_name = self._zone_name(timezone)
        try:
            return Schedule(
                second=values.get("second", frozenset({0})),
                minute=values.get("minute", EVERY),
                hour=values.get("hour", EVERY),
                day_of_month=values.get("day_of_month", EVERY),
                month=values.get("month", EVERY),
                day_of_week=values.get("day_of_week", EVERY),
                minute_step=self.steps.get("minute"),
                hour_step=self.steps.get("hour"),
                day_rule=self.day_rule,
                timezone=zone_name,
                relative_days=self.relative_days,
                nth_weekdays=self.nth_weekdays,
            )
        except ScheduleValidationError as exc:
            # The only check left to the model is "can it ever fire", which is
            # about the days: point at them.
            raise relocate(exc, self.text, self.first_day_value) from None

    def _zone_name(self, timezone: str | None) -> str:
        if self.zone is None:
            return timezone or "UTC"
        try:
            named = canonical_zone_name(str(self.zone))
        except ScheduleValidationError as exc:
            raise relocate(exc, self.text, _at(self.zone)) from None
        if timezone is not None and timezone != named:
            raise error_at(
                self.text,
                _at(self.zone),
                f"the text says 'in {named}' but timezone={timezone!r} was given; "
                "give the zone in one place or make them agree",
                field="timezone",
                value=named,
                allowed=timezone,
            )
        return named


def _singular(unit: Token) -> str:
    word = str(unit).lower()
    return word if word == "ms" else word.removesuffix("s")


def _first_token(child: Tree[Token] | Token) -> Token:
    while isinstance(child, Tree):
        child = child.children[0]
    return child


def _token(child: Tree[Token] | Token) -> Token:
    assert isinstance(child, Token)
    return child


def _at(token: Token) -> int:
    return token.start_pos or 0
