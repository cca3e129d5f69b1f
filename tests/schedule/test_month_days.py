"""Days picked relative to the month: `L`, `L-N`, `LW`, `NW`, `D#N`, `DL`, `?` and their words.

Worked examples are read off a calendar (2025-02-01 is a Saturday, 2025-03-15
a Saturday, 2025-08-31 a Sunday, 2025-05-31 a Saturday). The hypothesis
property checks whole months day by day with the plain reference
(tests/schedule/reference.py), which knows these items the way Quartz
documents them; cronsim checks `L`, `LW`, `D#N` and `DL` in
tests/schedule/test_cronsim_oracle.py.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import DayRule, Schedule, describe, new_schedule, parse
from bgjobs.schedule.month_days import LastDay, LastWeekday, NearestWeekday, NthWeekday
from tests.schedule.reference import minute_matches
from tests.strategies import field_values, nth_weekdays, relative_days


def schedule(text: str) -> Schedule:
    value = parse(text)
    assert isinstance(value, Schedule), value
    return value


def days(text: str, after: datetime, n: int = 4) -> list[str]:
    return [f.date().isoformat() for f in itertools.islice(schedule(text).iter_after(after), n)]


JAN_2025 = datetime(2025, 1, 1, tzinfo=UTC)


# -- what each item picks ------------------------------------------------------------


def test_last_day_and_days_before_it() -> None:
    assert days("0 0 L * *", JAN_2025, 3) == ["2025-01-31", "2025-02-28", "2025-03-31"]
    assert days("0 0 L-3 * *", JAN_2025, 3) == ["2025-01-28", "2025-02-25", "2025-03-28"]
    assert days("at 00:00 day 3 before last", JAN_2025, 3) == days("0 0 L-3 * *", JAN_2025, 3)
    # L-30 exists only in 31-day months.
    new_year = datetime(2024, 12, 31, tzinfo=UTC)
    assert days("0 0 L-30 * *", new_year, 2) == ["2025-01-01", "2025-03-01"]


def test_last_weekday() -> None:
    # May 2025 ends on a Saturday, August 2025 on a Sunday: both move to Friday.
    may = datetime(2025, 5, 1, tzinfo=UTC)
    assert days("0 0 LW * *", may, 4) == ["2025-05-30", "2025-06-30", "2025-07-31", "2025-08-29"]
    assert days("at 00:00 day last weekday", may, 4) == days("0 0 LW * *", may, 4)


def test_nearest_weekday_stays_in_the_month() -> None:
    # 2025-03-15 is a Saturday: the Friday before.
    assert days("0 0 15W 3 *", JAN_2025, 1) == ["2025-03-14"]
    # 2025-06-15 is a Sunday: the Monday after.
    assert days("0 0 15W 6 *", JAN_2025, 1) == ["2025-06-16"]
    # 2025-02-01 is a Saturday: not the Friday before (January), Monday the 3rd.
    assert days("0 0 1W 2 *", JAN_2025, 1) == ["2025-02-03"]
    # 2025-08-31 is a Sunday: not the Monday after (September), Friday the 29th.
    assert days("0 0 31W 8 *", JAN_2025, 1) == ["2025-08-29"]
    # A month without the day picks nothing: 31W skips April.
    assert days("0 0 31W 3-5 *", JAN_2025, 2) == ["2025-03-31", "2025-05-30"]
    assert days("at 00:00 day 15 nearest weekday month 3", JAN_2025, 1) == ["2025-03-14"]


def test_nth_and_last_weekday_of_the_month() -> None:
    assert days("0 0 * * 1#2", JAN_2025, 2) == ["2025-01-13", "2025-02-10"]
    assert days("0 0 * * mon#2", JAN_2025, 2) == ["2025-01-13", "2025-02-10"]
    assert days("0 0 * * 5L", JAN_2025, 2) == ["2025-01-31", "2025-02-28"]
    assert days("0 0 * * 0L", JAN_2025, 1) == days("0 0 * * 7L", JAN_2025, 1) == ["2025-01-26"]
    # A fifth Monday exists in some months only (March 2025 has one: the 31st).
    assert days("0 0 * * 1#5", JAN_2025, 2) == ["2025-03-31", "2025-06-30"]
    assert days("at 00:00 on 2nd monday", JAN_2025, 2) == ["2025-01-13", "2025-02-10"]
    assert days("at 00:00 on 1st,3rd tuesday", JAN_2025, 3) == [
        "2025-01-07",
        "2025-01-21",
        "2025-02-04",
    ]
    assert days("at 00:00 on last friday", JAN_2025, 1) == ["2025-01-31"]


def test_question_mark_is_a_star() -> None:
    assert parse("0 9 ? * 1#2") == parse("0 9 * * 1#2")
    assert parse("0 9 L * ?") == parse("0 9 L * *")
    # So it also chooses the AND rule: `L` alone, not `L` or any day.
    assert parse("0 9 L * ?").day_rule is DayRule.AND


def test_the_day_rule_combines_picked_days_like_plain_ones() -> None:
    # Cron OR (neither field starts with `*` or `?`): the last day, or any Friday.
    either = schedule("0 0 L * 5")
    assert either.day_rule is DayRule.OR
    assert days("0 0 L * 5", JAN_2025, 3) == ["2025-01-03", "2025-01-10", "2025-01-17"]
    # Calendar AND: the last day if it is a Friday.
    assert days("at 00:00 day last on friday", JAN_2025, 3) == [
        "2025-01-31",
        "2025-02-28",
        "2025-10-31",
    ]
    # (Strictly after 2025-01-01 00:00, so the 1st of January is not listed.)
    assert days("at 00:00 day 1 or on last friday", JAN_2025, 3) == [
        "2025-01-31",
        "2025-02-01",
        "2025-02-28",
    ]


# -- text, English and the builder ------------------------------------------------------


AT_NINE = "second 0 minute 0 hour 9"


@pytest.mark.parametrize(
    ("text", "canonical", "english"),
    [
        ("0 9 L * *", "day last", "on the last day of the month"),
        ("0 9 LW * *", "day last weekday", "on the last weekday of the month"),
        ("0 9 L-2 * *", "day 2 before last", "on 2 days before the last day of the month"),
        ("0 9 15W * *", "day 15 nearest weekday", "on the weekday nearest the 15th"),
        ("0 9 * * 1#2", "on 2nd monday", "on the 2nd Monday"),
        ("0 9 * * 5L", "on last friday", "on the last Friday"),
        ("at 9:00 on 3rd,1st tuesday", "on 1st,3rd tuesday", "on the 1st and 3rd Tuesday"),
        (
            "0 9 1,L * 1,5L",
            "day 1,last or on monday,last friday",
            "on the 1st and the last day of the month or on Mondays and the last Friday",
        ),
        ("DAY LAST WEEKDAY AT 9:00", "day last weekday", "on the last weekday of the month"),
        (
            "day 29 on last friday at 9:00",
            "day 29 on last friday",
            "on the 29th if it is the last Friday",
        ),
    ],
)
def test_canonical_text_and_english(text: str, canonical: str, english: str) -> None:
    s = schedule(text)
    assert str(s) == f"{AT_NINE} {canonical}"
    assert describe(s) == f"at 09:00:00 {english}"
    assert parse(str(s)) == s


def test_builder_methods_say_the_same() -> None:
    at_nine = new_schedule().on_hour(9).on_minute(0)
    assert at_nine.on_last_day_of_month().build() == parse("0 9 L * *")
    assert at_nine.on_last_day_of_month(2).build() == parse("0 9 L-2 * *")
    assert at_nine.on_last_weekday_of_month().build() == parse("0 9 LW * *")
    assert at_nine.on_nearest_weekday_to(15).build() == parse("0 9 15W * *")
    assert at_nine.on_nth_weekday(2, "monday").build() == parse("0 9 * * 1#2")
    assert at_nine.on_nth_weekday(2, 1).build() == parse("0 9 * * MON#2")
    assert at_nine.on_last("fri").build() == parse("0 9 * * 5L")
    assert at_nine.on_nth_weekday(-1, 5).build() == parse("0 9 * * 5L")
    both = at_nine.on_day_of_month(1).on_last_day_of_month().on_mondays().on_last("friday")
    assert both.build() == parse("at 09:00 day 1,last on monday,last friday")
    assert both.every_day_of_month().every_day_of_week().build() == at_nine.build()


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda b: b.on_last_day_of_month(31), "0..30"),
        (lambda b: b.on_nearest_weekday_to(0), "1..31"),
        (lambda b: b.on_nth_weekday(6, "monday"), "1..5"),
        (lambda b: b.on_nth_weekday(1, "funday"), "unknown weekday"),
        (lambda b: b.on_last(8), "1..7"),
        (lambda b: b.on_nearest_weekday_to(30).on_month(2).build(), "never fire"),
    ],
)
def test_bad_builder_calls(call: object, words: str) -> None:
    assert callable(call)
    with pytest.raises(ScheduleValidationError, match=words):
        call(new_schedule())


def test_direct_construction_is_checked() -> None:
    with pytest.raises(ScheduleValidationError, match="relative_days"):
        Schedule(relative_days={3})  # type: ignore[arg-type]
    with pytest.raises(ScheduleValidationError, match="never fire"):
        Schedule(relative_days={LastDay(30)}, month={2})
    # The picked days restrict their field on their own.
    assert Schedule(relative_days={LastDay()}).day_of_month == frozenset()
    assert Schedule(nth_weekdays={NthWeekday(1, 1)}).day_of_week == frozenset()


# -- property: whole months, day by day ------------------------------------------------


@st.composite
def daily_schedules(draw: st.DrawFn) -> Schedule:
    """A fixed time of day, in UTC, on days given by plain values and picked days."""
    relative = draw(st.one_of(st.just(frozenset()), relative_days()))
    nth = draw(st.one_of(st.just(frozenset()), nth_weekdays()))
    dom = draw(field_values("day_of_month", 4)) if draw(st.booleans()) else None
    dow = draw(field_values("day_of_week", 3)) if draw(st.booleans()) else None
    restricted = (dom is not None or relative) and (dow is not None or nth)
    rule = draw(st.sampled_from(DayRule)) if restricted else DayRule.AND
    try:
        return Schedule(
            minute={draw(st.integers(0, 59))},
            hour={draw(st.integers(0, 23))},
            day_of_month=dom,
            day_of_week=dow,
            relative_days=relative,
            nth_weekdays=nth,
            day_rule=rule,
        )
    except ScheduleValidationError:
        assume(False)
        raise


@settings(deadline=None, max_examples=150)
@given(
    s=daily_schedules(),
    t=st.datetimes(datetime(1990, 1, 1), datetime(2060, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC, microsecond=0)
    ),
)
def test_every_matching_day_fires_and_no_other(s: Schedule, t: datetime) -> None:
    fires = list(itertools.islice(s.iter_after(t), 6))
    assume(fires)
    assert s.prev_before(fires[0]) == s.prev_before(t + timedelta(seconds=1))
    assert list(itertools.islice(s.iter_before(fires[-1]), 5)) == fires[-2::-1]
    (hour,), (minute,) = s.hour or (), s.minute or ()
    day = t.replace(hour=hour, minute=minute, second=0)
    expected = []
    while day <= fires[-1]:
        if day > t and minute_matches(s, day):
            expected.append(day)
        day += timedelta(days=1)
    assert fires == expected, str(s)


def test_parsing_picked_days_is_refused_cleanly() -> None:
    for text in [
        "0 0 L-99999999999999 * *",
        "0 0 * * 1#99999999999",
        "day 99999999999 before last",
    ]:
        with pytest.raises(ScheduleValidationError):
            parse(text)


def test_items_are_values() -> None:
    assert {LastDay(), LastDay(0)} == {LastDay()}
    assert sorted([NearestWeekday(3), NearestWeekday(1)]) == [NearestWeekday(1), NearestWeekday(3)]
    assert LastWeekday() == LastWeekday()
