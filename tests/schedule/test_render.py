"""Canonical text and English (SPEC 2.2.3), and the examples in docs/schedule-language.md."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import DayRule, Interval, Schedule, describe, parse
from bgjobs.schedule.model import step_values
from bgjobs.schedule.render import runs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schedule-language.md"


def test_the_default_schedule_prints_its_second() -> None:
    assert str(Schedule()) == "second 0"


def test_every_second() -> None:
    assert str(Schedule(second=None)) == "every second"
    assert str(Schedule(second=None, minute=frozenset({5}))) == "every second minute 5"


def test_field_order_and_singular_keywords() -> None:
    s = parse("in Asia/Kolkata on mondays months 2 days 3 hours 4 minutes 5 seconds 6")
    assert str(s) == "second 6 minute 5 hour 4 day 3 month 2 on monday in Asia/Kolkata"


def test_utc_is_left_out() -> None:
    assert str(parse("at 03:00 in utc")) == "second 0 minute 0 hour 3"


@pytest.mark.parametrize(
    ("values", "text"),
    [
        ({1}, "1"),
        ({1, 2}, "1,2"),
        ({1, 2, 3}, "1-3"),
        ({0, 1, 2, 4, 5, 7, 8, 9, 10}, "0-2,4,5,7-10"),
        ({59, 0, 30}, "0,30,59"),
        (set(range(60)), "0-59"),
    ],
)
def test_runs_of_three_or_more_become_ranges(values: set[int], text: str) -> None:
    assert str(Schedule(second=frozenset(values))) == f"second {text}"


def test_runs_helper() -> None:
    assert runs([5, 1, 2, 3, 9, 8]) == [(1, 3), (5, 5), (8, 9)]
    assert runs([]) == []


def test_a_kept_step_prints_as_a_step() -> None:
    s = Schedule(
        minute=step_values("minute", 15), minute_step=15, hour=step_values("hour", 6), hour_step=6
    )
    assert str(s) == "second 0 minute */15 hour */6"
    # The same values without the step are a plain list.
    assert str(Schedule(minute=step_values("minute", 15))) == "second 0 minute 0,15,30,45"


def test_weekdays_by_name_months_by_number() -> None:
    s = parse("month jan,mar-may on mon-wed,sunday")
    assert str(s) == "second 0 month 1,3-5 on monday-wednesday,sunday"


def test_the_or_rule() -> None:
    s = Schedule(
        day_of_month=frozenset({1, 15}),
        day_of_week=frozenset({1}),
        month=frozenset({2}),
        day_rule=DayRule.OR,
    )
    assert str(s) == "second 0 day 1,15 or on monday month 2"
    assert parse(str(s)) == s


def test_cron_prints_as_the_calendar_language() -> None:
    assert str(parse("*/10 9-17 * * mon-fri")) == "second 0 minute */10 hour 9-17 on monday-friday"
    assert str(parse("0 0 1 * 0")) == "second 0 minute 0 hour 0 day 1 or on sunday"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (1, "every 1 millisecond"),
        (1500, "every 1500 milliseconds"),
        (1000, "every 1 second"),
        (90_000, "every 90 seconds"),
        (60_000, "every 1 minute"),
        (7_200_000, "every 2 hours"),
        (5_400_000, "every 90 minutes"),
        (86_400_000, "every 1 day"),
        (3 * 86_400_000, "every 3 days"),
        (14 * 86_400_000, "every 2 weeks"),
        (36525 * 86_400_000, "every 36525 days"),
    ],
)
def test_interval_text(ms: int, text: str) -> None:
    assert str(Interval(ms)) == text
    assert parse(text) == Interval(ms)


def test_describe_falls_back_to_a_policys_own_words() -> None:
    class Described:
        def next_after(self, t: datetime) -> datetime | None:
            return None

        def describe(self) -> str:
            return "on business days"

    class Plain:
        def next_after(self, t: datetime) -> datetime | None:
            return None

        def __str__(self) -> str:
            return "my schedule"

    assert describe(Described()) == "on business days"
    assert describe(Plain()) == "my schedule"


def test_describe_a_few_more() -> None:
    assert describe(parse("every second")) == "every second"
    assert describe(parse("second 0 minute 0 hour 0 day 1 on monday")) == (
        "at 00:00:00 on the 1st if it is a Monday"
    )
    assert describe(parse("at 12:00 day 2,3,22,23 month 1")) == (
        "at 12:00:00 on the 2nd, 3rd, 22nd and 23rd, January"
    )
    assert describe(parse("at 7:00 month 1")) == "at 07:00:00 in January"
    assert describe(parse("every second minute 30 hour 8")) == "every second of 08:30 every day"
    assert (
        describe(parse("second 0,30 minute 30 hour 8")) == "at seconds 0 and 30 of 08:30 every day"
    )
    assert describe(parse("hour */2 minute 5")) == "at minute 5 of every 2 hours"


# -------------------------------------------------------------- docs examples


def _table(name: str) -> list[list[str]]:
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.DOTALL)
    assert found is not None, f"no {name} table in {DOCS}"
    rows = []
    for line in found.group(1).splitlines()[2:]:  # skip the header and the rule
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        rows.append([cell.strip("`") for cell in cells])
    assert rows
    return rows


@pytest.mark.parametrize(("text", "canonical", "description"), _table("examples"))
def test_docs_examples(text: str, canonical: str, description: str) -> None:
    value = parse(text)
    assert str(value) == canonical
    assert describe(value) == description
    assert parse(canonical) == value
    assert value.next_after(datetime(2025, 1, 1, tzinfo=UTC)) is not None


@pytest.mark.parametrize(("text", "message"), _table("errors"))
def test_docs_errors(text: str, message: str) -> None:
    with pytest.raises(ScheduleValidationError) as caught:
        parse(text)
    assert str(caught.value).startswith(message + "\n")
