"""RFC 5545 rule parts (`FREQ=MONTHLY;BYDAY=-1FR;...`): read, checked and put in canonical order.

Each part is checked where it stands, so an error points at its column;
then the combinations RFC 5545 forbids are refused.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.fields import MAX_DAYS_IN_MONTH
from bgjobs.schedule.grammar import error_at, quote

FREQUENCIES: Final = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY")
WEEKDAY_CODES: Final = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
#: Rule parts in the order str() prints them.
PART_ORDER: Final = (
    "FREQ",
    "INTERVAL",
    "WKST",
    "COUNT",
    "UNTIL",
    "BYMONTH",
    "BYWEEKNO",
    "BYYEARDAY",
    "BYMONTHDAY",
    "BYDAY",
    "BYHOUR",
    "BYMINUTE",
    "BYSECOND",
    "BYSETPOS",
)
#: Integer list parts: (lowest, highest, may be negative).
_NUMBER_PARTS: Final = {
    "BYSECOND": (0, 59, False),
    "BYMINUTE": (0, 59, False),
    "BYHOUR": (0, 23, False),
    "BYMONTH": (1, 12, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYSETPOS": (1, 366, True),
}
#: Bounds that keep evaluation quick: COUNT is counted from DTSTART one occurrence at a time.
MAX_INTERVAL: Final = 1_000_000
MAX_COUNT: Final = 10_000

ALLOWED_RULE: Final = "RFC 5545 parts FREQ, INTERVAL, COUNT, UNTIL, WKST and BY..."
_UNTIL: Final = re.compile(r"([0-9]{8})(?:T([0-9]{6})(Z)?)?", re.IGNORECASE)
_BYDAY: Final = re.compile(r"([+-]?)([0-9]{1,2})?(MO|TU|WE|TH|FR|SA|SU)", re.IGNORECASE)
_SIGNED: Final = re.compile(r"([+-]?)([0-9]{1,4})")

#: A part as read: its canonical text, and the value evaluation needs.
Part = tuple[str, object]


def read_parts(rule: str, base: int, text: str) -> dict[str, Part]:
    parts: dict[str, Part] = {}
    offset = base
    for piece in rule.split(";"):
        if not piece and offset == base + len(rule):
            break  # a trailing ';'
        name, equals, value = piece.partition("=")
        upper = name.upper()
        if not equals or upper not in PART_ORDER:
            what = "unknown rule part" if equals else "expected NAME=VALUE, got"
            raise error_at(
                text,
                offset,
                f"{what} {quote(piece)}: expected one of {', '.join(PART_ORDER)}",
                field="rrule",
                value=piece,
                allowed=ALLOWED_RULE,
            )
        if upper in parts:
            raise given_twice(upper, text, offset)
        parts[upper] = _read_part(upper, value, text, offset + len(name) + 1)
        offset += len(piece) + 1
    _check_combination(parts, rule, base, text)
    return parts


def _read_part(name: str, value: str, text: str, offset: int) -> Part:
    if name == "FREQ":
        if value.upper() not in FREQUENCIES:
            raise _bad_value(name, value, ", ".join(FREQUENCIES), text, offset)
        return value.upper(), FREQUENCIES.index(value.upper())
    if name in ("INTERVAL", "COUNT"):
        high = MAX_INTERVAL if name == "INTERVAL" else MAX_COUNT
        if not value.isdigit() or len(value) > 9 or not 1 <= int(value) <= high:
            raise _bad_value(name, value, f"1..{high}", text, offset)
        return str(int(value)), int(value)
    if name == "WKST":
        if value.upper() not in WEEKDAY_CODES:
            raise _bad_value(name, value, ", ".join(WEEKDAY_CODES), text, offset)
        return value.upper(), WEEKDAY_CODES.index(value.upper())
    if name == "UNTIL":
        return _read_until(value, text, offset)
    if name == "BYDAY":
        return _read_byday(value, text, offset)
    return _read_numbers(name, value, text, offset)


def _read_until(value: str, text: str, offset: int) -> Part:
    found = _UNTIL.fullmatch(value)
    if found is None:
        raise _bad_value("UNTIL", value, "YYYYMMDD or YYYYMMDDTHHMMSS[Z]", text, offset)
    day, clock, utc = found.groups()
    moment = read_datetime(day, clock, text, offset, "until")
    canonical = day + (f"T{clock}" if clock else "") + ("Z" if utc else "")
    return canonical, (moment, clock is None, bool(utc))


def _read_byday(value: str, text: str, offset: int) -> Part:
    days: set[tuple[int, int]] = set()
    for item in value.split(","):
        found = _BYDAY.fullmatch(item)
        if found is None or (found.group(2) is not None and not 1 <= int(found.group(2)) <= 53):
            raise _bad_value(
                "BYDAY", item, "[+|-][1..53]MO..SU, such as MO, -1FR or 2TU", text, offset
            )
        sign, count, code = found.groups()
        nth = 0 if count is None else int(count) * (-1 if sign == "-" else 1)
        days.add((WEEKDAY_CODES.index(code.upper()), nth))
        offset += len(item) + 1
    ordered = sorted(days)
    canonical = ",".join(f"{nth or ''}{WEEKDAY_CODES[day]}" for day, nth in ordered)
    return canonical, tuple(ordered)


def _read_numbers(name: str, value: str, text: str, offset: int) -> Part:
    low, high, signed = _NUMBER_PARTS[name]
    allowed = f"{'-' + str(high) + '..-' + str(low) + ' or ' if signed else ''}{low}..{high}"
    numbers: set[int] = set()
    for item in value.split(","):
        found = _SIGNED.fullmatch(item)
        number = 0 if found is None else int(item)
        if (
            found is None
            or (found.group(1) == "-" and not signed)
            or not low <= abs(number) <= high
        ):
            raise _bad_value(name, item, allowed, text, offset)
        numbers.add(number)
        offset += len(item) + 1
    ordered = tuple(sorted(numbers))
    return ",".join(str(n) for n in ordered), ordered


def _bad_value(
    name: str, value: str, allowed: str, text: str, offset: int
) -> ScheduleValidationError:
    return error_at(
        text,
        offset,
        f"{name} must be {allowed} (got {quote(value)})",
        field=name,
        value=value,
        allowed=allowed,
    )


def _check_combination(parts: dict[str, Part], rule: str, base: int, text: str) -> None:
    # RFC 5545 section 3.3.10 forbids these combinations.
    def refuse(reason: str, part: str) -> ScheduleValidationError:
        offset = base + part_offset(rule, part)
        return error_at(text, offset, reason, field=part, value=rule, allowed=ALLOWED_RULE)

    if "FREQ" not in parts:
        raise refuse("the rule needs a FREQ part, such as FREQ=MONTHLY", "FREQ")
    freq = str(parts["FREQ"][0])
    if "COUNT" in parts and "UNTIL" in parts:
        raise refuse("COUNT and UNTIL cannot both be given; keep one", "UNTIL")
    if "BYWEEKNO" in parts and freq != "YEARLY":
        raise refuse("BYWEEKNO is only allowed with FREQ=YEARLY", "BYWEEKNO")
    if "BYYEARDAY" in parts and freq in ("DAILY", "WEEKLY", "MONTHLY"):
        raise refuse(f"BYYEARDAY is not allowed with FREQ={freq}", "BYYEARDAY")
    if "BYMONTHDAY" in parts and freq == "WEEKLY":
        raise refuse("BYMONTHDAY is not allowed with FREQ=WEEKLY", "BYMONTHDAY")
    if "BYDAY" in parts:
        days = parts["BYDAY"][1]
        assert isinstance(days, tuple)
        numbered = any(nth for _, nth in days)
        if numbered and (freq not in ("MONTHLY", "YEARLY") or "BYWEEKNO" in parts):
            raise refuse(
                "a numbered BYDAY (such as -1FR) needs FREQ=MONTHLY or FREQ=YEARLY "
                "without BYWEEKNO",
                "BYDAY",
            )
    if "BYSETPOS" in parts and not any(
        name.startswith("BY") and name != "BYSETPOS" for name in parts
    ):
        raise refuse("BYSETPOS needs another BY... part to pick from", "BYSETPOS")
    if "BYMONTHDAY" in parts and not _some_month_has_a_day(parts):
        raise refuse("this rule can never fire: no chosen month has such a day", "BYMONTHDAY")


def _some_month_has_a_day(parts: dict[str, Part]) -> bool:
    # The common way to write a rule that never fires (February 30th); the
    # model refuses the same for calendar schedules.
    months = parts["BYMONTH"][1] if "BYMONTH" in parts else tuple(range(1, 13))
    days = parts["BYMONTHDAY"][1]
    assert isinstance(months, tuple) and isinstance(days, tuple)
    longest = max(MAX_DAYS_IN_MONTH[m - 1] for m in months)
    return any(abs(day) <= longest for day in days)


def part_needing_an_anchor(parts: dict[str, Part]) -> str | None:
    """The part that makes a rule's occurrences depend on its DTSTART, if any.

    COUNT counts occurrences from DTSTART, and INTERVAL > 1 takes its phase
    ("every other week": which weeks) from it. Everything else RFC 5545
    takes from DTSTART is a default that a missing DTSTART fills naturally
    (Mondays, the 1st, January, midnight). BYSETPOS picks within one period,
    so it needs an anchor only together with one of these.
    """
    if "COUNT" in parts:
        return "COUNT"
    if "INTERVAL" in parts and parts["INTERVAL"][1] != 1 and "UNTIL" not in parts:
        return "INTERVAL"
    return None


def anchor_missing(part: str, rule: str) -> str:
    """The message for a rule that needs a DTSTART and has none."""
    why = (
        "COUNT counts occurrences from the rule's start"
        if part == "COUNT"
        else "INTERVAL > 1 takes its phase (which periods fire) from the rule's start"
    )
    return (
        f"this rule needs a DTSTART: {why}, and without one it would be anchored at an "
        f"arbitrary date; add one, such as 'DTSTART:20250101T090000 RRULE:{rule}'"
    )


def part_offset(rule: str, part: str) -> int:
    """Where `part=` starts in the rule text (0 if it is not there)."""
    found = re.search(rf"(^|;){part}=", rule, re.IGNORECASE)
    return found.end() - len(part) - 1 if found else 0


def canonical_rule(parts: dict[str, Part]) -> str:
    return ";".join(f"{name}={parts[name][0]}" for name in PART_ORDER if name in parts)


def given_twice(what: str, text: str, offset: int) -> ScheduleValidationError:
    return error_at(
        text,
        offset,
        f"{what} is given twice; give it once",
        field="rrule",
        value=what,
        allowed=f"one {what}",
    )


def read_datetime(day: str, clock: str | None, text: str, offset: int, name: str) -> datetime:
    digits = day + (clock or "000000")
    try:
        return datetime(
            int(digits[0:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            int(digits[12:14]),
        )
    except ValueError as exc:
        raise error_at(
            text,
            offset,
            f"{name} {quote(day + ('T' + clock if clock else ''))} is not a valid date and time "
            f"({exc})",
            field=name,
            value=digits,
            allowed="YYYYMMDD or YYYYMMDDTHHMMSS, years 1..9999",
        ) from None
