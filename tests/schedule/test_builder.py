"""The fluent builder (SPEC 2.2.1): the seed's names, immutable, checked at each call."""

from __future__ import annotations

import dataclasses

import pytest

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import EVERY, DayRule, Schedule, ScheduleBuilder, new_schedule, parse
from bgjobs.schedule.model import step_values


def test_a_new_schedule_fires_at_second_zero_of_every_minute() -> None:
    assert new_schedule().build() == Schedule()
    assert new_schedule().build() == parse("every minute")


def test_every_call_returns_a_new_builder() -> None:
    start = new_schedule()
    changed = start.on_minute(5)
    assert changed is not start
    assert start.minute is EVERY and changed.minute == {5}
    with pytest.raises(dataclasses.FrozenInstanceError):
        start.minute = frozenset({1})  # type: ignore[misc]


def test_on_and_between_replace_every_and_then_add() -> None:
    b = new_schedule().on_hour(8).between_hours(14, 16).on_hour(20)
    assert b.build().hour == {8, 14, 15, 16, 20}


def test_the_default_second_is_replaced_by_the_first_explicit_call() -> None:
    assert new_schedule().on_second(30).build().second == {30}
    assert new_schedule().between_seconds(10, 12).build().second == {10, 11, 12}
    assert new_schedule().on_second(30).on_second(0).build().second == {0, 30}


def test_every_resets_a_field() -> None:
    b = new_schedule().on_minute(5).every_minute().on_hour(1).every_hour()
    assert b.build().minute is EVERY and b.build().hour is EVERY
    assert new_schedule().every_second().build().second is EVERY
    assert new_schedule().on_month(2).every_month().build().month is EVERY
    assert new_schedule().on_day_of_month(2).every_day_of_month().build().day_of_month is EVERY
    assert new_schedule().on_mondays().every_day_of_week().build().day_of_week is EVERY


def test_every_n_minutes_and_hours_keep_the_step() -> None:
    s = new_schedule().every_minutes(15).every_hours(6).build()
    assert s == parse("minute */15 hour */6")
    assert s.minute_step == 15 and s.hour_step == 6
    assert new_schedule().every_minutes(1).build().minute is EVERY


def test_adding_to_a_step_makes_a_plain_set() -> None:
    s = new_schedule().every_minutes(30).on_minute(10).build()
    assert s.minute == {0, 10, 30} and s.minute_step is None


def test_ranges_include_both_ends() -> None:
    s = (
        new_schedule()
        .between_seconds(0, 59)
        .between_minutes(0, 59)
        .between_hours(0, 23)
        .between_day_of_months(1, 31)
        .between_months(1, 12)
        .between_day_of_weeks(1, 7)
        .build()
    )
    assert s.second == frozenset(range(60)) and s.minute == frozenset(range(60))
    assert s.hour == frozenset(range(24)) and s.day_of_month == frozenset(range(1, 32))
    assert s.month == frozenset(range(1, 13)) and s.day_of_week == frozenset(range(1, 8))


@pytest.mark.parametrize(
    ("method", "low", "high"),
    [
        ("on_second", 0, 59),
        ("on_minute", 0, 59),
        ("on_hour", 0, 23),
        ("on_day_of_month", 1, 31),
        ("on_month", 1, 12),
        ("on_day_of_week", 1, 7),
    ],
)
def test_bounds_both_ends(method: str, low: int, high: int) -> None:
    call = getattr(new_schedule(), method)
    call(low).build()
    call(high).build()
    for outside in (low - 1, high + 1):
        with pytest.raises(ScheduleValidationError) as caught:
            getattr(new_schedule(), method)(outside)
        assert caught.value.value == outside
        assert caught.value.allowed == f"{low}..{high}"


def test_between_seconds_50_30_is_refused_at_the_call() -> None:
    with pytest.raises(ScheduleValidationError) as caught:
        new_schedule().between_seconds(50, 30)
    assert caught.value.field == "second" and caught.value.value == "50-30"
    assert caught.value.allowed == "0..59"
    assert "inverted" in str(caught.value)


def test_month_13_is_refused() -> None:
    with pytest.raises(ScheduleValidationError) as caught:
        new_schedule().on_month(13)
    assert (caught.value.field, caught.value.value, caught.value.allowed) == ("month", 13, "1..12")


def test_a_bool_or_a_float_is_not_a_value() -> None:
    with pytest.raises(ScheduleValidationError):
        new_schedule().on_minute(True)
    with pytest.raises(ScheduleValidationError):
        new_schedule().on_minute(1.5)  # type: ignore[arg-type]


def test_bad_steps_are_refused() -> None:
    with pytest.raises(ScheduleValidationError):
        new_schedule().every_minutes(0)
    with pytest.raises(ScheduleValidationError):
        new_schedule().every_hours(-2)


def test_build_refuses_a_schedule_that_never_fires() -> None:
    b = new_schedule().between_day_of_months(30, 31).on_februaries()
    with pytest.raises(ScheduleValidationError, match="never fire"):
        b.build()
    assert new_schedule().on_day_of_month(29).on_februaries().build().month == {2}


@pytest.mark.parametrize(
    ("method", "day"),
    [
        ("on_mondays", 1),
        ("on_tuesdays", 2),
        ("on_thuesdays", 2),
        ("on_wednesdays", 3),
        ("on_thursdays", 4),
        ("on_fridays", 5),
        ("on_saturdays", 6),
        ("on_sundays", 7),
    ],
)
def test_weekday_shortcuts(method: str, day: int) -> None:
    assert getattr(new_schedule(), method)().build().day_of_week == {day}


def test_weekdays_and_weekends() -> None:
    assert new_schedule().on_weekdays().build().day_of_week == {1, 2, 3, 4, 5}
    assert new_schedule().on_weekends().build().day_of_week == {6, 7}
    assert new_schedule().on_weekends().on_mondays().build().day_of_week == {1, 6, 7}


MONTH_SHORTCUTS = [
    "on_januaries",
    "on_februaries",
    "on_marches",
    "on_aprils",
    "on_mays",
    "on_junes",
    "on_julies",
    "on_augusts",
    "on_septembers",
    "on_octobers",
    "on_novembers",
    "on_decembers",
]


@pytest.mark.parametrize(("index", "method"), list(enumerate(MONTH_SHORTCUTS)))
def test_month_shortcuts_each_name_their_own_month(index: int, method: str) -> None:
    # The seed set January in every one of these; each names its own month here.
    assert getattr(new_schedule(), method)().build().month == {index + 1}


def test_in_timezone() -> None:
    s = new_schedule().on_hour(3).in_timezone("europe/stockholm").build()
    assert s.timezone == "Europe/Stockholm"
    with pytest.raises(ScheduleValidationError, match="unknown time zone"):
        new_schedule().in_timezone("Nowhere/Special")


def test_the_builder_uses_the_and_rule() -> None:
    s = new_schedule().on_day_of_month(13).on_fridays().build()
    assert s.day_rule is DayRule.AND
    assert s == parse("day 13 on friday")


def test_builder_is_exported_and_hashable() -> None:
    b = new_schedule().on_minute(1)
    assert isinstance(b, ScheduleBuilder)
    assert hash(b) == hash(new_schedule().on_minute(1))
    assert new_schedule().every_minutes(20).build().minute == step_values("minute", 20)
