"""parse(): schedule text of any of the three kinds to a value.

- RFC 5545 recurrence rules (`RRULE:...`, `DTSTART...`) -> RRule (rrule.py)
- classic cron (starts with a digit, `*` or `@`) -> Schedule (cron.py)
- the calendar language and `every N UNIT` -> Schedule or Interval (calendar_text.py)

Every failure is a ScheduleValidationError pointing at a line and column.
"""

from __future__ import annotations

import re
from typing import Final

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.calendar_text import read_schedule
from bgjobs.schedule.cron import looks_like_cron, read_cron
from bgjobs.schedule.grammar import error_at, parse_tree, quote
from bgjobs.schedule.model import Interval, Schedule, canonical_zone_name
from bgjobs.schedule.rrule import RRule, looks_like_rrule, read_rrule

# Schedules are plain ASCII: tab, newline and carriage return plus the printable
# characters. Checking up front keeps look-alikes out (Unicode digits, the
# Kelvin sign that matches `k` case-insensitively) and gives one clear message.
_NOT_ALLOWED: Final = re.compile(r"[^\t\n\r\x20-\x7e]")


def parse(text: str, timezone: str | None = None) -> Schedule | Interval | RRule:
    """Parse schedule text: the calendar language, an interval, classic cron or an RRULE.

    `timezone` attaches an IANA zone to a Schedule or RRule; it is an error
    if the text names a different one. Intervals have no zone.
    """
    if not isinstance(text, str):
        raise ScheduleValidationError(
            f"a schedule must be text (got {type(text).__name__} {text!r})",
            field="schedule",
            value=text,
            allowed="a string",
        )
    zone = None if timezone is None else canonical_zone_name(timezone)
    bad = _NOT_ALLOWED.search(text)
    if bad is not None:
        raise error_at(
            text,
            bad.start(),
            f"unexpected character {quote(bad.group())} (U+{ord(bad.group()):04X}): "
            "schedules are written in plain ASCII",
            field="schedule",
            value=bad.group(),
            allowed="ASCII letters, digits, spaces and * , - / : @ + _",
        )
    if looks_like_rrule(text):
        return read_rrule(text, zone)
    if looks_like_cron(text):
        return read_cron(text, zone)
    return read_schedule(parse_tree(text, "schedule"), text, zone)
