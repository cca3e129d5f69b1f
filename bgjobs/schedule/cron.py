"""Classic cron lines (`30 8 * * 4`, six fields with seconds first, `@daily`) to a Schedule.

Cron input means what Debian cron means. Whitespace separates the fields,
so the line is split here and each field is parsed on its own with the
grammar's cron start rules. The day fields combine with OR when neither
starts with `*`, else with AND; Sunday is 0 or 7; `a-a/n` is just `a`.
An optional trailing `in ZONE` names the time zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from lark import Tree

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.fields import DayRule
from bgjobs.schedule.grammar import end_offset, error_at, parse_tree, quote, relocate
from bgjobs.schedule.model import Schedule, canonical_zone_name
from bgjobs.schedule.value_lists import (
    CRON_WEEKDAY_BY_NAME,
    MONTH_BY_PREFIX,
    FieldSpec,
    ListValue,
    read_list,
)

#: Macros Debian cron knows (lower case only, as there), and the lines they stand for.
MACROS: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _iso_weekday(cron_day: int) -> int:
    # Cron counts Sunday as 0 (and also 7); the model is ISO, Sunday = 7.
    return cron_day or 7


@dataclass(frozen=True, slots=True)
class _CronField:
    spec: FieldSpec
    start_rule: str


_SECOND: Final = _CronField(FieldSpec("second", 0, 59, {}), "cron_numbers")
_FIELDS: Final = (
    _CronField(FieldSpec("minute", 0, 59, {}), "cron_numbers"),
    _CronField(FieldSpec("hour", 0, 23, {}), "cron_numbers"),
    _CronField(FieldSpec("day_of_month", 1, 31, {}), "cron_month_days"),
    _CronField(FieldSpec("month", 1, 12, MONTH_BY_PREFIX), "cron_months"),
    _CronField(
        FieldSpec("day_of_week", 0, 7, CRON_WEEKDAY_BY_NAME, to_model=_iso_weekday),
        "cron_weekdays",
    ),
)

_WORDS: Final = re.compile(r"[^ \t\r\n]+")


@dataclass(frozen=True, slots=True)
class _Word:
    text: str
    start: int


def looks_like_cron(text: str) -> bool:
    """True if `text` starts like a cron line: a digit, `*` or `@`."""
    stripped = text.lstrip(" \t\r\n")
    return stripped[:1] in set("0123456789*@")


def read_cron(text: str, timezone: str | None) -> Schedule:
    """The Schedule a classic cron line stands for; errors point into `text`."""
    words = [_Word(m.group(), m.start()) for m in _WORDS.finditer(text)]
    fields, zone = _split_zone(words, text)
    zone_name = _zone_name(zone, text, timezone)
    if fields[0].text.startswith("@"):
        return _macro(fields, text, zone_name)
    if len(fields) not in (5, 6):
        raise _field_count_error(fields, text)
    return _schedule(fields, text, zone_name)


def _split_zone(words: list[_Word], text: str) -> tuple[list[_Word], _Word | None]:
    for index, word in enumerate(words):
        if word.text.lower() != "in" or index == 0:
            continue
        rest = words[index + 1 :]
        if not rest:
            raise error_at(
                text,
                end_offset(text),
                "the schedule ends too soon: expected a time zone name after 'in'",
                field="timezone",
                value=text,
                allowed="an IANA time zone name",
            )
        if len(rest) > 1:
            raise error_at(
                text,
                rest[1].start,
                f"unexpected {quote(rest[1].text)}: 'in ZONE' ends a cron line",
                field="schedule",
                value=rest[1].text,
                allowed="the end of the text",
            )
        return words[:index], rest[0]
    return words, None


def _zone_name(zone: _Word | None, text: str, timezone: str | None) -> str:
    if zone is None:
        return timezone or "UTC"
    try:
        named = canonical_zone_name(zone.text)
    except ScheduleValidationError as exc:
        raise relocate(exc, text, zone.start) from None
    if timezone is not None and timezone != named:
        raise error_at(
            text,
            zone.start,
            f"the text says 'in {named}' but timezone={timezone!r} was given; "
            "give the zone in one place or make them agree",
            field="timezone",
            value=named,
            allowed=timezone,
        )
    return named


def _macro(fields: list[_Word], text: str, zone_name: str) -> Schedule:
    macro = fields[0]
    if macro.text not in MACROS:
        raise error_at(
            text,
            macro.start,
            f"unknown cron macro {quote(macro.text)}: expected one of "
            f"{', '.join(MACROS)} (lower case)",
            field="schedule",
            value=macro.text,
            allowed=", ".join(MACROS),
        )
    if len(fields) > 1:
        raise error_at(
            text,
            fields[1].start,
            f"unexpected {quote(fields[1].text)}: {macro.text} stands for a whole cron line",
            field="schedule",
            value=fields[1].text,
            allowed="the end of the text or 'in ZONE'",
        )
    expansion = MACROS[macro.text]
    words = [_Word(m.group(), m.start()) for m in _WORDS.finditer(expansion)]
    return _schedule(words, expansion, zone_name)


def _field_count_error(fields: list[_Word], text: str) -> ScheduleValidationError:
    wanted = "a cron line has 5 fields (minute hour day month weekday) or 6 (second first)"
    if len(fields) > 6:
        return error_at(
            text,
            fields[6].start,
            f"too many fields: {wanted}; this one has {len(fields)}",
            field="schedule",
            value=fields[6].text,
            allowed="5 or 6 fields",
        )
    hint = ""
    if len(fields) == 1 and ":" in fields[0].text:
        hint = f" (for a time of day write 'at {fields[0].text}')"
    return error_at(
        text,
        end_offset(text),
        f"too few fields: {wanted}; this one has {len(fields)}{hint}",
        field="schedule",
        value=" ".join(word.text for word in fields),
        allowed="5 or 6 fields",
    )


def _schedule(fields: list[_Word], text: str, zone_name: str) -> Schedule:
    # Five fields: cron fires at second 0.
    second = ListValue(frozenset({0}), None)
    if len(fields) == 6:
        second = _read(_SECOND, fields[0], text)
    minute, hour, day, month, weekday = (
        _read(spec, word, text) for spec, word in zip(_FIELDS, fields[-5:], strict=True)
    )
    day_text, weekday_text = fields[-3].text, fields[-1].text
    # Debian cron: a day matches when either day field does, unless one of
    # them starts with `*`, in which case both must. Quartz's `?` is `*`.
    starred = day_text.startswith(("*", "?")) or weekday_text.startswith(("*", "?"))
    try:
        return Schedule(
            second=second.values,
            minute=minute.values,
            hour=hour.values,
            day_of_month=day.values,
            month=month.values,
            day_of_week=weekday.values,
            minute_step=minute.step,
            hour_step=hour.step,
            day_rule=DayRule.AND if starred else DayRule.OR,
            timezone=zone_name,
            relative_days=day.relative_days,
            nth_weekdays=weekday.nth_weekdays,
        )
    except ScheduleValidationError as exc:
        # What is left for the model to refuse is a day that no chosen month has.
        raise relocate(exc, text, fields[-3].start) from None


def _read(field: _CronField, word: _Word, text: str) -> ListValue:
    # Blank out the rest of the line so token offsets are offsets into `text`.
    padded = " " * word.start + word.text
    tree = parse_tree(padded, field.start_rule, source=text)
    items = [child for child in tree.children if isinstance(child, Tree)]
    return read_list(field.spec, items, text)
