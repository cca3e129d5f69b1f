"""Properties of the text side (SPEC 5): round trips, builder == parser, only our error escapes."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import DayRule, Interval, Schedule, new_schedule, parse
from bgjobs.schedule.builder import ScheduleBuilder
from bgjobs.schedule.fields import WEEKDAY_NAMES
from bgjobs.schedule.model import MAX_INTERVAL_MS
from bgjobs.schedule.month_days import LastDay, LastWeekday
from tests.strategies import cron_expressions, schedules


@settings(deadline=None, max_examples=200)
@given(schedules())
def test_parse_str_round_trip(s: Schedule) -> None:
    text = str(s)
    assert parse(text) == s
    assert str(parse(text)) == text


@settings(deadline=None, max_examples=200)
@given(cron_expressions(), st.sampled_from(["UTC", "Europe/Stockholm", "America/Santiago"]))
def test_cron_round_trip(line: str, zone: str) -> None:
    s = parse(line, timezone=zone)
    assert isinstance(s, Schedule)
    assert parse(str(s)) == s
    assert parse(f"{line} in {zone}") == s


@settings(deadline=None, max_examples=150)
@given(cron_expressions(seconds=True))
def test_six_field_cron_round_trip(line: str) -> None:
    s = parse(line)
    assert parse(str(s)) == s


@settings(deadline=None, max_examples=200)
@given(st.integers(1, MAX_INTERVAL_MS))
def test_interval_round_trip(ms: int) -> None:
    interval = Interval(ms)
    assert parse(str(interval)) == interval


def _build(s: Schedule) -> ScheduleBuilder:
    """The builder calls that say what `s` says, field by field."""
    b = new_schedule().in_timezone(s.timezone)
    b = b.every_second() if s.second is None else _add(b, "on_second", s.second)
    if s.minute_step is not None:
        b = b.every_minutes(s.minute_step)
    elif s.minute is not None:
        b = _add(b, "on_minute", s.minute)
    if s.hour_step is not None:
        b = b.every_hours(s.hour_step)
    elif s.hour is not None:
        b = _add(b, "on_hour", s.hour)
    for name in ("day_of_month", "month", "day_of_week"):
        values = getattr(s, name)
        if values is not None:
            b = _add(b, f"on_{name}", values)
    for day in sorted(s.relative_days, key=repr):
        if isinstance(day, LastDay):
            b = b.on_last_day_of_month(day.before) if day.before else b.on_last_day_of_month()
        elif isinstance(day, LastWeekday):
            b = b.on_last_weekday_of_month()
        else:
            b = b.on_nearest_weekday_to(day.day)
    for nth in sorted(s.nth_weekdays):
        # By name or by number, and `on_last` for the last: all the same.
        weekday = WEEKDAY_NAMES[nth.weekday - 1] if nth.nth % 2 else nth.weekday
        b = b.on_last(weekday) if nth.nth == -1 else b.on_nth_weekday(nth.nth, weekday)
    return b


def _add(b: ScheduleBuilder, method: str, values: frozenset[int]) -> ScheduleBuilder:
    for value in sorted(values):
        b = getattr(b, method)(value)
    return b


@settings(deadline=None, max_examples=200)
@given(schedules().filter(lambda s: s.day_rule is DayRule.AND))
def test_builder_equals_parser(s: Schedule) -> None:
    assert _build(s).build() == parse(str(s))


@settings(deadline=None, max_examples=200)
@given(st.text())
@example("second 1,")
@example("every 99999999999999999999999999999999999 weeks")
@example("minute " + "9" * 5000)
@example("0 0 " + "1," * 2000 + "1 * *")
@example("second " + ",".join(["1-2"] * 3000))
@example("\n\n\n")
@example("second 1\n")
@example("RRULE:FREQ=SECONDLY;INTERVAL=999999999999999")
@example("DTSTART:99991231T235959 RRULE:FREQ=SECONDLY")
def test_random_text_raises_only_schedule_validation_error(text: str) -> None:
    _parse_or_refuse(text)


TOKENS = [
    "second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week",
    "month", "months", "on", "at", "every", "in", "or", "ms", "milliseconds",
    "monday", "tue", "fridays", "sunday", "weekdays", "weekends", "jan", "march",
    "mon", "SUN", "dec", "Europe/Stockholm", "utc", "Mars/Base",
    "0", "1", "7", "12", "23", "29", "30", "31", "59", "60", "61", "999",
    "08:30", "8:30:15", "24:00",
    "*", "*/", "/", "-", ",", "*/0", "*/1", "*/15", "1-5", "5-1", "10-50/5", "5/15", "a-a",
    "@daily", "@hourly", "@yearly", "@reboot", "L", "#", "?", "W",
    "last", "nearest", "before", "weekday", "1st", "2nd", "5th", "6th", "L-3", "LW", "L-", "15W",
    "5#2", "fri#5", "5L", "0#1", "*,L", "L,1", "?,5",
    "RRULE:FREQ=DAILY", "RRULE:", "FREQ=MONTHLY", ";BYDAY=-1FR", ";BYHOUR=9", ";COUNT=3",
    ";UNTIL=20250101", ";BYSETPOS=2", ";INTERVAL=0", "DTSTART:20250101T000000", "DTSTART;TZID=UTC:",
    " ", "  ", "\n", "\t",
]  # fmt: skip


@settings(deadline=None, max_examples=300)
@given(st.lists(st.sampled_from(TOKENS), max_size=12).map(" ".join))
def test_token_soup_raises_only_schedule_validation_error(text: str) -> None:
    _parse_or_refuse(text)


@settings(deadline=None, max_examples=200)
@given(st.lists(st.sampled_from(TOKENS), max_size=12).map("".join))
def test_glued_token_soup_raises_only_schedule_validation_error(text: str) -> None:
    _parse_or_refuse(text)


def _parse_or_refuse(text: str) -> None:
    try:
        value = parse(text)
    except ScheduleValidationError as exc:
        # The message renders, with a place when the text has one.
        assert str(exc)
        if exc.line is not None:
            assert exc.text == text and exc.column is not None and exc.column >= 1
        return
    # Whatever parses prints back to itself.
    assert parse(str(value)) == value
