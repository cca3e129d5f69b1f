"""RRule: an RFC 5545 recurrence rule (python-dateutil's rrule) on a time zone's wall clock.

For what cron cannot say: "the last Friday of the month", "every other
Tuesday", "the 2nd weekday". Text form, as `parse` accepts it:

    [DTSTART[;TZID=ZONE]:YYYYMMDD[THHMMSS[Z]]] RRULE:FREQ=...;... [in ZONE]

The rule runs on naive wall-clock times of its zone. Without DTSTART the
rule is anchored at DEFAULT_DTSTART, a fixed Monday midnight, so that str()
and equality are deterministic and the defaults RFC 5545 takes from DTSTART
are the natural ones (weekly on Mondays, monthly on the 1st, yearly on
January 1st, at 00:00:00). A rule whose occurrences depend on the anchor
itself (COUNT counts from it; INTERVAL > 1 without UNTIL takes its phase
from it) must give DTSTART: a silent 1973 anchor would have used up its
COUNT decades ago. Daylight saving follows the
wall-clock rule of fixed-time cron schedules: a repeated wall time fires
once (its first occurrence), a skipped one at the same second of the first
existing minute after the gap.

The parts of a rule are read in rrule_parts.py; rrule_plan.py evaluates it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from dateutil import rrule as du

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.grammar import end_offset, error_at, quote, relocate
from bgjobs.schedule.model import canonical_zone_name, zone
from bgjobs.schedule.next_fire import require_aware
from bgjobs.schedule.render import english_list, english_values, month_title, ordinal, weekday_title
from bgjobs.schedule.rrule_parts import (
    ALLOWED_RULE,
    anchor_missing,
    canonical_rule,
    given_twice,
    part_needing_an_anchor,
    part_offset,
    read_datetime,
    read_parts,
)
from bgjobs.schedule.rrule_plan import DEFAULT_DTSTART, RulePlan

_WORDS: Final = re.compile(r"[^ \t\r\n]+")
_DTSTART: Final = re.compile(
    r"DTSTART((?:;[A-Z-]+=[^;:]*)*):([0-9]{8})(?:T([0-9]{6})(Z)?)?", re.IGNORECASE
)


def looks_like_rrule(text: str) -> bool:
    """True if `text` starts like an RFC 5545 rule (RRULE:, DTSTART or FREQ=)."""
    head = text.lstrip(" \t\r\n")[:8].upper()
    return head.startswith(("RRULE:", "DTSTART", "FREQ="))


@dataclass(frozen=True, slots=True)
class RRule:
    """An RFC 5545 recurrence rule evaluated on the wall clock of `timezone`.

    `rule` is the part after `RRULE:` (normalised: parts in a fixed order,
    values sorted); `dtstart` a naive wall-clock time in the zone. Leaving
    `dtstart` at its default means "no DTSTART", which a rule with COUNT, or
    with INTERVAL > 1 and no UNTIL, may not do.
    """

    rule: str
    dtstart: datetime = DEFAULT_DTSTART
    timezone: str = "UTC"
    _plan: RulePlan = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.rule, str):
            raise ScheduleValidationError(
                f"an RRULE must be text (got {type(self.rule).__name__})",
                field="rrule",
                value=self.rule,
                allowed=ALLOWED_RULE,
            )
        name = canonical_zone_name(self.timezone)
        start = self.dtstart
        # The default object itself, not an equal datetime: DTSTART left out.
        anchored = start is not DEFAULT_DTSTART
        if not isinstance(start, datetime):
            raise ScheduleValidationError(
                f"dtstart must be a datetime (got {type(start).__name__})",
                field="dtstart",
                value=start,
                allowed="a datetime",
            )
        if start.tzinfo is not None:
            start = start.astimezone(zone(name))
        start = start.replace(tzinfo=None, microsecond=0, fold=0)
        text = self.rule.removeprefix("RRULE:") if self.rule[:6].upper() == "RRULE:" else self.rule
        parts = read_parts(text, 0, text)
        needing = part_needing_an_anchor(parts)
        if needing is not None and not anchored:
            raise ScheduleValidationError(
                anchor_missing(needing, canonical_rule(parts)),
                field="dtstart",
                value=None,
                allowed="a DTSTART with COUNT, or with INTERVAL > 1 and no UNTIL",
            )
        object.__setattr__(self, "rule", canonical_rule(parts))
        object.__setattr__(self, "timezone", name)
        object.__setattr__(self, "dtstart", start)
        plan = RulePlan.of(parts, start, name)
        plan.check()
        object.__setattr__(self, "_plan", plan)

    def next_after(self, t: datetime) -> datetime | None:
        """The earliest occurrence strictly after aware `t`, aware in the rule's zone.

        None when nothing occurs within 50 years of `t` or before year 10000.
        """
        require_aware(t)
        try:
            return self._plan.next_after(t)
        except OverflowError:
            return None

    def prev_before(self, t: datetime) -> datetime | None:
        """The last occurrence strictly before aware `t`, aware in the rule's zone.

        The mirror of next_after (same daylight-saving rule). None when
        nothing occurred within 50 years before `t`.
        """
        require_aware(t)
        try:
            return self._plan.prev_before(t)
        except OverflowError:
            return None

    def iter_before(self, t: datetime) -> Iterator[datetime]:
        """Yield the occurrences strictly before `t`, newest first."""
        current = self.prev_before(t)
        while current is not None:
            yield current
            current = self.prev_before(current)

    def iter_after(self, t: datetime) -> Iterator[datetime]:
        """Yield the occurrences strictly after `t`, in order."""
        current = self.next_after(t)
        while current is not None:
            yield current
            current = self.next_after(current)

    def describe(self) -> str:
        """The rule in English, e.g. "every month on the last Friday at 09:00:00"."""
        return _english(self)

    @property
    def needs_dtstart(self) -> bool:
        """Do the occurrences depend on DTSTART itself (COUNT, or INTERVAL > 1 without UNTIL)?"""
        plan = self._plan
        return plan.count is not None or (plan.interval > 1 and plan.until is None)

    @property
    def parts(self) -> dict[str, str]:
        """The rule's parts by name, as str() prints them."""
        return dict(part.split("=", 1) for part in self.rule.split(";"))

    def __str__(self) -> str:
        pieces = []
        if self.dtstart != DEFAULT_DTSTART or self.needs_dtstart:
            pieces.append(f"DTSTART:{_stamp(self.dtstart)}")
        pieces.append(f"RRULE:{self.rule}")
        if self.timezone != "UTC":
            pieces.append(f"in {self.timezone}")
        return " ".join(pieces)


def read_rrule(text: str, timezone: str | None) -> RRule:
    """The RRule that RFC 5545 text stands for; errors point into `text`."""
    words = [(m.group(), m.start()) for m in _WORDS.finditer(text)]
    rule: tuple[str, int] | None = None
    start: datetime | None = None
    zones: list[tuple[str, int]] = []
    index = 0
    while index < len(words):
        word, offset = words[index]
        upper = word.upper()
        if upper.startswith("DTSTART"):
            if start is not None:
                raise given_twice("DTSTART", text, offset)
            start, named = _read_dtstart(word, offset, text)
            zones.extend((name, offset) for name in named)
        elif upper.startswith(("RRULE:", "FREQ=")):
            if rule is not None:
                raise given_twice("RRULE", text, offset)
            skip = 6 if upper.startswith("RRULE:") else 0
            rule = (word[skip:], offset + skip)
        elif word.lower() == "in":
            zones.append(_read_in(words, index, text))
            index += 1
        else:
            raise error_at(
                text,
                offset,
                f"unexpected {quote(word)}: expected an RRULE:, a DTSTART or 'in ZONE'",
                field="rrule",
                value=word,
                allowed="DTSTART..., RRULE:..., in ZONE",
            )
        index += 1
    if rule is None:
        raise error_at(
            text,
            end_offset(text),
            "the rule is missing: expected RRULE:FREQ=...",
            field="rrule",
            value=text,
            allowed=ALLOWED_RULE,
        )
    name = _agreed_zone(zones, timezone, text)
    parts = read_parts(rule[0], rule[1], text)
    needing = part_needing_an_anchor(parts)
    if start is None and needing is not None:
        raise error_at(
            text,
            rule[1] + part_offset(rule[0], needing),
            anchor_missing(needing, canonical_rule(parts)),
            field="dtstart",
            value=needing,
            allowed="a DTSTART line before the RRULE",
        )
    dtstart = DEFAULT_DTSTART if start is None else start
    try:
        return RRule(canonical_rule(parts), dtstart, name)
    except ScheduleValidationError as exc:  # what only dateutil can tell (RulePlan.check)
        raise relocate(exc, text, rule[1]) from None


def _read_in(words: list[tuple[str, int]], index: int, text: str) -> tuple[str, int]:
    if index + 1 >= len(words):
        raise error_at(
            text,
            end_offset(text),
            "the schedule ends too soon: expected a time zone name after 'in'",
            field="timezone",
            value=text,
            allowed="an IANA time zone name",
        )
    word, offset = words[index + 1]
    try:
        return canonical_zone_name(word), offset
    except ScheduleValidationError as exc:
        raise relocate(exc, text, offset) from None


def _agreed_zone(zones: list[tuple[str, int]], timezone: str | None, text: str) -> str:
    agreed = timezone
    for name, offset in zones:
        if agreed is not None and name != agreed:
            raise error_at(
                text,
                offset,
                f"the time zone {name} disagrees with {agreed} given elsewhere; "
                "give the zone in one place or make them agree",
                field="timezone",
                value=name,
                allowed=agreed,
            )
        agreed = name
    return agreed or "UTC"


def _read_dtstart(word: str, offset: int, text: str) -> tuple[datetime, list[str]]:
    found = _DTSTART.fullmatch(word)
    if found is None:
        raise error_at(
            text,
            offset,
            f"cannot read {quote(word)}: expected DTSTART:YYYYMMDDTHHMMSS, "
            "DTSTART;TZID=ZONE:YYYYMMDDTHHMMSS or DTSTART:YYYYMMDD",
            field="dtstart",
            value=word,
            allowed="DTSTART[;TZID=ZONE]:YYYYMMDD[THHMMSS[Z]]",
        )
    params, day, clock, utc = found.groups()
    zones: list[str] = []
    for param in filter(None, params.split(";")):
        key, _, value = param.partition("=")
        param_offset = offset + word.index(param)
        if key.upper() == "TZID":
            try:
                zones.append(canonical_zone_name(value))
            except ScheduleValidationError as exc:
                raise relocate(exc, text, param_offset) from None
        elif key.upper() != "VALUE" or value.upper() not in ("DATE", "DATE-TIME"):
            raise error_at(
                text,
                param_offset,
                f"unknown DTSTART parameter {quote(param)}: expected TZID=ZONE",
                field="dtstart",
                value=param,
                allowed="TZID=ZONE, VALUE=DATE, VALUE=DATE-TIME",
            )
    if utc:
        zones.append("UTC")
    value_offset = offset + word.index(":") + 1
    return read_datetime(day, clock, text, value_offset, "dtstart"), zones


def _stamp(moment: datetime) -> str:
    # strftime("%Y") does not pad years below 1000 on every platform.
    return (
        f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
        f"T{moment.hour:02d}{moment.minute:02d}{moment.second:02d}"
    )


# ------------------------------------------------------------------ English

_UNIT_WORDS: Final = ("year", "month", "week", "day", "hour", "minute", "second")


def _english(r: RRule) -> str:
    plan = r._plan
    parts = r.parts
    unit = _UNIT_WORDS[plan.freq]
    n = plan.interval
    every = {1: f"every {unit}", 2: f"every other {unit}"}.get(n, f"every {n} {unit}s")
    words = [every]
    if "BYMONTH" in parts or (plan.freq == du.YEARLY and plan.by["bymonth"]):
        words.append("in " + english_values(_ints(plan.by["bymonth"]), month_title))
    if "BYWEEKNO" in parts:
        words.append(f"in ISO week {parts['BYWEEKNO'].replace(',', ', ')}")
    if "BYYEARDAY" in parts:
        words.append(f"on day {parts['BYYEARDAY'].replace(',', ', ')} of the year")
    days = _days_english(plan, parts)
    if days:
        words.append(days)
    clock = _clock(plan)
    if clock:
        words.append(clock)
    if "COUNT" in parts:
        words.append(f"for {parts['COUNT']} occurrences from {r.dtstart.isoformat(sep=' ')}")
    elif plan.until is not None:
        words.append(f"until {plan.until.isoformat(sep=' ')}")
    if r.timezone != "UTC":
        words.append(f"({r.timezone} time)")
    return " ".join(words)


def _ints(values: object) -> tuple[int, ...]:
    assert isinstance(values, tuple)
    return values


def _days_english(plan: RulePlan, parts: dict[str, str]) -> str:
    month_days = plan.by["bymonthday"]
    weekdays = plan.by["byweekday"]
    pieces = []
    if month_days and ("BYMONTHDAY" in parts or plan.freq in (du.YEARLY, du.MONTHLY)):
        pieces.append("the " + english_list([_day_of_month(d) for d in _ints(month_days)]))
    picked = "BYSETPOS" in parts
    if weekdays:
        assert isinstance(weekdays, tuple)
        plain = {day.weekday for day in weekdays if not day.n}
        numbered = [day for day in weekdays if day.n]
        if plain == set(range(5)):
            named = ["weekday" if picked else "weekdays"]
        elif plain == {5, 6}:
            named = ["weekend day" if picked else "weekends"]
        else:
            plural = "" if picked else "s"
            named = [weekday_title(day + 1) + plural for day in sorted(plain)]
        named += [f"the {_nth(day.n)} {weekday_title(day.weekday + 1)}" for day in numbered]
        pieces.append(english_list(named, "or" if picked else "and"))
    text = " and ".join(pieces)
    if picked and text:
        positions = [_nth(p) for p in _ints(plan.by["bysetpos"])]
        text = f"the {english_list(positions)} {text}"
    return f"on {text}" if text else ""


def _day_of_month(day: int) -> str:
    return ordinal(day) if day > 0 else f"{_nth(day)} day"


def _nth(n: int) -> str:
    if n == -1:
        return "last"
    if n < 0:
        return f"{ordinal(-n)} to last"
    return ordinal(n)


def _clock(plan: RulePlan) -> str:
    fields = [plan.by["byhour"], plan.by["byminute"], plan.by["bysecond"]]
    if all(isinstance(f, tuple) and len(f) == 1 for f in fields):
        hour, minute, second = (_ints(f)[0] for f in fields)
        return f"at {hour:02d}:{minute:02d}:{second:02d}"
    named = [
        f"{name} {english_values(_ints(values))}"
        for name, values in zip(("hour", "minute", "second"), fields, strict=True)
        if values is not None
    ]
    return ("at " + ", ".join(named)) if named else ""
