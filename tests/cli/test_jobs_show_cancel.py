"""`bgjobs jobs show` and `bgjobs jobs cancel` as subprocesses, on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bgjobs.db import lease_of
from bgjobs.db.adapter import Succeeded
from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import JobRequest
from tests.cli.support import run_cli
from tests.cli.test_db_commands import OWNER, cli_json, db, ok, seed

__all__ = ["db"]  # the fixture, imported for this module's tests


def test_show_prints_every_field_of_a_job_in_each_state(database_url: str, db: BaseAdapter) -> None:
    seeded = seed(db)
    waiting = cli_json("jobs", "show", seeded.waiting.id, "--db", database_url)
    assert waiting["state"] == "waiting" and waiting["queue"] == "reports"
    assert waiting["priority"] == 5 and waiting["attempts"] == 0
    running = cli_json("jobs", "show", seeded.running.id, "--db", database_url)
    assert running["state"] == "running" and running["reserved_by"] == OWNER
    failed = cli_json("jobs", "show", seeded.failed.id, "--db", database_url)
    assert failed["state"] == "failed"
    assert failed["payload"] == ["customers.csv", 3]
    assert failed["exception"] == "ValueError: row 3 is not a number"
    assert failed["traceback"].startswith("Traceback")
    text = ok("jobs", "show", seeded.failed.id, "--db", database_url)
    assert "state" in text and "failed" in text and '["customers.csv", 3]' in text
    assert "traceback:" in text and "ValueError: row 3" in text


def test_show_includes_the_result(database_url: str, db: BaseAdapter) -> None:
    now = datetime.now(UTC)
    db.register_worker(OWNER, hostname="test", pid=1, now=now)
    job = db.enqueue(JobRequest("sum", [1, 2]), now=now)
    [claimed] = db.reserve_jobs(["sum"], queue="default", limit=1, owner=OWNER, now=now)
    assert db.finish_jobs([Succeeded(lease_of(claimed), result='{"total":3}')], now=now) == [True]
    shown = cli_json("jobs", "show", job.id, "--db", database_url)
    assert shown["state"] == "succeeded" and shown["result"] == {"total": 3}
    assert '{"total": 3}' in ok("jobs", "show", job.id, "--db", database_url)


def test_show_of_an_unknown_id_is_one_line_and_exit_1(database_url: str, db: BaseAdapter) -> None:
    result = run_cli("jobs", "show", "nope", "--db", database_url)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "nope" in result.stderr
    assert "Traceback" not in result.stderr


def test_cancel_waiting_running_and_unknown(database_url: str, db: BaseAdapter) -> None:
    seeded = seed(db)
    result = run_cli(
        "jobs",
        "cancel",
        seeded.waiting.id,
        seeded.running.id,
        seeded.succeeded.id,
        "--db",
        database_url,
        "--json",
    )
    assert result.returncode == 1, result.stderr  # one id was not found
    assert json.loads(result.stdout) == [
        {"id": seeded.waiting.id, "result": "cancelled"},
        {"id": seeded.running.id, "result": "requested"},
        {"id": seeded.succeeded.id, "result": "not_found"},
    ]
    gone = db.get_job(seeded.waiting.id)
    assert gone is not None and gone.state == "failed"
    assert (gone.exception or "").startswith("Cancelled")  # type: ignore[union-attr]
    still = db.get_job(seeded.running.id)
    assert still is not None and still.state == "running" and still.cancel_requested  # type: ignore[union-attr]
    text = ok("jobs", "cancel", seeded.running.id, "--db", database_url)
    assert "cancel requested" in text


def test_stats_shows_abandoned_threads(database_url: str, db: BaseAdapter) -> None:
    now = datetime.now(UTC)
    db.register_worker(OWNER, hostname="test", pid=1, now=now)
    db.register_worker(OWNER[:-2] + "bb", hostname="test", pid=2, now=now)
    assert db.heartbeat_worker(OWNER, now=now, abandoned_threads=2)
    assert db.heartbeat_worker(OWNER[:-2] + "bb", now=now, abandoned_threads=1)
    assert db.heartbeat_worker(OWNER, now=now)  # no count given: the stored one stays
    assert cli_json("stats", "--db", database_url)["abandoned_threads"] == 3
    assert "abandoned handler threads 3" in ok("stats", "--db", database_url)
