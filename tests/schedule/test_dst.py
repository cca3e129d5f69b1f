"""Daylight saving time, pinned to named zones and real transition dates (SPEC 2.4).

2024 transitions used below (local wall clock):

    Europe/Stockholm     31 Mar 02:00 -> 03:00      27 Oct 03:00 -> 02:00 (02:00-02:59 twice)
    America/New_York     10 Mar 02:00 -> 03:00       3 Nov 02:00 -> 01:00 (01:00-01:59 twice)
    Australia/Lord_Howe   6 Oct 02:00 -> 02:30       7 Apr 02:00 -> 01:30 (01:30-01:59 twice)
    America/Santiago      8 Sep 00:00 -> 01:00       6 Apr 24:00 -> 23:00 (23:00-23:59 twice)

Fixed-time schedules (minute and hour restricted, no `*/N`) follow the wall
clock; every other schedule follows real elapsed time.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bgjobs.schedule.model import Schedule, step_values
from bgjobs.schedule.parser import parse

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schedule-language.md"

STOCKHOLM = "Europe/Stockholm"
NEW_YORK = "America/New_York"
LORD_HOWE = "Australia/Lord_Howe"
SANTIAGO = "America/Santiago"


def at(
    zone: str, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, fold: int = 0
) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=ZoneInfo(zone), fold=fold)


def fires(s: Schedule, start: datetime, n: int) -> list[str]:
    """The next n fire times, as ISO text with their UTC offsets (which show the fold)."""
    return [f.isoformat() for f in itertools.islice(s.iter_after(start), n)]


def daily(zone: str, hour: int, minute: int, second: int = 0) -> Schedule:
    return Schedule(
        second=frozenset({second}),
        minute=frozenset({minute}),
        hour=frozenset({hour}),
        timezone=zone,
    )


def every_n_minutes(zone: str, n: int) -> Schedule:
    return Schedule(minute=step_values("minute", n), minute_step=n, timezone=zone)


# -- fixed times: the wall clock ----------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "expected"),
    [
        # Spring forward: a skipped wall time fires at the first minute after the gap.
        (
            STOCKHOLM,
            (2024, 3, 30, 12),
            ["2024-03-31T03:00:00+02:00", "2024-04-01T02:30:00+02:00"],
        ),
        (
            NEW_YORK,
            (2024, 3, 9, 12),
            ["2024-03-10T03:00:00-04:00", "2024-03-11T02:30:00-04:00"],
        ),
        # Fall back: a repeated wall time fires once, at its first occurrence.
        (
            STOCKHOLM,
            (2024, 10, 26, 12),
            ["2024-10-27T02:30:00+02:00", "2024-10-28T02:30:00+01:00"],
        ),
    ],
)
def test_fixed_time_0230(zone: str, start: tuple[int, int, int, int], expected: list[str]) -> None:
    assert fires(daily(zone, 2, 30), at(zone, *start), 2) == expected


def test_fixed_time_in_the_repeated_hour_fires_once_in_new_york() -> None:
    s = daily(NEW_YORK, 1, 30)
    assert fires(s, at(NEW_YORK, 2024, 11, 2, 12), 2) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-04T01:30:00-05:00",
    ]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        # In the first pass, before 02:15: the first occurrence is still ahead.
        (at(STOCKHOLM, 2024, 10, 27, 2, 10), "2024-10-27T02:15:00+02:00"),
        # In the second pass, after 02:15's first occurrence: skipped, not returned.
        (at(STOCKHOLM, 2024, 10, 27, 2, 40, fold=1), "2024-10-28T02:15:00+01:00"),
        # In the second pass, before the wall clock reaches 02:15 again: also skipped,
        # because 02:15 already fired (an hour of real time ago).
        (at(STOCKHOLM, 2024, 10, 27, 2, 10, fold=1), "2024-10-28T02:15:00+01:00"),
    ],
)
def test_start_inside_the_repeated_hour(start: datetime, expected: str) -> None:
    result = daily(STOCKHOLM, 2, 15).next_after(start)
    assert result is not None
    assert result.isoformat() == expected
    assert result.timestamp() > start.timestamp()


def test_seconds_in_the_gap_keep_their_second() -> None:
    # 02:30:10 does not exist on 31 March: it fires at 03:00:10.
    s = daily(STOCKHOLM, 2, 30, second=10)
    assert fires(s, at(STOCKHOLM, 2024, 3, 30, 12), 2) == [
        "2024-03-31T03:00:10+02:00",
        "2024-04-01T02:30:10+02:00",
    ]


def test_a_fire_moved_out_of_the_gap_is_still_ahead_just_after_the_gap() -> None:
    # t is 03:00:05, five seconds after the gap: the moved 02:30:10 has not fired yet.
    s = daily(STOCKHOLM, 2, 30, second=10)
    result = s.next_after(at(STOCKHOLM, 2024, 3, 31, 3, 0, 5))
    assert result is not None
    assert result.isoformat() == "2024-03-31T03:00:10+02:00"


def test_moved_times_that_coincide_fire_once() -> None:
    # 02:00, 02:15:05, 02:30 and 02:45:05 all move into the minute at 03:00;
    # 03:00 itself is a real match. Each instant fires once, in order.
    s = Schedule(
        second=frozenset({0, 5}),
        minute=frozenset({0, 15, 30, 45}),
        hour=frozenset({2, 3}),
        timezone=STOCKHOLM,
    )
    assert fires(s, at(STOCKHOLM, 2024, 3, 31, 1, 50), 4) == [
        "2024-03-31T03:00:00+02:00",
        "2024-03-31T03:00:05+02:00",
        "2024-03-31T03:15:00+02:00",
        "2024-03-31T03:15:05+02:00",
    ]


def test_lord_howe_half_hour_gap() -> None:
    # Clocks jump 02:00 -> 02:30: 02:10:20 fires at 02:30:20, the first existing minute.
    s = daily(LORD_HOWE, 2, 10, second=20)
    assert fires(s, at(LORD_HOWE, 2024, 10, 5, 12), 2) == [
        "2024-10-06T02:30:20+11:00",
        "2024-10-07T02:10:20+11:00",
    ]


def test_lord_howe_half_hour_repeat() -> None:
    # Clocks go back 02:00 -> 01:30: 01:45 happens twice and fires once.
    assert fires(daily(LORD_HOWE, 1, 45), at(LORD_HOWE, 2024, 4, 6, 12), 2) == [
        "2024-04-07T01:45:00+11:00",
        "2024-04-08T01:45:00+10:30",
    ]


def test_santiago_midnight_that_does_not_exist() -> None:
    # On 8 September midnight does not exist; the day's first minute is 01:00.
    assert fires(daily(SANTIAGO, 0, 0), at(SANTIAGO, 2024, 9, 6, 12), 3) == [
        "2024-09-07T00:00:00-04:00",
        "2024-09-08T01:00:00-03:00",
        "2024-09-09T00:00:00-03:00",
    ]


def test_santiago_repeated_late_evening() -> None:
    # On 6 April 23:00-23:59 happens twice (24:00 -> 23:00).
    assert fires(daily(SANTIAGO, 23, 30), at(SANTIAGO, 2024, 4, 6, 12), 2) == [
        "2024-04-06T23:30:00-03:00",
        "2024-04-07T23:30:00-04:00",
    ]


def test_zero_to_59_counts_as_fixed() -> None:
    # minute 0-59 is a restriction, not `*`: the wall-clock rule applies,
    # so the repeated hour fires once and the skipped hour moves to 03:00.
    s = Schedule(minute=frozenset(range(60)), hour=frozenset({1, 2}), timezone=NEW_YORK)
    first_pass = fires(s, at(NEW_YORK, 2024, 11, 3, 1, 58), 4)
    assert first_pass == [
        "2024-11-03T01:59:00-04:00",
        "2024-11-03T02:00:00-05:00",
        "2024-11-03T02:01:00-05:00",
        "2024-11-03T02:02:00-05:00",
    ]
    assert fires(s, at(NEW_YORK, 2024, 3, 10, 1, 59), 2) == [
        "2024-03-10T03:00:00-04:00",
        "2024-03-11T01:00:00-04:00",
    ]


# -- everything else: real elapsed time -----------------------------------------


def test_every_hour_across_both_jumps_in_stockholm() -> None:
    s = Schedule(minute=frozenset({30}), timezone=STOCKHOLM)  # hour EVERY: elapsed time
    assert fires(s, at(STOCKHOLM, 2024, 3, 31, 0, 0), 3) == [
        "2024-03-31T00:30:00+01:00",
        "2024-03-31T01:30:00+01:00",
        "2024-03-31T03:30:00+02:00",  # 02:30 does not exist: skipped
    ]
    assert fires(s, at(STOCKHOLM, 2024, 10, 27, 1, 0), 4) == [
        "2024-10-27T01:30:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:30:00+01:00",  # the repeated 02:30 fires twice
        "2024-10-27T03:30:00+01:00",
    ]


def test_hour_step_is_elapsed_time_in_new_york() -> None:
    # `30 */1 * * *`: the leading star makes it real elapsed time.
    s = Schedule(
        minute=frozenset({30}), hour=step_values("hour", 1), hour_step=1, timezone=NEW_YORK
    )
    assert fires(s, at(NEW_YORK, 2024, 3, 10, 1, 0), 2) == [
        "2024-03-10T01:30:00-05:00",
        "2024-03-10T03:30:00-04:00",
    ]
    assert fires(s, at(NEW_YORK, 2024, 11, 3, 1, 0), 3) == [
        "2024-11-03T01:30:00-04:00",
        "2024-11-03T01:30:00-05:00",
        "2024-11-03T02:30:00-05:00",
    ]


def test_every_half_hour_through_the_repeated_hour_in_new_york() -> None:
    start = at(NEW_YORK, 2024, 11, 3, 0, 45)
    assert fires(every_n_minutes(NEW_YORK, 30), start, 5) == [
        "2024-11-03T01:00:00-04:00",
        "2024-11-03T01:30:00-04:00",
        "2024-11-03T01:00:00-05:00",
        "2024-11-03T01:30:00-05:00",
        "2024-11-03T02:00:00-05:00",
    ]


def test_start_in_the_first_pass_reaches_the_second_pass() -> None:
    # From 01:50 in the first pass, the next quarter hour is 01:00 again, in
    # the second pass (02:00 EDT never happens).
    start = at(NEW_YORK, 2024, 11, 3, 1, 50)
    assert fires(every_n_minutes(NEW_YORK, 15), start, 3) == [
        "2024-11-03T01:00:00-05:00",
        "2024-11-03T01:15:00-05:00",
        "2024-11-03T01:30:00-05:00",
    ]


def test_lord_howe_every_quarter_hour_across_both_shifts() -> None:
    s = every_n_minutes(LORD_HOWE, 15)
    assert fires(s, at(LORD_HOWE, 2024, 10, 6, 1, 40), 3) == [
        "2024-10-06T01:45:00+10:30",
        "2024-10-06T02:30:00+11:00",  # 02:00 and 02:15 do not exist
        "2024-10-06T02:45:00+11:00",
    ]
    assert fires(s, at(LORD_HOWE, 2024, 4, 7, 1, 20), 5) == [
        "2024-04-07T01:30:00+11:00",
        "2024-04-07T01:45:00+11:00",
        "2024-04-07T01:30:00+10:30",
        "2024-04-07T01:45:00+10:30",
        "2024-04-07T02:00:00+10:30",
    ]


def test_lord_howe_hour_after_the_half_hour_repeat_starts_on_time() -> None:
    # `*/2 2 * * *`: the first 02:00 after the repeat exists and fires. (A
    # calculator that adds whole hours of absolute time lands on 02:30.)
    s = Schedule(
        minute=step_values("minute", 2), minute_step=2, hour=frozenset({2}), timezone=LORD_HOWE
    )
    assert fires(s, at(LORD_HOWE, 2024, 4, 6, 12), 2) == [
        "2024-04-07T02:00:00+10:30",
        "2024-04-07T02:02:00+10:30",
    ]


def test_santiago_every_hour_skips_the_missing_midnight() -> None:
    s = Schedule(minute=frozenset({0}), timezone=SANTIAGO)
    assert fires(s, at(SANTIAGO, 2024, 9, 7, 22, 30), 3) == [
        "2024-09-07T23:00:00-04:00",
        "2024-09-08T01:00:00-03:00",
        "2024-09-08T02:00:00-03:00",
    ]


def test_santiago_restricted_day_starts_at_its_first_existing_minute() -> None:
    s = Schedule(
        minute=step_values("minute", 30),
        minute_step=30,
        day_of_month=frozenset({8}),
        timezone=SANTIAGO,
    )
    assert fires(s, at(SANTIAGO, 2024, 9, 1), 2) == [
        "2024-09-08T01:00:00-03:00",
        "2024-09-08T01:30:00-03:00",
    ]


# -- start times handed in with a fold or in a gap ------------------------------


def test_imaginary_start_time_means_what_its_fold_says() -> None:
    # 02:30 on 31 March does not exist in Stockholm. PEP 495: fold=0 reads it
    # with the offset from before the gap (01:30 UTC = 03:30 local), fold=1
    # with the one after it (00:30 UTC = 01:30 local).
    s = Schedule(second=frozenset({0}), timezone=STOCKHOLM)  # every minute
    after_fold0 = s.next_after(at(STOCKHOLM, 2024, 3, 31, 2, 30))
    after_fold1 = s.next_after(at(STOCKHOLM, 2024, 3, 31, 2, 30, fold=1))
    assert after_fold0 is not None and after_fold1 is not None
    assert after_fold0.isoformat() == "2024-03-31T03:31:00+02:00"
    assert after_fold1.isoformat() == "2024-03-31T01:31:00+01:00"


def test_start_time_in_another_zone_is_the_same_instant() -> None:
    s = every_n_minutes(NEW_YORK, 30)
    from_utc = s.next_after(datetime.fromisoformat("2024-11-03T05:40:00+00:00"))
    assert from_utc is not None
    assert from_utc.isoformat() == "2024-11-03T01:00:00-05:00"


# -- the worked examples in docs/schedule-language.md ---------------------------------


def documented_examples() -> list[tuple[str, str, list[str]]]:
    text = DOCS.read_text(encoding="utf-8")
    block = re.search(r"<!-- dst:start -->\n(.*?)<!-- dst:end -->", text, re.DOTALL)
    assert block is not None, "the dst example table is missing from the docs"
    rows = []
    for line in block.group(1).splitlines()[2:]:  # skip the header and its rule
        schedule, after, fired = (cell.strip() for cell in line.strip("|").split("|"))
        rows.append((schedule.strip("`"), after, [f.strip() for f in fired.split(",")]))
    return rows


@pytest.mark.parametrize(("text", "after", "expected"), documented_examples())
def test_documented_example(text: str, after: str, expected: list[str]) -> None:
    s = parse(text)
    assert isinstance(s, Schedule)
    assert fires(s, datetime.fromisoformat(after), len(expected)) == expected
