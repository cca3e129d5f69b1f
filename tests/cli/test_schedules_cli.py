"""`bgjobs schedules list` and `bgjobs schedules history KEY` as subprocesses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import bgjobs
from bgjobs import FakeClock, Job, ScheduledJob, Worker
from bgjobs.db import adapter_from_url
from tests.cli.support import assert_one_line_error, run_cli

START = datetime(2030, 1, 1, tzinfo=UTC)


def seed(url: str) -> None:
    """Two schedules of one handler: "nightly" ran twice (one failure), "hourly" never."""
    clock = FakeClock(START)

    def report(job: Job) -> None:
        if job.available_at == START + timedelta(days=2):
            raise ValueError("no data for the day")

    worker = Worker("report", report)
    adapter = adapter_from_url(url)
    bg = (
        bgjobs.new(adapter)
        .with_clock(clock)
        .with_scheduled_job(ScheduledJob(worker, "at 00:00", key="nightly").with_max_retries(0))
        .with_scheduled_job(ScheduledJob(worker, "every 1 hour", key="hourly"))
        .build(start=False)
    )
    try:
        for day in (1, 2):
            clock.set(START + timedelta(days=day, seconds=1))
            # "hourly" runs (late) too: the clock jumps a day at a time.
            assert bg.drain() == 2
    finally:
        bg.stop()
        adapter.close()


def test_list_and_history(database_url: str) -> None:
    seed(database_url)
    listed = run_cli("schedules", "list", "--db", database_url, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["key"], r["job_name"], r["running"]) for r in rows] == [
        ("hourly", "report", False),
        ("nightly", "report", False),
    ]
    nightly = rows[1]
    assert nightly["schedule"] == "second 0 minute 0 hour 0" and nightly["description"]
    assert nightly["next_fire"] == "2030-01-04T00:00:00+00:00"
    assert nightly["last_run"]["outcome"] == "failed"
    assert nightly["last_run"]["error"] == "ValueError: no data for the day"

    text = run_cli("schedules", "list", "--db", database_url)
    assert text.returncode == 0, text.stderr
    header, *lines = text.stdout.splitlines()
    assert header.split() == [
        "key",
        "job",
        "schedule",
        "description",
        "last_run",
        "outcome",
        "next_fire",
        "paused",
    ]
    assert len(lines) == 2 and lines[1].startswith("nightly") and "failed" in lines[1]

    history = run_cli("schedules", "history", "nightly", "--db", database_url, "--json")
    assert history.returncode == 0, history.stderr
    runs = json.loads(history.stdout)
    assert [(r["slot"], r["outcome"], r["error"]) for r in runs] == [
        ("2030-01-03T00:00:00+00:00", "failed", "ValueError: no data for the day"),
        ("2030-01-02T00:00:00+00:00", "succeeded", None),
    ]
    limited = run_cli(
        "schedules", "history", "nightly", "--limit", "1", "--db", database_url, "--json"
    )
    assert len(json.loads(limited.stdout)) == 1
    plain = run_cli("schedules", "history", "nightly", "--db", database_url)
    assert plain.returncode == 0 and "no data for the day" in plain.stdout


def test_unknown_key_and_bad_limit_are_one_line_errors(database_url: str) -> None:
    seed(database_url)
    missing = run_cli("schedules", "history", "weekly", "--db", database_url)
    assert "no schedule with key 'weekly'" in assert_one_line_error(missing, 1)
    bad = run_cli("schedules", "history", "nightly", "--limit", "0", "--db", database_url)
    assert "expected a number" in assert_one_line_error(bad, 2)


def test_add_pause_resume_remove_from_the_command_line(database_url: str) -> None:
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    db = ("--db", database_url)
    added = run_cli(
        "schedules", "add", "eu", "every 5 minutes", "report", "--payload", '{"r": "eu"}', *db
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("added schedule 'eu' (every 5 minutes); next fire ")
    [stored] = adapter.schedules.added()
    assert (stored.job_name, stored.payload_text, stored.misfire) == (
        "report",
        '{"r":"eu"}',
        "once",
    )
    again = run_cli("schedules", "add", "eu", "every 5 minutes", "report", *db)
    assert "a schedule with key 'eu' exists" in assert_one_line_error(again, 1)
    bad = run_cli("schedules", "add", "us", "every blue moon", "report", *db)
    assert "every blue moon" in assert_one_line_error(bad, 2)
    bad_json = run_cli("schedules", "add", "us", "every 1 hour", "report", "--payload", "{", *db)
    assert "--payload is not JSON" in assert_one_line_error(bad_json, 2)
    for action, past in (("pause", "paused"), ("resume", "resumed"), ("remove", "removed")):
        done = run_cli("schedules", action, "eu", *db)
        assert done.returncode == 0 and done.stdout == f"{past} schedule 'eu'\n", done.stderr
    missing = run_cli("schedules", "pause", "eu", *db)
    message = assert_one_line_error(missing, 1)
    assert "no schedule with key 'eu' (from code or added at runtime)" in message
    assert adapter.schedules.added() == []
    adapter.close()


def test_pause_and_resume_a_schedule_from_code_from_the_command_line(database_url: str) -> None:
    seed(database_url)
    db = ("--db", database_url)

    def paused() -> dict[str, bool]:
        listed = run_cli("schedules", "list", "--json", *db)
        assert listed.returncode == 0, listed.stderr
        return {row["key"]: row["paused"] for row in json.loads(listed.stdout)}

    assert paused() == {"hourly": False, "nightly": False}
    done = run_cli("schedules", "pause", "nightly", *db)
    assert done.returncode == 0 and done.stdout == "paused schedule 'nightly'\n", done.stderr
    assert paused() == {"hourly": False, "nightly": True}
    text = run_cli("schedules", "list", *db)
    [nightly] = [line for line in text.stdout.splitlines() if line.startswith("nightly")]
    assert nightly.split()[-1] == "yes"
    # A schedule from code cannot be removed: the message says why and what to do instead.
    removed = run_cli("schedules", "remove", "nightly", *db)
    message = assert_one_line_error(removed, 1)
    assert "'nightly' comes from code" in message and "pause it" in message
    done = run_cli("schedules", "resume", "nightly", *db)
    assert done.returncode == 0 and done.stdout == "resumed schedule 'nightly'\n", done.stderr
    assert paused() == {"hourly": False, "nightly": False}
    adapter = adapter_from_url(database_url)
    try:
        # Claimed again at its slot (resumed before the slot, it kept its time).
        due = START + timedelta(days=3)
        assert adapter.reserve_scheduled_job("nightly", owner="w", now=due) is not None
    finally:
        adapter.close()


def test_a_removed_schedule_whose_last_run_is_going_is_not_called_a_schedule_from_code(
    database_url: str,
) -> None:
    adapter = adapter_from_url(database_url)
    try:
        adapter.migrate()
        adapter.schedules.add("export", "every 1 minute", "export", now=START)
        claimed = adapter.reserve_scheduled_job(
            "export", owner="w1", now=START + timedelta(minutes=1)
        )
        assert claimed is not None
        assert adapter.schedules.remove("export")
    finally:
        adapter.close()
    db = ("--db", database_url)
    for action in ("pause", "resume"):
        message = assert_one_line_error(run_cli("schedules", action, "export", *db), 1)
        assert "'export' was removed; its last run is finishing" in message, message
        assert "comes from code" not in message
    message = assert_one_line_error(run_cli("schedules", "remove", "export", *db), 1)
    assert "removed already: its last run is finishing" in message, message
