"""next_after against a plain brute-force scan, on generated schedules and start times.

The reference (tests/schedule/reference.py) walks minute by minute and applies
the daylight-saving rule of SPEC 2.4 literally; start times cluster around
real DST transitions of zones with 1-hour, 30-minute and midnight shifts.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule.fields import DayRule
from bgjobs.schedule.model import Schedule, step_values
from tests.schedule.reference import (
    MINUTE,
    exists,
    is_fixed,
    minute_matches,
    reference_next,
    seconds_of,
    utc,
)
from tests.strategies import ZONES, field_values, nth_weekdays, relative_days

WINDOW = timedelta(days=3)


# -- generated input ---------------------------------------------------------


@cache
def transitions(zone_name: str) -> tuple[datetime, ...]:
    """UTC instants where the zone's offset changes, 2023 through 2025."""
    zone = ZoneInfo(zone_name)
    found = []
    day = datetime(2023, 1, 1, tzinfo=UTC)
    while day.year < 2026:
        later = day + timedelta(days=1)
        if day.astimezone(zone).utcoffset() != later.astimezone(zone).utcoffset():
            low, high = day, later
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == later.astimezone(zone).utcoffset():
                    high = middle
                else:
                    low = middle
            found.append(high)
        day = later
    return tuple(found)


def small_step_field(name: str) -> st.SearchStrategy[tuple[frozenset[int] | None, int | None]]:
    steps = st.integers(2, 12 if name == "hour" else 30).map(lambda n: (step_values(name, n), n))
    plain = field_values(name).map(lambda values: (values, None))
    return st.one_of(plain, plain, steps)


@st.composite
def frequent_schedules(draw: st.DrawFn) -> Schedule:
    """Schedules that usually fire within a few days, including every DST-relevant shape."""
    minute, minute_step = draw(small_step_field("minute"))
    hour, hour_step = draw(small_step_field("hour"))
    second = draw(st.one_of(st.just(frozenset({0})), field_values("second"), st.none()))
    day_of_month = draw(st.one_of(st.none(), st.none(), field_values("day_of_month", 20)))
    day_of_week = draw(st.one_of(st.none(), st.none(), field_values("day_of_week", 5)))
    # Sometimes days picked relative to the month (`L`, `15W`, `5#2`, `5L`).
    picking = draw(st.integers(0, 5))
    relative = draw(relative_days()) if picking == 0 else frozenset()
    nth = draw(nth_weekdays()) if picking == 1 else frozenset()
    rule = DayRule.AND
    if (day_of_month is not None or relative) and (day_of_week is not None or nth):
        rule = draw(st.sampled_from(DayRule))
    try:
        return Schedule(
            second=second,
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            day_of_week=day_of_week,
            minute_step=minute_step,
            hour_step=hour_step,
            day_rule=rule,
            timezone=draw(st.sampled_from(ZONES)),
            relative_days=relative,
            nth_weekdays=nth,
        )
    except ScheduleValidationError:
        assume(False)  # can never fire (`day 31 on 5th monday`, say)
        raise


@st.composite
def start_times(draw: st.DrawFn, zone_name: str) -> datetime:
    """Mostly close to (before or inside) a DST transition, sometimes anywhere."""
    zone = ZoneInfo(zone_name)
    near = transitions(zone_name)
    instant: datetime
    if len(near) > 0 and draw(st.booleans()):
        base = draw(st.sampled_from(near))
        offset = draw(st.integers(-2 * 86_400, 3 * 3600))
        instant = base + timedelta(seconds=offset)
    else:
        instant = draw(
            st.datetimes(datetime(1990, 1, 1), datetime(2060, 1, 1)).map(
                lambda d: d.replace(tzinfo=UTC)
            )
        )
    instant = instant.replace(microsecond=draw(st.sampled_from([0, 0, 1, 999_999])))
    # Hand the start over in UTC, in the schedule's zone, or in a fixed offset.
    how = draw(st.sampled_from(["utc", "zone", "offset"]))
    if how == "zone":
        return instant.astimezone(zone)
    if how == "offset":
        return instant.astimezone(timezone(timedelta(hours=-7, minutes=-30)))
    return instant


def assert_well_formed(s: Schedule, result: datetime) -> None:
    assert result.tzinfo is s.zone
    assert result.microsecond == 0
    # Canonical: the wall time and fold read back the same instant, so no
    # imaginary wall time and no wrong fold is ever returned.
    again = result.astimezone(UTC).astimezone(s.zone)
    assert (again.replace(tzinfo=None), again.fold) == (result.replace(tzinfo=None), result.fold)


# -- properties --------------------------------------------------------------


@settings(deadline=None, max_examples=150)
@given(data=st.data(), s=frequent_schedules())
def test_next_after_agrees_with_the_brute_force_scan(data: st.DataObject, s: Schedule) -> None:
    t = data.draw(start_times(s.timezone))
    expected = reference_next(s, t, WINDOW)
    result = s.next_after(t)
    if expected is None:
        # Nothing within the window: ours must lie beyond it (or not exist).
        assert result is None or utc(result) > utc(t) + WINDOW
    else:
        assert result is not None
        assert utc(result) == utc(expected), (str(result), str(expected.astimezone(s.zone)))
    if result is not None:
        assert utc(result) > utc(t)
        assert_well_formed(s, result)


@settings(deadline=None, max_examples=60)
@given(data=st.data(), s=frequent_schedules())
def test_each_fire_is_the_next_after_the_previous_one(data: st.DataObject, s: Schedule) -> None:
    """iter_after is strictly increasing and skips nothing the reference sees."""
    t = data.draw(start_times(s.timezone))
    fires = list(itertools.islice(s.iter_after(t), 4))
    previous = t
    for fire in fires:
        # Compared in UTC: within one zone, datetime compares wall clocks.
        assert utc(fire) > utc(previous)
        expected = reference_next(s, previous, window=timedelta(days=1))
        if expected is not None:
            assert utc(fire) == utc(expected)
        else:
            assert utc(fire) > utc(previous) + timedelta(days=1)
        previous = fire


@settings(deadline=None, max_examples=200)
@given(data=st.data(), s=frequent_schedules())
def test_the_result_matches_the_schedule_and_is_strictly_after(
    data: st.DataObject, s: Schedule
) -> None:
    t = data.draw(start_times(s.timezone))
    result = s.next_after(t)
    assert result is not None  # these schedules fire at least once a year
    assert utc(result) > utc(t)
    assert_well_formed(s, result)
    assert utc(result) - utc(t) <= timedelta(days=366 * 8 + 1)
    # The wall time it reads matches, or (wall-clock rule only) it is a skipped
    # wall time moved to the first minute after a gap.
    if not minute_matches(s, result) or result.second not in seconds_of(s):
        assert is_fixed(s)
        assert not exists(s.zone, result.replace(tzinfo=None) - MINUTE)
