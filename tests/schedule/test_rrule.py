"""RRule (SPEC 2.6): RFC 5545 rules on a zone's wall clock, checked against dateutil itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule as du
from hypothesis import given, settings
from hypothesis import strategies as st

from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import RRule, SchedulePolicy, describe, parse
from bgjobs.schedule.rrule import DEFAULT_DTSTART

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def rrule(text: str, timezone: str | None = None) -> RRule:
    value = parse(text, timezone)
    assert isinstance(value, RRule), value
    return value


def anchored(rule: str) -> str:
    """The rule with the default anchor written out when it needs one (INTERVAL > 1)."""
    needs = re.search(r"INTERVAL=([0-9]+)", rule) and "INTERVAL=1;" not in rule + ";"
    return f"DTSTART:19730101T000000 {rule}" if needs else rule


def at(*args: int, tz: ZoneInfo | None = None) -> datetime:
    return datetime(*args, tzinfo=tz or UTC)  # type: ignore[misc]


def fires(r: RRule, t: datetime, n: int) -> list[datetime]:
    found = []
    for fire in r.iter_after(t):
        found.append(fire)
        if len(found) == n:
            break
    return found


# ------------------------------------------------------------------- the value


def test_the_spec_example() -> None:
    r = rrule("RRULE:FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0")
    assert fires(r, at(2025, 1, 1), 3) == [
        at(2025, 1, 31, 9),
        at(2025, 2, 28, 9),
        at(2025, 3, 28, 9),
    ]
    assert describe(r) == "every month on the last Friday at 09:00:00"


def test_an_rrule_is_a_schedule_policy() -> None:
    assert isinstance(rrule("RRULE:FREQ=DAILY"), SchedulePolicy)


def test_canonical_text_parses_back_equal() -> None:
    messy = "  rrule:byminute=30,0,0;freq=hourly;byhour=17,9;WKST=mo  in europe/stockholm "
    r = rrule(messy)
    assert str(r) == "RRULE:FREQ=HOURLY;WKST=MO;BYHOUR=9,17;BYMINUTE=0,30 in Europe/Stockholm"
    assert parse(str(r)) == r
    assert hash(parse(str(r))) == hash(r)


def test_dtstart_is_printed_unless_it_is_the_anchor() -> None:
    assert str(rrule("DTSTART:19730101T000000 RRULE:FREQ=DAILY")) == "RRULE:FREQ=DAILY"
    assert rrule("RRULE:FREQ=DAILY").dtstart == DEFAULT_DTSTART
    r = rrule("DTSTART:20250106T083000\nRRULE:FREQ=WEEKLY;INTERVAL=2")
    assert str(r) == "DTSTART:20250106T083000 RRULE:FREQ=WEEKLY;INTERVAL=2"
    assert parse(str(r)) == r


def test_bare_freq_and_direct_construction() -> None:
    assert rrule("FREQ=DAILY;BYHOUR=6") == RRule("FREQ=DAILY;BYHOUR=6")
    assert RRule("RRULE:freq=daily", timezone="europe/stockholm").timezone == "Europe/Stockholm"
    aware = RRule(
        "FREQ=DAILY", dtstart=datetime(2025, 1, 1, 12, tzinfo=UTC), timezone="Europe/Stockholm"
    )
    assert aware.dtstart == datetime(2025, 1, 1, 13)


def test_the_zone_may_come_from_tzid_z_in_or_the_argument() -> None:
    assert rrule("DTSTART;TZID=Europe/Stockholm:20250101T090000 RRULE:FREQ=DAILY").timezone == (
        "Europe/Stockholm"
    )
    assert rrule("DTSTART:20250101T090000Z RRULE:FREQ=DAILY").timezone == "UTC"
    assert rrule("RRULE:FREQ=DAILY", timezone="Asia/Kolkata").timezone == "Asia/Kolkata"
    same = "DTSTART;TZID=Asia/Kolkata:20250101T090000 RRULE:FREQ=DAILY in asia/kolkata"
    assert rrule(same, timezone="ASIA/KOLKATA").timezone == "Asia/Kolkata"


def test_the_default_anchor_gives_natural_defaults() -> None:
    t = at(2025, 6, 4, 12)  # a Wednesday
    assert rrule("RRULE:FREQ=WEEKLY").next_after(t) == at(2025, 6, 9)  # Monday
    assert rrule("RRULE:FREQ=MONTHLY").next_after(t) == at(2025, 7, 1)
    assert rrule("RRULE:FREQ=YEARLY").next_after(t) == at(2026, 1, 1)
    assert rrule("RRULE:FREQ=DAILY").next_after(t) == at(2025, 6, 5)
    assert rrule("RRULE:FREQ=HOURLY").next_after(t) == at(2025, 6, 4, 13)


def test_every_other_tuesday() -> None:
    r = rrule("DTSTART:20250107T100000 RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU")
    assert fires(r, at(2025, 1, 8), 3) == [
        at(2025, 1, 21, 10),
        at(2025, 2, 4, 10),
        at(2025, 2, 18, 10),
    ]


def test_the_second_weekday_of_the_month() -> None:
    r = rrule("RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=2;BYHOUR=9")
    assert fires(r, at(2025, 3, 1), 3) == [at(2025, 3, 4, 9), at(2025, 4, 2, 9), at(2025, 5, 2, 9)]
    assert describe(r) == "every month on the 2nd weekday at 09:00:00"


def test_results_are_aware_in_the_zone_and_strictly_after() -> None:
    r = rrule("RRULE:FREQ=DAILY;BYHOUR=9 in Europe/Stockholm")
    first = r.next_after(at(2025, 1, 1, 8, tz=STOCKHOLM))
    assert first == at(2025, 1, 1, 9, tz=STOCKHOLM) and first is not None
    assert first.tzinfo == STOCKHOLM
    assert r.next_after(first) == at(2025, 1, 2, 9, tz=STOCKHOLM)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ScheduleValidationError, match="timezone-aware"):
        rrule("RRULE:FREQ=DAILY").next_after(datetime(2025, 1, 1))


def test_count_counts_from_dtstart() -> None:
    r = rrule("DTSTART:20250101T090000 RRULE:FREQ=DAILY;COUNT=3")
    assert fires(r, at(2024, 1, 1), 5) == [at(2025, 1, 1, 9), at(2025, 1, 2, 9), at(2025, 1, 3, 9)]
    assert r.next_after(at(2025, 1, 2, 12)) == at(2025, 1, 3, 9)
    assert r.next_after(at(2025, 1, 3, 9)) is None


def test_until() -> None:
    r = rrule("DTSTART:20250101T090000 RRULE:FREQ=DAILY;UNTIL=20250102T090000")
    assert fires(r, at(2024, 1, 1), 5) == [at(2025, 1, 1, 9), at(2025, 1, 2, 9)]
    whole_day = rrule("DTSTART:20250101T090000 RRULE:FREQ=DAILY;UNTIL=20250102")
    assert len(fires(whole_day, at(2024, 1, 1), 5)) == 2
    utc_until = rrule("RRULE:FREQ=DAILY;BYHOUR=9;UNTIL=20250102T080000Z in Europe/Stockholm")
    assert fires(utc_until, at(2025, 1, 1), 5) == [
        at(2025, 1, 1, 9, tz=STOCKHOLM),
        at(2025, 1, 2, 9, tz=STOCKHOLM),
    ]


NEVER = [
    "RRULE:FREQ=YEARLY;BYWEEKNO=1;BYMONTH=7",  # ISO week 1 is never in July
    "RRULE:FREQ=DAILY;BYMONTH=7;BYMONTHDAY=1;BYDAY=MO;BYSETPOS=2",  # a day has one day
    "RRULE:FREQ=HOURLY;BYMONTH=7;BYYEARDAY=1,2",
    "RRULE:FREQ=SECONDLY;BYMONTH=7;BYYEARDAY=1,2",
]


@pytest.mark.parametrize("text", NEVER)
def test_a_rule_that_never_fires_returns_none(text: str) -> None:
    assert rrule(text).next_after(at(2025, 1, 1)) is None


def test_nothing_within_50_years_or_before_10000_is_none() -> None:
    assert rrule("RRULE:FREQ=YEARLY").next_after(at(9999, 6, 1)) is None
    every_100 = rrule("DTSTART:19730101T000000 RRULE:FREQ=YEARLY;INTERVAL=100")
    assert every_100.next_after(at(2025, 1, 1)) == at(2073, 1, 1)
    every_200 = rrule("DTSTART:19730101T000000 RRULE:FREQ=YEARLY;INTERVAL=200")
    assert every_200.next_after(at(2025, 1, 1)) is None
    assert rrule("DTSTART:20800101T000000 RRULE:FREQ=DAILY").next_after(at(2025, 1, 1)) is None
    assert rrule("DTSTART:20700101T000000 RRULE:FREQ=DAILY").next_after(at(2025, 1, 1)) == at(
        2070, 1, 1
    )
    leap_monday = rrule("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
    assert leap_monday.next_after(at(2025, 1, 1)) == at(2044, 2, 29)


def test_fine_rules_far_from_their_anchor_are_quick() -> None:
    r = rrule("DTSTART:19730101T000000 RRULE:FREQ=SECONDLY;INTERVAL=7")
    t = at(2025, 3, 1, 12, 0, 1)
    # 1973-01-01 plus whole multiples of 7 seconds: the phase is kept.
    expected = t + timedelta(seconds=(-int((t - at(1973, 1, 1)).total_seconds())) % 7)
    assert r.next_after(t) == expected
    every_13 = rrule("DTSTART:19730101T000000 RRULE:FREQ=MINUTELY;INTERVAL=13")
    assert every_13.next_after(t) is not None


# ------------------------------------------------------------ daylight saving


def test_a_skipped_wall_time_fires_just_after_the_gap() -> None:
    # Stockholm 2025-03-30: 02:00 jumps to 03:00.
    r = rrule("RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=10 in Europe/Stockholm")
    assert fires(r, at(2025, 3, 29, 12, tz=STOCKHOLM), 2) == [
        at(2025, 3, 30, 3, 0, 10, tz=STOCKHOLM),
        at(2025, 3, 31, 2, 30, 10, tz=STOCKHOLM),
    ]
    # Just after the jump, the moved fire is still ahead.
    assert r.next_after(at(2025, 3, 30, 3, 0, 5, tz=STOCKHOLM)) == at(
        2025, 3, 30, 3, 0, 10, tz=STOCKHOLM
    )


def test_a_repeated_wall_time_fires_once_at_its_first_occurrence() -> None:
    # Stockholm 2025-10-26: 03:00 falls back to 02:00.
    r = rrule("RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30 in Europe/Stockholm")
    first = r.next_after(at(2025, 10, 26, 0, tz=STOCKHOLM))
    assert first is not None and first.astimezone(UTC) == at(2025, 10, 26, 0, 30)
    # From inside the second pass of the hour, the repeat is skipped.
    second_pass = at(2025, 10, 26, 0, 45).astimezone(STOCKHOLM)  # 02:45 wall, second time
    assert r.next_after(second_pass) == at(2025, 10, 27, 2, 30, tz=STOCKHOLM)


def test_hourly_on_transition_days() -> None:
    r = rrule("RRULE:FREQ=HOURLY in Europe/Stockholm")
    spring = fires(r, at(2025, 3, 29, 23, tz=STOCKHOLM), 24)
    assert [f.hour for f in spring[:5]] == [0, 1, 3, 4, 5]  # 02:00 moved onto 03:00: once
    assert len({f.astimezone(UTC) for f in spring}) == 24
    autumn = fires(r, at(2025, 10, 25, 23, tz=STOCKHOLM), 5)
    assert [f.astimezone(UTC).hour for f in autumn] == [22, 23, 0, 2, 3]  # 02:00 fires once


# ------------------------------------------------------ dateutil as the oracle

FREQS = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY"]
DAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


@st.composite
def rules(draw: st.DrawFn) -> str:
    freq = draw(st.sampled_from(FREQS))
    parts = [f"FREQ={freq}"]
    if draw(st.booleans()):
        parts.append(f"INTERVAL={draw(st.integers(1, 5))}")
    if draw(st.booleans()):
        parts.append(f"WKST={draw(st.sampled_from(DAYS))}")
    if draw(st.booleans()):
        months = draw(st.lists(st.integers(1, 12), min_size=1, max_size=4))
        parts.append("BYMONTH=" + ",".join(map(str, months)))
    if freq != "WEEKLY" and draw(st.booleans()):
        days = draw(st.lists(st.integers(1, 28) | st.integers(-3, -1), min_size=1, max_size=3))
        parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    if draw(st.booleans()):
        numbered = freq in ("MONTHLY", "YEARLY") and draw(st.booleans())
        items = []
        for day in draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3)):
            nth = draw(st.sampled_from(["1", "2", "-1", "-2"])) if numbered else ""
            items.append(nth + day)
        parts.append("BYDAY=" + ",".join(items))
    for name, high in (("BYHOUR", 23), ("BYMINUTE", 59), ("BYSECOND", 59)):
        if draw(st.booleans()):
            values = draw(st.lists(st.integers(0, high), min_size=1, max_size=3))
            parts.append(f"{name}=" + ",".join(map(str, values)))
    # Only the first or last of a period's set: a position past the set's
    # end would make a rule that never fires, which dateutil (the oracle)
    # searches for until year 9999.
    has_by = any(part.startswith("BY") for part in parts)
    if has_by and freq in ("YEARLY", "MONTHLY", "WEEKLY") and draw(st.integers(0, 4)) == 0:
        parts.append(f"BYSETPOS={draw(st.sampled_from(['1', '-1']))}")
    return "RRULE:" + ";".join(parts)


@settings(deadline=None, max_examples=30)
@given(
    rule=rules(),
    start=st.datetimes(datetime(2019, 1, 1), datetime(2024, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    after=st.datetimes(datetime(2024, 6, 1), datetime(2026, 6, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
)
def test_next_after_agrees_with_dateutil_from_dtstart(
    rule: str, start: datetime, after: datetime
) -> None:
    # In UTC there is no daylight saving, so each fire is dateutil's next
    # occurrence, computed the slow way: walking from DTSTART.
    stamp = start.strftime("%Y%m%dT%H%M%S")
    try:
        theirs = du.rrulestr(f"DTSTART:{stamp}\n{rule}")
    except ValueError:
        # dateutil refuses rules whose BY values its INTERVAL never reaches: so do we.
        with pytest.raises(ScheduleValidationError, match="never fire"):
            parse(f"DTSTART:{stamp} {rule}")
        return
    ours = rrule(f"DTSTART:{stamp} {rule}")
    expected = theirs.after(after)
    assert ours.next_after(after.replace(tzinfo=UTC)) == (
        None
        if expected is None or expected.year - after.year > 50
        else expected.replace(tzinfo=UTC)
    )


@settings(deadline=None, max_examples=25)
@given(
    rule=rules().filter(lambda r: "HOURLY" not in r),
    after=st.datetimes(datetime(2024, 1, 1), datetime(2026, 1, 1)),
)
def test_next_after_agrees_with_dateutil_from_the_default_anchor(
    rule: str, after: datetime
) -> None:
    after = after.replace(microsecond=0)
    try:
        theirs = du.rrulestr(f"DTSTART:19730101T000000\n{rule}")
    except ValueError:
        with pytest.raises(ScheduleValidationError, match="never fire"):
            parse(anchored(rule))
        return
    expected = theirs.after(after)
    assert rrule(anchored(rule)).next_after(after.replace(tzinfo=UTC)) == (
        None
        if expected is None or expected.year - after.year > 50
        else expected.replace(tzinfo=UTC)
    )


@settings(deadline=None, max_examples=60)
@given(rule=rules(), zone=st.sampled_from(["UTC", "Europe/Stockholm", "America/New_York"]))
def test_text_round_trip(rule: str, zone: str) -> None:
    try:
        r = rrule(f"{anchored(rule)} in {zone}")
    except ScheduleValidationError as exc:
        assert "never fire" in str(exc)
        return
    assert parse(str(r)) == r
    assert str(parse(str(r))) == str(r)


# ----------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("RRULE:FREQ=FORTNIGHTLY", 12, "FREQ must be"),
        ("RRULE:BYHOUR=9", 7, "needs a FREQ"),
        ("RRULE:FREQ=DAILY;BYHOUR=24", 25, "BYHOUR must be 0..23"),
        ("RRULE:FREQ=DAILY;BYMINUTE=-1", 27, "BYMINUTE"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=0", 31, "BYMONTHDAY"),
        ("RRULE:FREQ=MONTHLY;BYDAY=XX", 26, "BYDAY"),
        ("RRULE:FREQ=MONTHLY;BYDAY=MO,54TU", 29, "BYDAY"),
        ("RRULE:FREQ=DAILY;BYDAY=1MO", 18, "numbered BYDAY"),
        ("RRULE:FREQ=MONTHLY;BYWEEKNO=1", 20, "BYWEEKNO"),
        ("RRULE:FREQ=WEEKLY;BYMONTHDAY=1", 19, "BYMONTHDAY is not allowed"),
        ("RRULE:FREQ=DAILY;BYYEARDAY=1", 18, "BYYEARDAY"),
        ("RRULE:FREQ=DAILY;BYSETPOS=1", 18, "BYSETPOS needs"),
        ("RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30,-31", 28, "never fire"),
        ("DTSTART:20250101T010000 RRULE:FREQ=HOURLY;INTERVAL=2;BYHOUR=0", 31, "never fire"),
        ("RRULE:FREQ=DAILY;COUNT=2;UNTIL=20250101", 26, "COUNT and UNTIL"),
        ("RRULE:FREQ=DAILY;COUNT=0", 24, "COUNT must be 1..10000"),
        ("RRULE:FREQ=DAILY;INTERVAL=0", 27, "INTERVAL"),
        ("RRULE:FREQ=DAILY;COUNT=3", 18, "needs a DTSTART"),
        ("RRULE:FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", 19, "add one, such as 'DTSTART:"),
        ("RRULE:FREQ=MONTHLY;BYDAY=FR;INTERVAL=3 in Europe/Paris", 29, "needs a DTSTART"),
        ("RRULE:FREQ=DAILY;UNTIL=2025", 24, "UNTIL"),
        ("RRULE:FREQ=DAILY;FREQ=DAILY", 18, "twice"),
        ("RRULE:FREQ=DAILY;COLOR=RED", 18, "unknown rule part"),
        ("RRULE:FREQ=DAILY;;BYHOUR=1", 18, "NAME=VALUE"),
        ("RRULE:FREQ=DAILY RRULE:FREQ=DAILY", 18, "twice"),
        ("RRULE:FREQ=DAILY EXDATE:20250101", 18, "unexpected"),
        ("DTSTART:2025 RRULE:FREQ=DAILY", 1, "DTSTART"),
        ("DTSTART:20250230T000000 RRULE:FREQ=DAILY", 9, "not a valid date"),
        ("DTSTART;TZID=Mars/Base:20250101T000000 RRULE:FREQ=DAILY", 9, "unknown time zone"),
        ("DTSTART;X=1:20250101T000000 RRULE:FREQ=DAILY", 9, "unknown DTSTART parameter"),
        ("DTSTART:20250101T000000", 24, "RRULE"),
        ("RRULE:FREQ=DAILY in", 20, "time zone"),
        ("RRULE:FREQ=DAILY in Mars/Base", 21, "unknown time zone"),
        ("DTSTART:20250101T000000Z RRULE:FREQ=DAILY in Europe/Stockholm", 46, "disagrees"),
    ],
)
def test_invalid_rules(text: str, column: int, words: str) -> None:
    with pytest.raises(ScheduleValidationError) as caught:
        parse(text)
    assert caught.value.column == column, str(caught.value)
    assert words in str(caught.value)


def test_rules_anchored_in_their_own_periods_need_no_dtstart() -> None:
    # UNTIL bounds the rule by a date, and BYSETPOS picks within one period.
    assert rrule("RRULE:FREQ=WEEKLY;INTERVAL=2;UNTIL=20300101").next_after(at(2025, 1, 1))
    last_weekday = rrule("RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1")
    assert last_weekday.next_after(at(2025, 1, 1)) == at(2025, 1, 31)


def test_an_anchor_needed_is_kept_in_the_text_even_at_the_default() -> None:
    r = rrule("DTSTART:19730101T000000 RRULE:FREQ=DAILY;COUNT=3")
    assert str(r) == "DTSTART:19730101T000000 RRULE:FREQ=DAILY;COUNT=3"
    assert parse(str(r)) == r
    with pytest.raises(ScheduleValidationError, match="needs a DTSTART"):
        RRule("FREQ=DAILY;COUNT=3")
    assert RRule("FREQ=DAILY;COUNT=3", dtstart=datetime(1973, 1, 1)) == r


def test_a_zone_argument_that_disagrees() -> None:
    with pytest.raises(ScheduleValidationError, match="disagrees"):
        parse("RRULE:FREQ=DAILY in Europe/Stockholm", timezone="UTC")


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ScheduleValidationError, match="FREQ"):
        RRule("BYHOUR=9")
    with pytest.raises(ScheduleValidationError, match="dtstart"):
        RRule("FREQ=DAILY", dtstart="2025-01-01")  # type: ignore[arg-type]


def test_bysetpos_counts_the_whole_period_when_asked_mid_period() -> None:
    # The week of Monday 2024-05-27: {Monday, Saturday}; position 1 is the Monday,
    # so Saturday 2024-06-01 does not fire even when asked from that Saturday.
    r = rrule("DTSTART:20190101T000001 RRULE:FREQ=WEEKLY;BYDAY=MO,SA;BYSETPOS=1")
    assert r.next_after(at(2024, 6, 1)) == at(2024, 6, 3, 0, 0, 1)


# ------------------------------------------------------------------ previous fire


@settings(deadline=None, max_examples=30)
@given(
    rule=rules(),
    start=st.datetimes(datetime(2019, 1, 1), datetime(2024, 12, 31)).map(
        lambda d: d.replace(microsecond=0)
    ),
    before=st.datetimes(datetime(2024, 6, 1), datetime(2026, 6, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
)
def test_prev_before_agrees_with_dateutil_from_dtstart(
    rule: str, start: datetime, before: datetime
) -> None:
    stamp = start.strftime("%Y%m%dT%H%M%S")
    try:
        theirs = du.rrulestr(f"DTSTART:{stamp}\n{rule}")
    except ValueError:
        return  # refused alike: test_next_after_agrees_with_dateutil_from_dtstart
    ours = rrule(f"DTSTART:{stamp} {rule}")
    expected = theirs.before(before)
    assert ours.prev_before(before.replace(tzinfo=UTC)) == (
        None if expected is None else expected.replace(tzinfo=UTC)
    )


@settings(deadline=None, max_examples=40)
@given(
    rule=rules(),
    zone=st.sampled_from(["UTC", "Europe/Stockholm", "America/New_York", "Australia/Lord_Howe"]),
    t=st.datetimes(datetime(2023, 1, 1), datetime(2026, 1, 1)).map(
        lambda d: d.replace(microsecond=0, tzinfo=UTC)
    ),
)
def test_rrule_prev_and_next_describe_one_set_of_fires(rule: str, zone: str, t: datetime) -> None:
    try:
        r = rrule(f"{anchored(rule)} in {zone}")
    except ScheduleValidationError:
        return
    one = timedelta(seconds=1)
    following = r.next_after(t)
    if following is not None:
        assert r.prev_before(following) == r.prev_before(t + one)
    preceding = r.prev_before(t)
    if preceding is not None:
        assert preceding.astimezone(UTC) < t
        assert r.next_after(preceding) == r.next_after(t - one)


def test_rrule_prev_before_follows_the_wall_clock_rule() -> None:
    # 02:30 Stockholm: skipped on 2024-03-31 (fires at 03:00), repeated on 2024-10-27 (once).
    r = rrule("RRULE:FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0 in Europe/Stockholm")
    spring = r.prev_before(at(2024, 3, 31, 1, 30))  # 03:30 local
    assert spring is not None and spring.isoformat() == "2024-03-31T03:00:00+02:00"
    autumn = r.prev_before(at(2024, 10, 27, 1, 10))  # 02:10 local, second pass
    assert autumn is not None and autumn.isoformat() == "2024-10-27T02:30:00+02:00"


def test_rrule_prev_before_stops_at_dtstart_and_after_50_years() -> None:
    r = rrule("DTSTART:20250101T090000 RRULE:FREQ=DAILY;COUNT=3")
    assert [f.day for f in r.iter_before(at(2026, 1, 1))] == [3, 2, 1]
    assert r.prev_before(at(2025, 1, 1, 9)) is None
    # Without DTSTART a rule has no start: it fired before 1973 too.
    leap_monday = rrule("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")
    assert leap_monday.prev_before(at(1970, 1, 1)) == at(1960, 2, 29)
    assert rrule("RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29").prev_before(at(1, 2, 1)) is None
    assert rrule("RRULE:FREQ=SECONDLY").prev_before(at(2025, 1, 1, 0, 0, 0)) == at(
        2024, 12, 31, 23, 59, 59
    )
