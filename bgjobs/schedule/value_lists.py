"""Value lists (`1,10-15`, `*/5`, `mon-fri`) from parse trees to field values, checked.

Shared by the calendar language and classic cron: both write a field as a
comma-separated list of items, and both must refuse the same mistakes (a
value out of bounds, an inverted range, a zero step) at the column where
they were made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from lark import Token, Tree

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.fields import MONTH_NAMES, WEEKDAY_NAMES
from bgjobs.schedule.grammar import error_at, quote
from bgjobs.schedule.model import EVERY, FieldValues
from bgjobs.schedule.month_days import (
    MAX_DAYS_BEFORE_LAST,
    MAX_NTH,
    LastDay,
    LastWeekday,
    NearestWeekday,
    NthWeekday,
    RelativeDay,
)

# More digits than this cannot be a field value or a sensible step; int() of
# thousands of digits is slow and, past 4300, refused by Python.
_MAX_DIGITS: Final = 9

#: Calendar weekday names, as their first three letters, to ISO numbers (monday = 1).
ISO_WEEKDAY_BY_PREFIX: Final = {name[:3]: index + 1 for index, name in enumerate(WEEKDAY_NAMES)}
#: Cron weekday names to cron numbers (sunday = 0, as Debian cron counts).
CRON_WEEKDAY_BY_NAME: Final = {
    name[:3]: (index + 1) % 7 for index, name in enumerate(WEEKDAY_NAMES)
}
#: Month names, as their first three letters, to month numbers.
MONTH_BY_PREFIX: Final = {name[:3]: index + 1 for index, name in enumerate(MONTH_NAMES)}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How to read one field's list: its bounds as written, its names, its model numbering."""

    name: str
    low: int
    high: int
    names: dict[str, int]
    to_model: Callable[[int], int] = int
    wraps_weekdays: bool = False

    @property
    def allowed(self) -> str:
        names = f" or {self.name_range()}" if self.names else ""
        return f"{self.low}..{self.high}{names}"

    def name_range(self) -> str:
        by_number = sorted(self.names, key=self.names.__getitem__)
        return f"{by_number[0]}..{by_number[-1]}"


@dataclass(frozen=True, slots=True)
class ListValue:
    """A checked list: the model's value for the field, the leading `*/N` step kept, if
    any, and the days picked relative to the month (`last`, `15W`, `2nd monday`)."""

    values: FieldValues
    step: int | None
    relative_days: frozenset[RelativeDay] = frozenset()
    nth_weekdays: frozenset[NthWeekday] = frozenset()


#: List items that pick a day relative to the month rather than give values.
_PICKING_KINDS: Final = frozenset(
    {
        "last_day",
        "last_weekday",
        "nearest_weekday",
        "before_last",
        "cron_last",
        "nth_weekday",
        "cron_nth",
        "cron_last_of",
    }
)
#: The calendar language's ordinals, for `2nd monday`.
_ORDINALS: Final = {"1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5, "last": -1}


def read_list(spec: FieldSpec, items: Sequence[Tree[Token]], source: str) -> ListValue:
    """The field value a parsed list stands for; errors point into `source`.

    A list that starts with `*` and covers the whole field is EVERY; a minute
    or hour list that starts with `*/N` keeps N (`*/15,7` too: the leading
    star decides the daylight-saving rule). Any other list is a set, even
    when it covers the whole field (`0-59`).
    """
    raw: set[int] = set()
    picked: set[RelativeDay | NthWeekday] = set()
    for item in items:
        if item.data in _PICKING_KINDS:
            picked.update(_picked(spec, item, source))
        else:
            raw.update(_item_values(spec, item, source))
    values = frozenset(spec.to_model(v) for v in raw)
    whole = frozenset(spec.to_model(v) for v in range(spec.low, spec.high + 1))
    relative = frozenset(p for p in picked if not isinstance(p, NthWeekday))
    nth = frozenset(p for p in picked if isinstance(p, NthWeekday))
    first = items[0]
    if first.data not in ("star", "star_step"):
        return ListValue(values, None, relative, nth)
    if values == whole:
        return ListValue(EVERY, None)  # every day already includes the picked ones
    if spec.name not in ("minute", "hour"):
        return ListValue(values, None, relative, nth)
    # `*/15,7`: the list starts with a star, which keeps the elapsed-time
    # daylight-saving rule (Debian cron looks at the field's first character).
    return ListValue(values, _number(spec, _tokens(first)[-1], source, what="step"))


def _item_values(spec: FieldSpec, item: Tree[Token], source: str) -> range | set[int]:
    tokens = _tokens(item)
    kind = item.data
    if kind == "single":
        return {_value(spec, tokens[0], source)}
    if kind == "named_set":
        return set(range(1, 6)) if tokens[0].lower().startswith("weekday") else {6, 7}
    if kind == "star":
        return range(spec.low, spec.high + 1)
    if kind == "star_step":
        return range(spec.low, spec.high + 1, _step(spec, tokens[1], source))
    if kind == "start_step":
        start = _value(spec, tokens[0], source)
        return range(start, spec.high + 1, _step(spec, tokens[1], source))
    start, end = _value(spec, tokens[0], source), _value(spec, tokens[1], source)
    if start > end:
        raise _inverted(spec, tokens[0], tokens[1], start, end, source)
    step = _step(spec, tokens[2], source) if kind == "stepped_span" else 1
    # `a-a/n` is just `a`, as in Debian cron.
    return range(start, end + 1, step)


def _picked(spec: FieldSpec, item: Tree[Token], source: str) -> list[RelativeDay | NthWeekday]:
    """The days an item picks relative to the month (one, or one per ordinal)."""
    tokens = _tokens(item)
    kind = item.data
    if kind == "last_day":
        return [LastDay()]
    if kind == "last_weekday":
        return [LastWeekday()]
    if kind == "nearest_weekday":
        return [NearestWeekday(_value(spec, tokens[0], source))]
    if kind == "before_last":
        return [LastDay(_days_before_last(spec, tokens[0], str(tokens[0]), source))]
    if kind == "cron_last":
        written = str(tokens[0]).upper()
        if written == "L":
            return [LastDay()]
        if written == "LW":
            return [LastWeekday()]
        return [LastDay(_days_before_last(spec, tokens[0], written[2:], source))]
    if kind == "nth_weekday":
        weekday = spec.to_model(_value(spec, tokens[-1], source))
        return [NthWeekday(weekday, _ORDINALS[str(t).lower()]) for t in tokens[:-1]]
    weekday = spec.to_model(_value(spec, tokens[0], source))
    if kind == "cron_last_of":
        return [NthWeekday(weekday, -1)]
    nth = _number(spec, tokens[1], source, what="nth")
    if not 1 <= nth <= MAX_NTH:
        raise error_at(
            source,
            _offset(tokens[1]),
            f"the N of D#N is the weekday's place in the month: 1..{MAX_NTH} (got {nth})",
            field=spec.name,
            value=nth,
            allowed=f"1..{MAX_NTH}",
        )
    return [NthWeekday(weekday, nth)]


def _days_before_last(spec: FieldSpec, token: Token, digits: str, source: str) -> int:
    days = int(digits) if digits.isdigit() and len(digits) <= _MAX_DIGITS else -1
    if not 1 <= days <= MAX_DAYS_BEFORE_LAST:
        raise error_at(
            source,
            _offset(token),
            f"days before the last day must be 1..{MAX_DAYS_BEFORE_LAST} (got {digits!r}); "
            "the last day itself is 'L' ('last')",
            field=spec.name,
            value=digits,
            allowed=f"1..{MAX_DAYS_BEFORE_LAST}",
        )
    return days


def _value(spec: FieldSpec, token: Token, source: str) -> int:
    if token.type == "INT":
        value = _number(spec, token, source, what="value")
    else:
        value = spec.names[token.lower()[:3]]
    if not spec.low <= value <= spec.high:
        raise error_at(
            source,
            _offset(token),
            f"{spec.name} must be in {spec.allowed} (got {value})",
            field=spec.name,
            value=value,
            allowed=spec.allowed,
        )
    return value


def _step(spec: FieldSpec, token: Token, source: str) -> int:
    step = _number(spec, token, source, what="step")
    if step < 1:
        raise error_at(
            source,
            _offset(token),
            f"{spec.name} step must be a whole number >= 1 (got {step})",
            field=spec.name,
            value=step,
            allowed=f"1..{spec.high - spec.low + 1}",
        )
    return step


def _number(spec: FieldSpec, token: Token, source: str, *, what: str) -> int:
    if len(token) > _MAX_DIGITS:
        raise error_at(
            source,
            _offset(token),
            f"{spec.name} {what} {quote(str(token))} is too large (allowed {spec.allowed})",
            field=spec.name,
            value=str(token),
            allowed=spec.allowed,
        )
    return int(token)


def _inverted(
    spec: FieldSpec, first: Token, last: Token, start: int, end: int, source: str
) -> ScheduleValidationError:
    written = f"{first}-{last}"
    if spec.wraps_weekdays:
        # Weeks wrap, so `sunday-tuesday` has an obvious meaning; spell it out
        # rather than guess whether the user meant the long way round.
        head = WEEKDAY_NAMES[start - 1] if start == 7 else f"{WEEKDAY_NAMES[start - 1]}-sunday"
        tail = "monday" if end == 1 else f"monday-{WEEKDAY_NAMES[end - 1]}"
        reason = (
            f"weekday range {written} wraps past sunday; weeks start on monday here, "
            f"so write {head},{tail}"
        )
    else:
        reason = (
            f"{spec.name} range {written} is inverted: the start must not exceed the end "
            f"(both in {spec.allowed})"
        )
    return error_at(
        source, _offset(first), reason, field=spec.name, value=written, allowed=spec.allowed
    )


def _offset(token: Token) -> int:
    # Cron fields are parsed with the rest of the line blanked out (cron.py),
    # so every token's offset is an offset into the whole text.
    return token.start_pos or 0


def _start(item: Tree[Token]) -> int:
    return _offset(_tokens(item)[0])


def _tokens(item: Tree[Token]) -> list[Token]:
    return [child for child in item.children if isinstance(child, Token)]
