"""next_after / iter_after: the contract of SPEC 2.4 on plain examples (UTC unless named)."""

from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import next_fire
from bgjobs.schedule.fields import DayRule
from bgjobs.schedule.model import Interval, Schedule, step_values


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def first(s: Schedule, t: datetime, n: int) -> list[datetime]:
    return list(itertools.islice(s.iter_after(t), n))


def values(*items: int) -> frozenset[int]:
    return frozenset(items)


AT_0830 = Schedule(minute=values(30), hour=values(8))


# -- input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda t: AT_0830.next_after(t),
        lambda t: AT_0830.iter_after(t),  # refused at the call, not at the first next()
        lambda t: next_fire.next_after(AT_0830, t),
        lambda t: Interval.seconds(5).next_after(t),
    ],
)
def test_naive_start_time_is_refused(call: object) -> None:
    with pytest.raises(ScheduleValidationError, match="timezone-aware") as caught:
        call(datetime(2024, 1, 1, 12, 0))  # type: ignore[operator]
    assert "2024-01-01T12:00:00" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_date_is_not_a_start_time() -> None:
    with pytest.raises(ScheduleValidationError, match="aware datetime"):
        AT_0830.next_after(date(2024, 1, 1))  # type: ignore[arg-type]


# -- strictly after, to the second ---------------------------------------------


def test_a_fire_time_itself_is_not_after_itself() -> None:
    assert AT_0830.next_after(utc(2024, 1, 1, 8, 30)) == utc(2024, 1, 2, 8, 30)
    assert AT_0830.next_after(utc(2024, 1, 1, 8, 29, 59)) == utc(2024, 1, 1, 8, 30)


def test_microseconds_in_the_start_time() -> None:
    just_before = utc(2024, 1, 1, 8, 29, 59).replace(microsecond=999_999)
    just_after = utc(2024, 1, 1, 8, 30).replace(microsecond=1)
    assert AT_0830.next_after(just_before) == utc(2024, 1, 1, 8, 30)
    assert AT_0830.next_after(just_after) == utc(2024, 1, 2, 8, 30)


def test_result_is_in_the_schedule_zone_whatever_the_start_zone() -> None:
    s = Schedule(minute=values(0), hour=values(9), timezone="Asia/Kolkata")
    start = datetime(2024, 1, 1, 12, 0, 0, 123_456, tzinfo=timezone(timedelta(hours=-8)))
    result = s.next_after(start)
    assert result is not None
    assert result.tzinfo is ZoneInfo("Asia/Kolkata")
    assert result.isoformat() == "2024-01-02T09:00:00+05:30"


def test_every_second_fires_every_second() -> None:
    s = Schedule(second=None)
    start = utc(2024, 12, 31, 23, 59, 58).replace(microsecond=500_000)
    assert first(s, start, 3) == [
        utc(2024, 12, 31, 23, 59, 59),
        utc(2025, 1, 1, 0, 0, 0),
        utc(2025, 1, 1, 0, 0, 1),
    ]


def test_ranges_are_inclusive_at_both_ends() -> None:
    s = Schedule(minute=values(0), hour=frozenset(range(14, 17)))
    assert [f.hour for f in first(s, utc(2024, 1, 1), 4)] == [14, 15, 16, 14]


def test_minute_step() -> None:
    s = Schedule(minute=step_values("minute", 15), minute_step=15)
    assert first(s, utc(2024, 1, 1, 23, 50), 3) == [
        utc(2024, 1, 2, 0, 0),
        utc(2024, 1, 2, 0, 15),
        utc(2024, 1, 2, 0, 30),
    ]


def test_seconds_and_minutes_carry_into_the_next_hour_day_month_year() -> None:
    s = Schedule(second=values(10, 20), minute=values(5, 59))
    assert first(s, utc(2024, 12, 31, 23, 59, 15), 3) == [
        utc(2024, 12, 31, 23, 59, 20),
        utc(2025, 1, 1, 0, 5, 10),
        utc(2025, 1, 1, 0, 5, 20),
    ]


# -- days ----------------------------------------------------------------------


def test_and_rule_needs_both_day_fields() -> None:
    friday_13th = Schedule(
        minute=values(0), hour=values(0), day_of_month=values(13), day_of_week=values(5)
    )
    assert first(friday_13th, utc(2024, 1, 1), 2) == [utc(2024, 9, 13), utc(2024, 12, 13)]


def test_or_rule_takes_either_day_field() -> None:
    s = Schedule(
        minute=values(0),
        hour=values(0),
        day_of_month=values(13),
        day_of_week=values(5),
        day_rule=DayRule.OR,
    )
    # Fri 5 Jan, Fri 12 Jan, Sat 13 Jan, Fri 19 Jan.
    assert [f.day for f in first(s, utc(2024, 1, 1), 4)] == [5, 12, 13, 19]


def test_day_of_week_is_iso_with_sunday_7() -> None:
    sundays = Schedule(minute=values(0), hour=values(0), day_of_week=values(7))
    result = sundays.next_after(utc(2024, 1, 1))  # a Monday
    assert result == utc(2024, 1, 7)
    assert result is not None and result.isoweekday() == 7


def test_day_31_skips_short_months() -> None:
    s = Schedule(minute=values(0), hour=values(0), day_of_month=values(31))
    assert [f.month for f in first(s, utc(2024, 1, 31, 1), 3)] == [3, 5, 7]


def test_leap_day_only_in_leap_years() -> None:
    s = Schedule(minute=values(0), hour=values(0), day_of_month=values(29), month=values(2))
    assert first(s, utc(2024, 3, 1), 2) == [utc(2028, 2, 29), utc(2032, 2, 29)]
    # 2100 is not a leap year (divisible by 100, not by 400); 2000 was.
    assert s.next_after(utc(2097, 3, 1)) == utc(2104, 2, 29)
    assert s.next_after(utc(1997, 3, 1)) == utc(2000, 2, 29)


def test_sparse_schedule_leap_day_on_a_monday() -> None:
    s = Schedule(
        minute=values(0),
        hour=values(0),
        day_of_month=values(29),
        month=values(2),
        day_of_week=values(1),
    )
    # Independent expectation: the calendar module, year by year.
    mondays = [y for y in range(2000, 2400) if calendar.isleap(y) and date(y, 2, 29).weekday() == 0]
    fires = first(s, utc(2000, 1, 1), 8)
    assert [f.year for f in fires] == mondays[:8]
    assert all((f.month, f.day, f.isoweekday()) == (2, 29, 1) for f in fires)
    assert max(b - a for a, b in itertools.pairwise(mondays[:8])) == 40  # over 2100


# -- the search bounds -----------------------------------------------------------


def test_search_stops_after_the_given_number_of_years() -> None:
    s = Schedule(
        minute=values(0),
        hour=values(0),
        day_of_month=values(29),
        month=values(2),
        day_of_week=values(1),
    )
    start = utc(2016, 3, 1)  # next leap-day Monday: 2044-02-29
    assert next_fire.next_after(s, start) == utc(2044, 2, 29)
    assert next_fire.next_after(s, start, within_years=28) == utc(2044, 2, 29)
    assert next_fire.next_after(s, start, within_years=27) is None
    assert next_fire.SEARCH_YEARS == 50


def test_nothing_after_year_9999() -> None:
    new_year_eve = Schedule(
        minute=values(0), hour=values(0), day_of_month=values(31), month=values(12)
    )
    assert new_year_eve.next_after(utc(9999, 12, 30)) == utc(9999, 12, 31)
    assert new_year_eve.next_after(utc(9999, 12, 31)) is None
    assert new_year_eve.next_after(datetime.max.replace(tzinfo=UTC)) is None
    assert first(new_year_eve, utc(9997, 6, 1), 5) == [
        utc(9997, 12, 31),
        utc(9998, 12, 31),
        utc(9999, 12, 31),
    ]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "America/New_York", "UTC"])
def test_no_overflow_at_the_edges_of_time(zone: str) -> None:
    every_minute = Schedule(timezone=zone)
    # Local time after 9999-12-31 23:59 (Kiritimati is UTC+14): nothing left.
    late = every_minute.next_after(utc(9999, 12, 31, 23, 0))
    assert late is None or late.timestamp() > utc(9999, 12, 31, 23, 0).timestamp()
    early = every_minute.next_after(datetime.min.replace(tzinfo=UTC))
    assert early is None or early.astimezone(UTC) > datetime.min.replace(tzinfo=UTC)


def test_many_schedules_each_keep_their_own_answer() -> None:
    # More schedules than the compiled-plan cache holds.
    schedules = [Schedule(minute=values(m % 60), hour=values(m // 60 % 24)) for m in range(1500)]
    start = utc(2024, 1, 1)
    for m, s in enumerate(schedules):
        assert s.next_after(start) == utc(2024, 1, 1, m // 60 % 24, m % 60) + (
            timedelta(days=1) if m % 1440 == 0 else timedelta()
        )
