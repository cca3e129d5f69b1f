"""prev_before: the last fire strictly before t, the mirror of next_after.

Checked against the brute-force reference scanned backwards
(tests/schedule/reference.py), on the generated schedules and DST-heavy start
times of the next_after properties (both day rules, every zone the suite
uses, spring-forward and fall-back), and against next_after itself: both
must describe one set of fire instants.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import Interval, Schedule, parse
from tests.schedule.reference import reference_prev, utc
from tests.schedule.test_next_fire_properties import (
    assert_well_formed,
    frequent_schedules,
    start_times,
)

WINDOW = timedelta(days=3)
SECOND = timedelta(seconds=1)
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def schedule(text: str) -> Schedule:
    value = parse(text)
    assert isinstance(value, Schedule), value
    return value


def local(s: Schedule, moment: datetime | None) -> str:
    assert moment is not None
    return moment.astimezone(s.zone).isoformat()


# -- properties --------------------------------------------------------------


@settings(deadline=None, max_examples=150)
@given(data=st.data(), s=frequent_schedules())
def test_prev_before_agrees_with_the_brute_force_scan(data: st.DataObject, s: Schedule) -> None:
    t = data.draw(start_times(s.timezone))
    expected = reference_prev(s, t, WINDOW)
    result = s.prev_before(t)
    if expected is None:
        # Nothing within the window: ours must lie before it (or not exist).
        assert result is None or utc(result) < utc(t) - WINDOW
    else:
        assert result is not None
        assert utc(result) == utc(expected), (str(result), str(expected.astimezone(s.zone)))
    if result is not None:
        assert utc(result) < utc(t)
        assert_well_formed(s, result)


@settings(deadline=None, max_examples=150)
@given(data=st.data(), s=frequent_schedules())
def test_prev_and_next_describe_one_set_of_fires(data: st.DataObject, s: Schedule) -> None:
    # With F the fire instants: next_after(t) is the least fire > t and
    # prev_before(t) the greatest fire < t. So the fire before the next one
    # is the greatest fire <= t, and the fire after the previous one the
    # least fire >= t (t itself when t fires).
    # Arithmetic in UTC: adding to an aware local time drops its fold.
    t = utc(data.draw(start_times(s.timezone))).replace(microsecond=0)
    following = s.next_after(t)
    if following is not None:
        assert s.prev_before(following) == s.prev_before(t + SECOND)
        assert utc(s.prev_before(following) or t) <= utc(t)
    preceding = s.prev_before(t)
    if preceding is not None:
        assert s.next_after(preceding) == s.next_after(t - SECOND)
        assert utc(s.next_after(preceding) or t) >= utc(t)


@settings(deadline=None, max_examples=60)
@given(data=st.data(), s=frequent_schedules())
def test_iter_before_is_iter_after_reversed(data: st.DataObject, s: Schedule) -> None:
    t = data.draw(start_times(s.timezone))
    forward = list(itertools.islice(s.iter_after(t), 5))
    assert len(forward) == 5
    backward = list(itertools.islice(s.iter_before(utc(forward[-1]) + SECOND), 5))
    assert [utc(f) for f in backward] == [utc(f) for f in reversed(forward)]


# -- daylight saving, mirrored ----------------------------------------------


def test_a_repeated_wall_time_fired_once_at_its_first_occurrence() -> None:
    # Stockholm falls back from 03:00 (+02:00) to 02:00 (+01:00) on 2024-10-27.
    s = schedule("30 2 * * * in Europe/Stockholm")
    after_both = datetime(2024, 10, 27, 4, 0, tzinfo=STOCKHOLM)
    assert local(s, s.prev_before(after_both)) == "2024-10-27T02:30:00+02:00"
    # From inside the second pass of the repeated hour it is still the first pass.
    second_pass = datetime(2024, 10, 27, 2, 10, fold=1, tzinfo=STOCKHOLM)
    assert local(s, s.prev_before(second_pass)) == "2024-10-27T02:30:00+02:00"
    first_pass = datetime(2024, 10, 27, 2, 10, tzinfo=STOCKHOLM)
    assert local(s, s.prev_before(first_pass)) == "2024-10-26T02:30:00+02:00"


def test_a_repeated_wall_time_fired_twice_in_elapsed_time() -> None:
    s = schedule("30 */1 * * * in Europe/Stockholm")
    after_both = datetime(2024, 10, 27, 3, 0, tzinfo=STOCKHOLM)
    fires = [local(s, f) for f in itertools.islice(s.iter_before(after_both), 3)]
    assert fires == [
        "2024-10-27T02:30:00+01:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T01:30:00+02:00",
    ]


def test_a_skipped_wall_time_fired_just_after_the_gap() -> None:
    # Stockholm springs forward from 02:00 (+01:00) to 03:00 (+02:00) on 2024-03-31.
    s = schedule("second 10 minute 30 hour 2 in Europe/Stockholm")
    assert local(s, s.prev_before(datetime(2024, 3, 31, 3, 0, 11, tzinfo=STOCKHOLM))) == (
        "2024-03-31T03:00:10+02:00"
    )
    assert local(s, s.prev_before(datetime(2024, 3, 31, 3, 0, 10, tzinfo=STOCKHOLM))) == (
        "2024-03-30T02:30:10+01:00"
    )
    # In elapsed time a skipped wall time never fires.
    stepped = schedule("30 */2 * * * in Europe/Stockholm")
    assert local(stepped, stepped.prev_before(datetime(2024, 3, 31, 5, 0, tzinfo=STOCKHOLM))) == (
        "2024-03-31T04:30:00+02:00"
    )
    assert local(stepped, stepped.prev_before(datetime(2024, 3, 31, 4, 0, tzinfo=STOCKHOLM))) == (
        "2024-03-31T00:30:00+01:00"
    )


def test_a_moved_fire_after_an_ordinary_one_in_the_minute_after_the_gap() -> None:
    # 02:30:50 moves to 03:00:50; 03:00:05 is an ordinary fire before it.
    s = schedule("second 5,50 minute 0,30 hour 2,3 in Europe/Stockholm")
    t = datetime(2024, 3, 31, 3, 0, 55, tzinfo=STOCKHOLM)
    fires = [local(s, f) for f in itertools.islice(s.iter_before(t), 3)]
    assert fires == [
        "2024-03-31T03:00:50+02:00",
        "2024-03-31T03:00:05+02:00",
        "2024-03-30T03:30:50+01:00",
    ]


# -- bounds and input --------------------------------------------------------


def test_sparse_schedules_jump_back_and_stop_after_50_years() -> None:
    leap_monday = schedule("day 29 month 2 on monday at 00:00")
    assert leap_monday.prev_before(datetime(2025, 1, 1, tzinfo=UTC)) == datetime(
        2016, 2, 29, tzinfo=UTC
    )
    assert leap_monday.prev_before(datetime(1960, 2, 29, 0, 0, 1, tzinfo=UTC)) == datetime(
        1960, 2, 29, tzinfo=UTC
    )
    # The next Monday 29 February before 1960 is in 1932: within 50 years.
    assert leap_monday.prev_before(datetime(1960, 2, 29, tzinfo=UTC)) == datetime(
        1932, 2, 29, tzinfo=UTC
    )
    # Near year 1 nothing earlier exists.
    assert schedule("at 00:00 day 2").prev_before(datetime(1, 1, 2, tzinfo=UTC)) is None


def test_microseconds_count_the_whole_second_before_them() -> None:
    s = schedule("every second")
    t = datetime(2025, 1, 1, 10, 0, 0, 500_000, tzinfo=UTC)
    assert s.prev_before(t) == datetime(2025, 1, 1, 10, 0, 0, tzinfo=UTC)
    assert s.prev_before(t.replace(microsecond=0)) == datetime(2025, 1, 1, 9, 59, 59, tzinfo=UTC)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ScheduleValidationError, match="timezone-aware"):
        schedule("every minute").prev_before(datetime(2025, 1, 1))


def test_an_interval_goes_back_by_itself() -> None:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    assert Interval.minutes(90).prev_before(t) == t - timedelta(minutes=90)
    back = list(itertools.islice(Interval.hours(1).iter_before(t), 2))
    assert back == [t - timedelta(hours=1), t - timedelta(hours=2)]
