"""parse(): the calendar language, intervals and classic cron (SPEC 2.2, 2.3)."""

from __future__ import annotations

import pytest

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import EVERY, DayRule, Interval, Schedule, new_schedule, parse
from bgjobs.schedule.model import step_values


def schedule(text: str, timezone: str | None = None) -> Schedule:
    value = parse(text, timezone)
    assert isinstance(value, Schedule), value
    return value


def refused(text: str, timezone: str | None = None) -> ScheduleValidationError:
    with pytest.raises(ScheduleValidationError) as caught:
        parse(text, timezone)
    return caught.value


# ------------------------------------------------------------ calendar language


def test_the_seed_example_equals_the_builder() -> None:
    built = (
        new_schedule()
        .on_second(1)
        .between_seconds(10, 15)
        .on_minute(30)
        .on_hour(8)
        .between_hours(14, 16)
        .on_thursdays()
        .between_months(3, 6)
        .build()
    )
    assert parse("second 1,10-15 minute 30 hour 8,14-16 on thursday months 3-6") == built
    assert built.second == {1, 10, 11, 12, 13, 14, 15}
    assert built.hour == {8, 14, 15, 16}
    assert built.day_of_week == {4}
    assert built.month == {3, 4, 5, 6}


def test_clauses_come_in_any_order_and_keywords_in_any_case() -> None:
    a = parse("second 5 minute 10 hour 3 day 1 month 2 on monday in Europe/Stockholm")
    b = parse("IN europe/stockholm ON Monday Month 2 DAYS 1 Hours 3 MINUTES 10 SECONDS 5")
    assert a == b
    assert isinstance(a, Schedule) and a.timezone == "Europe/Stockholm"


def test_defaults_are_second_zero_and_every_other_field() -> None:
    s = schedule("on friday")
    assert s.second == {0}
    assert s.minute is EVERY and s.hour is EVERY and s.day_of_month is EVERY
    assert s.month is EVERY and s.day_of_week == {5}
    assert s.day_rule is DayRule.AND and s.timezone == "UTC"


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("on thursday", {4}),
        ("on thu", {4}),
        ("on thursdays", {4}),
        ("on monday-friday", {1, 2, 3, 4, 5}),
        ("on mon-wed,fridays", {1, 2, 3, 5}),
        ("on weekdays", {1, 2, 3, 4, 5}),
        ("on weekends", {6, 7}),
        ("on weekends,monday", {1, 6, 7}),
        ("on sunday", {7}),
    ],
)
def test_weekday_names(text: str, days: set[int]) -> None:
    assert schedule(text).day_of_week == days


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("month march", {3}),
        ("months mar-jun", {3, 4, 5, 6}),
        ("month 3-JUNE", {3, 4, 5, 6}),
        ("month jan,may,december", {1, 5, 12}),
        ("month */3", {1, 4, 7, 10}),
        ("month jan-dec/6", {1, 7}),
    ],
)
def test_month_names_and_numbers(text: str, months: set[int]) -> None:
    assert schedule(text).month == months


def test_list_items() -> None:
    s = schedule("second 1,5-7,10-20/5,*/30")
    assert s.second == {0, 1, 5, 6, 7, 10, 15, 20, 30}


def test_star_step_on_minute_and_hour_keeps_the_step() -> None:
    s = schedule("minute */15 hour */6")
    assert s.minute == step_values("minute", 15) and s.minute_step == 15
    assert s.hour == {0, 6, 12, 18} and s.hour_step == 6


def test_star_slash_one_is_every() -> None:
    s = schedule("minute */1 hour */1 second */1")
    assert s.minute is EVERY and s.minute_step is None
    assert s.hour is EVERY and s.hour_step is None
    assert s.second is EVERY


def test_a_full_range_is_a_set_not_every() -> None:
    s = schedule("minute 0-59")
    assert s.minute == frozenset(range(60)) and s.minute_step is None


def test_a_step_list_that_equals_the_step_keeps_it() -> None:
    assert schedule("minute */15,30").minute_step == 15


def test_a_leading_step_may_list_more_values_and_keeps_its_star() -> None:
    # Debian cron, cronsim and croniter accept these; the leading star keeps
    # the elapsed-time daylight-saving rule.
    s = schedule("*/15,7 * * * *")
    assert s.minute == {0, 7, 15, 30, 45} and s.minute_step == 15
    assert str(s) == "second 0 minute */15,7"
    h = schedule("hours */7,0,22")
    assert h.hour == {0, 7, 14, 21, 22} and h.hour_step == 7
    assert str(h) == "second 0 hour */7,22"
    assert schedule(str(h)) == h
    # The same values and a star: the smallest step that fits is kept.
    assert schedule("minute */30,15,45") == schedule("minute */15")
    assert schedule("*/2,1-59/2 * * * *").minute is EVERY


def test_a_step_that_does_not_lead_is_a_plain_set() -> None:
    s = schedule("* 0,*/6 * * *")
    assert s.hour == {0, 6, 12, 18} and s.hour_step is None


def test_at_sets_second_minute_and_hour() -> None:
    assert schedule("at 8:30") == schedule("second 0 minute 30 hour 8")
    assert schedule("at 08:30:15") == schedule("second 15 minute 30 hour 8")
    assert schedule("at 23:59:59") == schedule("second 59 minute 59 hour 23")
    assert schedule("at 0:00") == schedule("second 0 minute 0 hour 0")


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("every second", "second */1"),
        ("every minute", "second 0"),
        ("every hour", "second 0 minute 0"),
        ("every day", "at 00:00:00"),
        ("every day at 08:30", "at 08:30"),
        ("every week", "at 00:00 on monday"),
        ("every week on friday at 12:00", "at 12:00 on friday"),
        ("every month", "at 00:00 day 1"),
        ("every month day 15", "at 00:00 day 15"),
        ("every month on monday", "at 00:00 on monday"),
        ("every hour minute 30", "second 0 minute 30"),
        ("every minute second 30", "second 30"),
        ("every day hour 5", "at 05:00"),
        ("every day on weekdays at 08:00", "at 08:00 on weekdays"),
        ("every month day 1-7 on monday at 9:00", "at 09:00 day 1-7 on monday"),
    ],
)
def test_every_unit_fires_at_the_start_of_the_unit_unless_told(text: str, same_as: str) -> None:
    assert parse(text) == parse(same_as)


def test_day_or_on_selects_the_or_rule() -> None:
    s = schedule("day 1,15 or on monday month 2")
    assert s.day_of_month == {1, 15} and s.day_of_week == {1} and s.month == {2}
    assert s.day_rule is DayRule.OR


def test_day_and_on_combine_with_and() -> None:
    s = schedule("day 13 on friday")
    assert s.day_rule is DayRule.AND


def test_february_29th_is_valid() -> None:
    s = schedule("day 29 months 2")
    assert s.day_of_month == {29} and s.month == {2}


def test_whitespace_and_lines_between_clauses() -> None:
    assert parse("  second 1,\t2\n minute 3 \n") == parse("second 1,2 minute 3")


# -------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("every 1 ms", 1),
        ("every 1500 milliseconds", 1500),
        ("every 1 millisecond", 1),
        ("every 1 second", 1000),
        ("every 90 seconds", 90_000),
        ("every 5 minutes", 300_000),
        ("every 2 hours", 7_200_000),
        ("every 3 days", 3 * 86_400_000),
        ("every 2 weeks", 14 * 86_400_000),
        ("EVERY 2 Weeks", 14 * 86_400_000),
        ("every 5217 weeks", 5217 * 604_800_000),
    ],
)
def test_intervals(text: str, ms: int) -> None:
    assert parse(text) == Interval(ms)


def test_every_second_is_a_schedule_and_every_1_second_an_interval() -> None:
    assert isinstance(parse("every second"), Schedule)
    assert parse("every 1 second") == Interval.seconds(1)


def test_interval_bounds_both_ends() -> None:
    assert parse("every 36525 days") == Interval(36525 * 86_400_000)
    error = refused("every 36526 days")
    assert error.field == "interval" and error.column == 7
    error = refused("every 0 ms")
    assert error.field == "interval" and error.column == 7 and error.value == 0
    error = refused("every 99999999999999999999999 weeks")
    assert "too large" in str(error)


def test_an_interval_stands_alone() -> None:
    error = refused("every 5 minutes in UTC")
    assert error.column == 17 and "stands alone" in str(error)


# ------------------------------------------------------------------ classic cron


def test_five_field_cron() -> None:
    s = schedule("30 8 * * 4")
    assert s == schedule("at 08:30 on thursday")
    assert s.second == {0}


def test_six_field_cron_has_seconds_first() -> None:
    assert schedule("15 30 8 * * 4") == schedule("at 08:30:15 on thursday")
    assert schedule("* * * * * *").second is EVERY


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("* * * * 0", {7}),
        ("* * * * 7", {7}),
        ("* * * * 0-2", {7, 1, 2}),
        ("* * * * 5-7", {5, 6, 7}),
    ],
)
def test_sunday_is_0_or_7(text: str, days: set[int]) -> None:
    assert schedule(text).day_of_week == days


def test_cron_names_in_any_case() -> None:
    s = schedule("0 9 * JAN-mar Mon-FRI")
    assert s.month == {1, 2, 3} and s.day_of_week == {1, 2, 3, 4, 5}
    assert schedule("0 9 * * sun").day_of_week == {7}


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("*/5", set(range(0, 60, 5))),
        ("10-50/5", set(range(10, 51, 5))),
        ("5/15", {5, 20, 35, 50}),
        ("7-7/10", {7}),  # `a-a/n` is just `a`
        ("1,2,3", {1, 2, 3}),
        ("58-59,0", {0, 58, 59}),
    ],
)
def test_cron_steps(field: str, values: set[int]) -> None:
    s = schedule(f"{field} * * * * *")
    assert s.second == values


def test_cron_minute_step_is_kept() -> None:
    s = schedule("*/15 */2 * * *")
    assert s.minute_step == 15 and s.hour_step == 2


def test_cron_star_rule_for_the_day_fields() -> None:
    # Neither day field starts with `*`: either may match.
    assert schedule("0 0 1 * mon").day_rule is DayRule.OR
    assert schedule("0 0 1-31 * 1").day_rule is DayRule.OR
    # One of them starts with `*`: both must match.
    starred = schedule("0 0 */2 * mon")
    assert starred.day_rule is DayRule.AND and starred.day_of_month == set(range(1, 32, 2))
    assert schedule("0 0 1 * *").day_rule is DayRule.AND
    assert schedule("0 0 * * 1").day_of_month is EVERY


def test_cron_or_rule_makes_february_30_valid() -> None:
    s = schedule("0 0 30 2 mon")
    assert s.day_rule is DayRule.OR and s.day_of_month == {30} and s.day_of_week == {1}


@pytest.mark.parametrize(
    ("macro", "line"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
    ],
)
def test_cron_macros(macro: str, line: str) -> None:
    assert parse(macro) == parse(line)


def test_cron_with_a_zone() -> None:
    s = schedule("0 3 * * * in america/new_york")
    assert s.timezone == "America/New_York" and s.hour == {3}
    assert schedule("@daily in Europe/Stockholm").timezone == "Europe/Stockholm"


def test_cron_star_means_every() -> None:
    s = schedule("* * * * *")
    assert s == Schedule()


# --------------------------------------------------------------------- timezone


def test_timezone_argument_attaches_a_zone() -> None:
    assert schedule("at 03:00", timezone="europe/stockholm").timezone == "Europe/Stockholm"
    assert schedule("0 3 * * *", timezone="Asia/Kolkata").timezone == "Asia/Kolkata"


def test_timezone_argument_may_repeat_the_text() -> None:
    s = schedule("at 03:00 in Europe/Stockholm", timezone="EUROPE/STOCKHOLM")
    assert s.timezone == "Europe/Stockholm"


def test_timezone_argument_must_agree_with_the_text() -> None:
    error = refused("at 03:00 in Europe/Stockholm", timezone="UTC")
    assert error.field == "timezone" and error.column == 13
    error = refused("0 3 * * * in Europe/Stockholm", timezone="Asia/Kolkata")
    assert error.column == 14


def test_unknown_timezone_argument() -> None:
    error = refused("at 03:00", timezone="Mars/Olympus")
    assert error.field == "timezone" and "Mars/Olympus" in str(error)


def test_intervals_ignore_the_timezone_argument() -> None:
    assert parse("every 5 minutes", timezone="Europe/Stockholm") == Interval.minutes(5)


# ------------------------------------------------------------- bounds, both ends

CALENDAR_BOUNDS = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
]
FIELD_NAMES = {"day": "day_of_month"}


@pytest.mark.parametrize(("keyword", "low", "high"), CALENDAR_BOUNDS)
def test_calendar_bounds_both_ends(keyword: str, low: int, high: int) -> None:
    name = FIELD_NAMES.get(keyword, keyword)
    assert getattr(schedule(f"{keyword} {low}"), name) == {low}
    assert getattr(schedule(f"{keyword} {high}"), name) == {high}
    assert getattr(schedule(f"{keyword} {low}-{high}"), name) == set(range(low, high + 1))
    for outside in (low - 1, high + 1):
        if outside < 0:
            continue  # `-1` is not a number in the language at all
        text = f"{keyword} {outside}"
        error = refused(text)
        assert error.field == name
        assert error.value == outside
        assert error.allowed is not None and f"{low}..{high}" in error.allowed
        assert (error.line, error.column) == (1, len(keyword) + 2)
        assert error.text == text


def test_second_minus_one_is_a_syntax_error() -> None:
    error = refused("second -1")
    assert error.column == 8


CRON_BOUNDS = [(0, 0, 59), (1, 0, 59), (2, 0, 23), (3, 1, 31), (4, 1, 12), (5, 0, 7)]


@pytest.mark.parametrize(("index", "low", "high"), CRON_BOUNDS)
def test_cron_bounds_both_ends(index: int, low: int, high: int) -> None:
    def line(value: int) -> str:
        fields = ["*"] * 6
        fields[index] = str(value)
        return " ".join(fields)

    parse(line(low))
    parse(line(high))
    error = refused(line(high + 1))
    assert error.column == 2 * index + 1 and error.value == high + 1
    assert error.allowed is not None and error.allowed.startswith(f"{low}..{high}")
    if low > 0:
        assert refused(line(low - 1)).value == low - 1


def test_weekday_bounds_in_the_calendar_language() -> None:
    assert schedule("on monday-sunday").day_of_week == set(range(1, 8))


# ----------------------------------------------------------------------- errors


def test_month_13_names_field_value_allowed_and_column() -> None:
    error = refused("second 1 month 13")
    assert (error.field, error.value, error.allowed) == ("month", 13, "1..12 or jan..dec")
    assert (error.line, error.column) == (1, 16)
    assert str(error).endswith("  second 1 month 13\n                 ^")


def test_second_60() -> None:
    error = refused("second 60")
    assert (error.field, error.value) == ("second", 60)


def test_inverted_range() -> None:
    error = refused("minute 5-2")
    assert error.field == "minute" and error.value == "5-2" and error.column == 8
    assert "inverted" in str(error)


@pytest.mark.parametrize("text", ["second */0", "minute 1-5/0", "0/0 * * * *", "* * */0 * *"])
def test_zero_step(text: str) -> None:
    error = refused(text)
    assert "step" in str(error) and error.value == 0


def test_wrapping_weekday_range_suggests_the_fix() -> None:
    error = refused("on sunday-tuesday")
    assert "sunday,monday-tuesday" in str(error)
    assert error.field == "day_of_week" and error.column == 4
    assert "friday-sunday,monday-tuesday" in str(refused("on fri-tue"))
    assert "saturday-sunday,monday" in str(refused("on saturday-monday"))


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("second 1 second 2", 10),
        ("at 08:30 minute 5", 10),
        ("minute 5 at 08:30", 10),
        ("on monday day 1 or on friday", 20),
        ("every hour hour 3", 12),
        ("every day every hour", 11),
        ("every week day 3", 12),
        ("in UTC in UTC", 8),
    ],
)
def test_a_field_given_twice(text: str, column: int) -> None:
    error = refused(text)
    assert "twice" in str(error) and error.column == column


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ("day 30-31 months 2", 5),
        ("day 31 month 4,6,9,11", 5),
        ("at 1:00 day 30 month feb", 13),
        ("0 0 30 2 *", 5),
        ("0 0 31 4 *", 5),
        ("0 0 0 30 2 *", 7),
    ],
)
def test_schedules_that_never_fire(text: str, column: int) -> None:
    error = refused(text)
    assert "never fire" in str(error) and error.column == column
    assert error.field == "day_of_month"


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("on funday", 4, "weekday name"),
        ("second", 7, "ends too soon"),
        ("seconds 5 hourz 3", 11, "unknown word 'hourz'"),
        ("at 8:3", 4, "'8:3'"),
        ("at 24:00", 4, "hour must be in 0..23"),
        ("at 12:60", 7, "minute must be in 0..59"),
        ("at 12:00:60", 10, "second must be in 0..59"),
        ("every 5 months", 9, "expected 'second'"),
        ("every seconds", 7, "every second"),
        ("in Mars/Base", 4, "unknown time zone"),
        ("", 1, "empty schedule"),
        ("   ", 1, "empty schedule"),
        ("second 1 or on monday", 10, "expected"),
        ("ſecond 5", 1, "plain ASCII"),
        ("second ５", 8, "plain ASCII"),
        ("second 1\x00", 9, "plain ASCII"),
        ("08:30", 6, "at 08:30"),
        ("1 2 3", 6, "too few fields"),
        ("1 2 3 4 5 6 7", 13, "too many fields"),
        ("@Daily", 1, "lower case"),
        ("@reboot", 1, "unknown cron macro"),
        ("@daily 5", 8, "stands for a whole cron line"),
        ("0 0 * * * in", 13, "time zone"),
        ("0 0 * * monday", 9, "sun..sat"),
        ("0 0 * january *", 7, "jan..dec"),
        ("0 0 * * fri-mon", 9, "inverted"),
        ("0 0 * * L", 9, None),
        ("0 0 L-31 * *", 5, "days before the last day must be 1..30"),
        ("0 0 L-0 * *", 5, "the last day itself is 'L'"),
        ("0 0 32W * *", 5, "day_of_month must be in 1..31"),
        ("0 0 * * 5#6", 11, "1..5"),
        ("0 0 * * 8L", 9, "day_of_week must be in 0..7"),
        ("0 0 LW-2 * *", 7, None),
        ("0 0 L/2 * *", 6, None),
        ("day 0 before last", 5, "days before the last day must be 1..30"),
        ("on 6th monday", 4, None),
        ("on last", 8, "weekday name"),
        ("day last weekday month 2 day 3", 26, "given twice"),
        ("day 30 nearest weekday month 2", 5, "never fire"),
        ("day 5 before last on 5th monday month 2", 5, "never fire"),
    ],
)
def test_error_points_at_the_offending_column(text: str, column: int, words: str | None) -> None:
    error = refused(text)
    assert error.line == 1 and error.column == column, str(error)
    if words is not None:
        assert words in str(error)
    assert error.text == text


def test_errors_on_a_later_line_point_at_that_line() -> None:
    error = refused("second 1\nminute 70")
    assert (error.line, error.column) == (2, 8)
    assert str(error).endswith("  minute 70\n         ^")


def test_a_parse_error_at_the_end_of_a_line_with_a_trailing_newline() -> None:
    error = refused("second 1,\n")
    assert (error.line, error.column) == (1, 10)
    assert "  second 1,\n" in str(error)


def test_not_text() -> None:
    with pytest.raises(ScheduleValidationError, match="must be text"):
        parse(5)  # type: ignore[arg-type]


def test_errors_are_value_errors_and_bgjobs_errors() -> None:
    from bgjobs.errors import BgJobsError

    error = refused("month 13")
    assert isinstance(error, ValueError) and isinstance(error, BgJobsError)
