"""`bgjobs next-runs` as a subprocess, against SPEC 2.5.

Expected fire times are worked out by hand from a calendar (2026-01-01 is a
Thursday, 2026-03-01 a Sunday, 2027-03-01 a Monday; Europe/Stockholm springs
forward 2026-03-29 02:00 -> 03:00 and falls back 2026-10-25 03:00 -> 02:00), not
computed by the code under test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from bgjobs.schedule import describe, parse
from tests.cli.support import assert_one_line_error, cli_env, run_cli

ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?[+-]\d\d:\d\d")


def next_runs(schedule: str, options: str = "") -> list[str]:
    """stdout lines of a successful `bgjobs next-runs SCHEDULE OPTIONS` (split on spaces)."""
    result = run_cli("next-runs", schedule, *options.split())
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.splitlines()


def fire_times(schedule: str, options: str = "") -> list[str]:
    """Just the fire times (lines 3 on) of a successful text-mode run."""
    lines = next_runs(schedule, options)
    for line in lines[2:]:
        assert ISO_TIME.fullmatch(line), line
    return lines[2:]


def next_runs_json(schedule: str, options: str = "") -> dict[str, object]:
    """The one JSON object of a successful `bgjobs next-runs SCHEDULE OPTIONS --json`."""
    result = run_cli("next-runs", schedule, *options.split(), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # the whole output is one JSON value
    assert isinstance(document, dict)
    return document


def invalid(*args: str) -> list[str]:
    """stderr lines of a `bgjobs next-runs ARGS` that must be refused with status 2."""
    result = run_cli("next-runs", *args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: "), result.stderr
    return lines


def caret_column(lines: list[str]) -> int:
    """The 0-based column of the caret, relative to the echoed input line."""
    source, caret = lines[1], lines[2]
    assert source.startswith("  ") and caret.startswith("  ")
    assert caret.strip() == "^", caret
    return caret.index("^") - 2


# -- text mode -----------------------------------------------------------------------


def test_the_seed_example_fires_at_hand_computed_times() -> None:
    text = "second 1,10-15 minute 30 on thursday months 3-6"
    lines = next_runs(text, "--after 2026-01-01T00:00:00+00:00 -n 8")
    assert lines[0] == "second 1,10-15 minute 30 month 3-6 on thursday"
    assert lines[1] == describe(parse(text))
    # January and February are not in months 3-6; the first Thursday of March 2026 is
    # the 5th; hour is EVERY, so minute 30 of hour 0 comes first, then of hour 1.
    assert lines[2:] == [
        "2026-03-05T00:30:01+00:00",
        "2026-03-05T00:30:10+00:00",
        "2026-03-05T00:30:11+00:00",
        "2026-03-05T00:30:12+00:00",
        "2026-03-05T00:30:13+00:00",
        "2026-03-05T00:30:14+00:00",
        "2026-03-05T00:30:15+00:00",
        "2026-03-05T01:30:01+00:00",
    ]


def test_the_seed_example_jumps_from_june_to_the_next_march() -> None:
    # 2026-06-25 is the last Thursday of June; July's Thursdays are not in months 3-6,
    # so after its last second the next fire is the first Thursday of March 2027 (the 4th).
    text = "second 1,10-15 minute 30 on thursday months 3-6"
    assert fire_times(text, "--after 2026-06-25T23:30:14Z -n 3") == [
        "2026-06-25T23:30:15+00:00",
        "2027-03-04T00:30:01+00:00",
        "2027-03-04T00:30:10+00:00",
    ]


def test_n_sets_how_many_times_are_printed() -> None:
    assert fire_times("every hour", "--after 2026-01-01T00:00:00Z -n 3") == [
        "2026-01-01T01:00:00+00:00",
        "2026-01-01T02:00:00+00:00",
        "2026-01-01T03:00:00+00:00",
    ]
    assert len(fire_times("every hour", "--after 2026-01-01T00:00:00Z")) == 5  # the default


def test_after_defaults_to_now() -> None:
    before = datetime.now(UTC)
    first, second = (datetime.fromisoformat(run) for run in fire_times("every minute", "-n 2"))
    assert before < first < second
    assert first.second == 0 and (second - first).total_seconds() == 60


def test_the_schedule_zone_is_the_output_zone() -> None:
    assert fire_times("at 08:30 in Europe/Stockholm", "--after 2026-01-01T00:00:00Z -n 2") == [
        "2026-01-01T08:30:00+01:00",
        "2026-01-02T08:30:00+01:00",
    ]


def test_a_naive_after_is_wall_time_in_the_effective_zone() -> None:
    # 08:00 on the Stockholm wall clock: 08:30 the same day is next. Read as UTC it
    # would be 09:00 in Stockholm, and the next fire would be a day later.
    text = "at 08:30 in Europe/Stockholm"
    assert fire_times(text, "--after 2026-01-01T08:00 -n 1") == ["2026-01-01T08:30:00+01:00"]
    aware = fire_times(text, "--after 2026-01-01T08:00:00+00:00 -n 1")
    assert aware == ["2026-01-02T08:30:00+01:00"]


def test_tz_only_changes_the_zone_the_times_are_printed_in() -> None:
    # 03:00 in Paris is 02:00 UTC in winter: --tz UTC prints that, and must not
    # move the fire to 03:00 UTC.
    lines = next_runs("at 03:00 in Europe/Paris", "--tz UTC --after 2026-01-01T00:00:00Z -n 2")
    assert lines[0] == "second 0 minute 0 hour 3 in Europe/Paris"
    assert lines[2:] == ["2026-01-01T02:00:00+00:00", "2026-01-02T02:00:00+00:00"]
    # 08:30 in Stockholm on 2026-01-01 is 16:30 in Tokyo.
    text = "at 08:30 in Europe/Stockholm"
    lines = next_runs(text, "--tz asia/tokyo --after 2026-01-01T00:00:00Z -n 1")
    assert lines[0] == "second 0 minute 30 hour 8 in Europe/Stockholm"
    assert lines[2:] == ["2026-01-01T16:30:00+09:00"]


def test_tz_on_a_schedule_without_a_zone_prints_its_utc_fires_there() -> None:
    runs = fire_times("at 08:30", "--tz Europe/Stockholm --after 2026-01-01T00:00:00Z -n 1")
    assert runs == ["2026-01-01T09:30:00+01:00"]


def test_schedule_tz_attaches_a_zone_like_parse_timezone() -> None:
    # 2026-01-01T00:00Z is 09:00 in Tokyo: 08:30 there has passed, so the 2nd.
    lines = next_runs("at 08:30", "--schedule-tz asia/tokyo --after 2026-01-01T00:00:00Z -n 1")
    assert lines[0] == "second 0 minute 30 hour 8 in Asia/Tokyo"
    assert lines[2:] == ["2026-01-02T08:30:00+09:00"]
    # Both: fire on Tokyo's clock, print in UTC.
    both = "--schedule-tz Asia/Tokyo --tz UTC --after 2026-01-01T00:00:00Z -n 1"
    assert fire_times("at 08:30", both) == ["2026-01-01T23:30:00+00:00"]
    # The same zone as the text's is no conflict.
    same = "--schedule-tz europe/stockholm --after 2026-01-01T00:00:00Z -n 1"
    assert fire_times("at 08:30 in Europe/Stockholm", same) == ["2026-01-01T08:30:00+01:00"]


def test_schedule_tz_that_disagrees_with_the_text_is_refused() -> None:
    lines = invalid("at 08:30 in Europe/Stockholm", "--schedule-tz", "UTC")
    assert lines[0].startswith("error: --schedule-tz UTC: the schedule names its own zone")
    assert "Europe/Stockholm" in lines[0]
    assert lines[1:] == ["  at 08:30 in Europe/Stockholm", "  " + " " * 12 + "^"]


def test_utc_is_written_plus_zero_and_times_stop_at_the_second() -> None:
    # Milliseconds only when they are not zero.
    assert fire_times("every 1500 ms", "--after 2026-01-01T00:00:00Z -n 2") == [
        "2026-01-01T00:00:01.500+00:00",
        "2026-01-01T00:00:03+00:00",
    ]


def test_a_sub_millisecond_remainder_prints_no_milliseconds() -> None:
    runs = fire_times("every 1 second", "--after 2026-01-01T00:00:00.000500Z -n 1")
    assert runs == ["2026-01-01T00:00:01+00:00"]


# -- intervals --------------------------------------------------------------------------


def test_an_interval_fires_at_after_plus_k_intervals_in_utc() -> None:
    lines = next_runs("every 90 seconds", "--after 2026-01-01T00:00:00Z -n 3")
    assert lines[0] == "every 90 seconds"
    assert lines[2:] == [
        "2026-01-01T00:01:30+00:00",
        "2026-01-01T00:03:00+00:00",
        "2026-01-01T00:04:30+00:00",
    ]


def test_an_interval_prints_in_tz_and_reads_naive_times_in_its_own_zone() -> None:
    aware = fire_times("every 90 seconds", "--tz Asia/Tokyo --after 2026-01-01T00:00:00Z -n 2")
    assert aware == ["2026-01-01T09:01:30+09:00", "2026-01-01T09:03:00+09:00"]
    # A naive --after is wall time where the schedule fires: UTC for an interval...
    naive = fire_times("every 90 seconds", "--tz Asia/Tokyo --after 2026-01-01T00:00:00 -n 1")
    assert naive == ["2026-01-01T09:01:30+09:00"]
    # ...unless --schedule-tz names a zone.
    attached = "--schedule-tz Asia/Tokyo --after 2026-01-01T00:00:00 -n 1"
    assert fire_times("every 90 seconds", attached) == ["2026-01-01T00:01:30+09:00"]


# -- cron and RRULE -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "canonical", "expected"),
    [
        (
            "30 8 * * 4",
            "second 0 minute 30 hour 8 on thursday",
            ["2026-01-01T08:30:00+00:00", "2026-01-08T08:30:00+00:00"],
        ),
        (
            "15 30 8 * * thu",
            "second 15 minute 30 hour 8 on thursday",
            ["2026-01-01T08:30:15+00:00"],
        ),
        (  # Debian cron's OR rule: the 13th, or any Friday
            "0 0 13 * 5",
            "second 0 minute 0 hour 0 day 13 or on friday",
            [
                "2026-01-02T00:00:00+00:00",
                "2026-01-09T00:00:00+00:00",
                "2026-01-13T00:00:00+00:00",
                "2026-01-16T00:00:00+00:00",
            ],
        ),
        (
            "@hourly",
            "second 0 minute 0",
            ["2026-01-01T01:00:00+00:00", "2026-01-01T02:00:00+00:00"],
        ),
        (
            "@weekly",
            "second 0 minute 0 hour 0 on sunday",
            ["2026-01-04T00:00:00+00:00", "2026-01-11T00:00:00+00:00"],
        ),
        (
            "@monthly",
            "second 0 minute 0 hour 0 day 1",
            ["2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"],
        ),
        (
            "@yearly",
            "second 0 minute 0 hour 0 day 1 month 1",
            ["2027-01-01T00:00:00+00:00"],
        ),
    ],
)
def test_cron_input(cron: str, canonical: str, expected: list[str]) -> None:
    lines = next_runs(cron, f"--after 2026-01-01T00:00:00Z -n {len(expected)}")
    assert lines[0] == canonical
    assert lines[2:] == expected


def test_rrule_text_last_friday_of_the_month() -> None:
    rule = "RRULE:FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0"
    lines = next_runs(rule, "--after 2026-01-01T00:00:00Z -n 3")
    assert lines[0] == rule
    assert lines[1] == describe(parse(rule))
    assert lines[2:] == [
        "2026-01-30T09:00:00+00:00",
        "2026-02-27T09:00:00+00:00",
        "2026-03-27T09:00:00+00:00",
    ]
    # --tz prints the same fires on Stockholm's clock (winter time in January)...
    runs = fire_times(rule, "--tz Europe/Stockholm --after 2026-01-01T00:00:00Z -n 1")
    assert runs == ["2026-01-30T10:00:00+01:00"]
    # ...--schedule-tz puts the rule on it.
    runs = fire_times(rule, "--schedule-tz Europe/Stockholm --after 2026-01-01T00:00:00Z -n 1")
    assert runs == ["2026-01-30T09:00:00+01:00"]


# -- fewer times than asked -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("RRULE:FREQ=DAILY;UNTIL=20200101T000000Z", "2026-01-01T00:00:00Z", []),
        (
            "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;COUNT=2",
            "2026-01-01T00:00:00Z",
            ["2026-01-02T00:00:00+00:00"],  # the first of the two is not after --after
        ),
        # Nothing is computed past the year 9999.
        ("at 08:30", "9999-12-31T00:00:00Z", ["9999-12-31T08:30:00+00:00"]),
    ],
)
def test_a_schedule_that_stops_firing_prints_fewer_times(
    schedule: str, after: str, expected: list[str]
) -> None:
    lines = next_runs(schedule, f"--after {after} -n 5")
    assert len(lines) == 2 + len(expected)
    assert lines[2:] == expected


def test_json_with_fewer_times() -> None:
    document = next_runs_json(
        "RRULE:FREQ=DAILY;UNTIL=20200101T000000Z", "--after 2026-01-01T00:00:00Z"
    )
    assert document["next_runs"] == []


# -- JSON ---------------------------------------------------------------------------------------


def test_json_prints_exactly_one_object() -> None:
    text = "at 08:30 on weekdays in Europe/Stockholm"
    assert next_runs_json(text, "--after 2026-01-01T00:00:00Z -n 2") == {
        "schedule": "second 0 minute 30 hour 8 on monday-friday in Europe/Stockholm",
        "description": describe(parse(text)),
        "timezone": "Europe/Stockholm",
        "next_runs": ["2026-01-01T08:30:00+01:00", "2026-01-02T08:30:00+01:00"],
    }


def test_json_of_an_interval_names_utc_or_the_tz_zone() -> None:
    assert next_runs_json("every 2 hours", "--after 2026-01-01T00:00:00Z -n 1") == {
        "schedule": "every 2 hours",
        "description": describe(parse("every 2 hours")),
        "timezone": "UTC",
        "next_runs": ["2026-01-01T02:00:00+00:00"],
    }
    zoned = next_runs_json(
        "every 2 hours", "--tz europe/stockholm --after 2026-01-01T00:00:00Z -n 1"
    )
    assert zoned["timezone"] == "Europe/Stockholm"
    assert zoned["next_runs"] == ["2026-01-01T03:00:00+01:00"]


# -- daylight saving (Europe/Stockholm) ----------------------------------------------------------


def test_spring_forward_moves_a_skipped_fixed_time_to_the_end_of_the_gap() -> None:
    assert fire_times("at 02:30 in Europe/Stockholm", "--after 2026-03-28T00:00 -n 3") == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night
        "2026-03-30T02:30:00+02:00",
    ]


def test_spring_forward_skips_stepped_times_in_the_gap() -> None:
    assert fire_times("minute */30 in Europe/Stockholm", "--after 2026-03-29T01:00 -n 3") == [
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T03:30:00+02:00",
    ]


def test_fall_back_fires_a_fixed_time_once_and_stepped_times_twice() -> None:
    fixed = fire_times("at 02:30 in Europe/Stockholm", "--after 2026-10-25T00:00 -n 2")
    assert fixed == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    assert fire_times("minute */30 in Europe/Stockholm", "--after 2026-10-25T01:59 -n 5") == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:00:00+01:00",
    ]


# -- invalid input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "offending", "words"),
    [
        ("month 13", "13", ["month", "13"]),
        ("minute 5-2", "5-2", ["minute", "5-2"]),
        ("minute 5 blah", "blah", ["blah"]),
        ("5 61 * * *", "61", ["hour", "61"]),
        ("on sunday-tuesday", "sunday-tuesday", ["sunday,monday-tuesday"]),
        ("at 08:30 in Mars/Base", "Mars/Base", ["Mars/Base"]),
        ("every 0 seconds", "0", ["0"]),
        ("RRULE:FREQ=SOMETIMES", "SOMETIMES", ["FREQ", "SOMETIMES"]),
    ],
)
def test_invalid_schedule_shows_the_input_with_a_caret(
    schedule: str, offending: str, words: list[str]
) -> None:
    lines = invalid(schedule, "--after", "2026-01-01T00:00:00Z")
    assert len(lines) == 3, lines
    for word in words:
        assert word in lines[0]
    assert lines[1] == f"  {schedule}"
    assert caret_column(lines) == schedule.index(offending)


def test_the_caret_is_on_the_right_line_of_multi_line_input() -> None:
    lines = invalid("DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;BYHOUR=25")
    assert lines[1] == "  RRULE:FREQ=DAILY;BYHOUR=25"
    assert caret_column(lines) == len("RRULE:FREQ=DAILY;BYHOUR=")


def test_bad_tz_is_shown_with_a_caret() -> None:
    lines = invalid("at 08:30", "--tz", "Mars/Base")
    assert "Mars/Base" in lines[0]
    assert lines[1:] == ["  Mars/Base", "  ^"]
    lines = invalid("at 08:30", "--schedule-tz", "Mars/Base")
    assert lines[0].startswith("error: --schedule-tz: unknown time zone 'Mars/Base'")


@pytest.mark.parametrize(
    "args",
    [
        ["at 08:30", "--tz", "a/" * 400],
        ["at 08:30", "--schedule-tz", "a/" * 400 + "b"],
        ["at 08:30 in " + "a/" * 400 + "b"],
        ["0 8 * * * in " + "/".join(["Europe"] * 500)],
        ["RRULE:FREQ=DAILY in " + "x/" * 400 + "y"],
    ],
)
def test_a_400_part_zone_name_is_a_clean_error(args: list[str]) -> None:
    lines = invalid(*args)
    assert "unknown time zone" in lines[0]


@pytest.mark.parametrize("after", ["yesterdayish", "2026-02-30"])
def test_bad_after_is_shown_with_a_caret(after: str) -> None:
    lines = invalid("at 08:30", "--after", after)
    assert lines[0].startswith("error: --after: ")
    assert lines[1:] == [f"  {after}", "  ^"]


def test_an_after_with_an_unknown_zone_name_is_refused_not_read_as_utc() -> None:
    lines = invalid("at 08:30", "--after", "2026-01-01 00:00 EST")
    assert "UTC offset" in lines[0]


@pytest.mark.parametrize("count", ["0", "many"])
def test_bad_n_is_one_line(count: str) -> None:
    line = assert_one_line_error(run_cli("next-runs", "at 08:30", "-n", count), 2)
    assert "N must be" in line


def test_a_missing_schedule_is_one_line() -> None:
    assert_one_line_error(run_cli("next-runs"), 2)


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    # 10,000 lines are far more than a pipe buffers: the CLI writes into a closed pipe.
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgjobs", "next-runs", "every 1 ms", "-n", "10000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 1)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr


# -- --before: the fires before a time, newest first -----------------------------------------


def test_before_lists_the_previous_fires_newest_first() -> None:
    lines = next_runs("at 08:30 in Europe/Stockholm", "--before 2026-01-03T08:30:00+01:00 -n 3")
    assert lines[:2] == [
        "second 0 minute 30 hour 8 in Europe/Stockholm",
        describe(parse("at 08:30 in Europe/Stockholm")),
    ]
    # Strictly before: 08:30 on the 3rd itself is not listed.
    assert lines[2:] == [
        "2026-01-02T08:30:00+01:00",
        "2026-01-01T08:30:00+01:00",
        "2025-12-31T08:30:00+01:00",
    ]


def test_before_mirrors_the_daylight_saving_rules() -> None:
    # Spring: 02:30 does not exist on 2026-03-29 and fired at 03:00 instead.
    spring = fire_times("at 02:30 in Europe/Stockholm", "--before 2026-03-29T04:00 -n 2")
    assert spring == ["2026-03-29T03:00:00+02:00", "2026-03-28T02:30:00+01:00"]
    # Autumn: 02:30 happens twice on 2026-10-25 and fired at the first.
    autumn = fire_times("at 02:30 in Europe/Stockholm", "--before 2026-10-25T04:00 -n 2")
    assert autumn == ["2026-10-25T02:30:00+02:00", "2026-10-24T02:30:00+02:00"]
    # Elapsed time (`*/1` hour): both 02:30s fired.
    stepped = fire_times("30 */1 * * * in Europe/Stockholm", "--before 2026-10-25T03:00 -n 2")
    assert stepped == ["2026-10-25T02:30:00+01:00", "2026-10-25T02:30:00+02:00"]


def test_before_an_interval_steps_back_from_the_time() -> None:
    runs = fire_times("every 90 seconds", "--before 2026-01-01T00:00:00Z -n 2")
    assert runs == ["2025-12-31T23:58:30+00:00", "2025-12-31T23:57:00+00:00"]


def test_before_in_json_keeps_the_keys_and_adds_before_and_previous_runs() -> None:
    document = next_runs_json(
        "RRULE:FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
        "--before 2026-03-01T00:00:00Z -n 2",
    )
    assert document == {
        "schedule": "RRULE:FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
        "description": "every month on the last Friday at 09:00:00",
        "timezone": "UTC",
        "next_runs": [],
        "before": "2026-03-01T00:00:00+00:00",
        "previous_runs": ["2026-02-27T09:00:00+00:00", "2026-01-30T09:00:00+00:00"],
    }


def test_before_and_after_together_are_refused() -> None:
    result = run_cli("next-runs", "at 08:30", "--before", "2026-01-01", "--after", "2025-01-01")
    assert "not allowed with" in assert_one_line_error(result, 2)


def test_bad_before_is_shown_with_a_caret() -> None:
    lines = invalid("at 08:30", "--before", "2026-02-30")
    assert lines[0].startswith("error: --before: ")
    assert lines[1:] == ["  2026-02-30", "  ^"]
