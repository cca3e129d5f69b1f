"""`bgjobs migrate`, `bgjobs jobs ...` and `bgjobs stats` as subprocesses, on a real SQLite
file and the suite's real PostgreSQL (the `database_url` fixture runs each test on both)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bgjobs.db import adapter_from_url, lease_of
from bgjobs.db.adapter import Failed, ScheduledNext, Succeeded
from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import Job, JobRequest
from tests.cli.support import assert_one_line_error, run_cli
from tests.conftest import with_search_path

OWNER = "01900000-0000-7000-8000-0000000000aa"  # a jobs_workers id, as the runtime makes them


@dataclass(frozen=True)
class Seeded:
    """One job in each state, written through the adapter as a runtime would."""

    waiting: Job  # in jobs, unreserved: queue "reports", priority 5, due in an hour
    running: Job  # in jobs, reserved by OWNER
    succeeded: Job
    failed: Job


@pytest.fixture
def db(database_url: str) -> Iterator[BaseAdapter]:
    """An adapter on the test's database, migrated; closed afterwards."""
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    yield adapter
    adapter.close()


def seed(adapter: BaseAdapter, *, now: datetime | None = None) -> Seeded:
    now = now or datetime.now(UTC)
    send, load, _ = adapter.enqueue_many(
        [
            JobRequest("send_email", {"to": "a@example.com"}),
            JobRequest("import_rows", ["customers.csv", 3]),
            JobRequest("slow"),
        ],
        now=now - timedelta(seconds=1),
    )
    waiting = adapter.enqueue(
        JobRequest("report")
        .on_queue("reports")
        .with_priority(5)
        .available_at(now + timedelta(hours=1)),
        now=now,
    )
    # A worker whose only queue runs three of the four names: "report" (for queue "reports")
    # is handled by nobody.
    adapter.register_worker(
        OWNER,
        hostname="test",
        pid=1,
        now=now,
        queues=["default"],
        job_names=["send_email", "import_rows", "slow"],
    )
    claimed = {
        job.name: job
        for job in adapter.reserve_jobs(
            ["send_email", "import_rows", "slow"], queue="default", limit=10, owner=OWNER, now=now
        )
    }
    assert set(claimed) == {"send_email", "import_rows", "slow"}
    applied = adapter.finish_jobs(
        [
            Succeeded(lease_of(claimed["send_email"])),
            Failed(
                lease_of(claimed["import_rows"]),
                exception="ValueError: row 3 is not a number",
                traceback="Traceback (most recent call last):\n  ...\nValueError: row 3",
            ),
        ],
        now=now,
    )
    assert applied == [True, True]
    return Seeded(waiting=waiting, running=claimed["slow"], succeeded=send, failed=load)


def cli_json(*args: str) -> Any:
    result = run_cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def ok(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    result = run_cli(*args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


# -- migrate ----------------------------------------------------------------------------------


def test_migrate_is_idempotent(database_url: str) -> None:
    first = ok("migrate", "--db", database_url)
    second = ok("migrate", "--db", database_url)
    assert first == second
    assert first.startswith("schema is at version ")
    adapter = adapter_from_url(database_url)
    try:
        assert adapter.list_jobs("jobs") == []  # the tables exist
        assert f"version {adapter.migrate()}" in first
    finally:
        adapter.close()


# -- listing ----------------------------------------------------------------------------------


def test_jobs_list_failed_succeeded_as_json(database_url: str, db: BaseAdapter) -> None:
    seeded = seed(db)
    waiting = cli_json("jobs", "list", "--db", database_url)
    by_id = {row["id"]: row for row in waiting}
    assert set(by_id) == {seeded.waiting.id, seeded.running.id}
    report = by_id[seeded.waiting.id]
    assert (report["name"], report["queue"], report["priority"]) == ("report", "reports", 5)
    assert report["reserved_by"] is None and report["attempts"] == 0
    assert datetime.fromisoformat(report["available_at"]) == seeded.waiting.available_at
    running = by_id[seeded.running.id]
    assert running["reserved_by"] == OWNER and running["attempts"] == 1

    [failed] = cli_json("jobs", "failed", "--db", database_url)
    assert failed["id"] == seeded.failed.id
    assert failed["payload"] == ["customers.csv", 3]
    assert failed["exception"] == "ValueError: row 3 is not a number"
    assert failed["traceback"].startswith("Traceback")
    assert failed["attempts"] == 1

    [succeeded] = cli_json("jobs", "succeeded", "--db", database_url)
    assert succeeded["id"] == seeded.succeeded.id
    assert succeeded["payload"] == {"to": "a@example.com"}
    assert succeeded["state"] == "succeeded"


def test_jobs_list_as_text(database_url: str, db: BaseAdapter) -> None:
    seeded = seed(db)
    listing = ok("jobs", "list", "--db", database_url).splitlines()
    assert listing[0].split() == [
        "id",
        "name",
        "attempts",
        "available_at",
        "reserved_by",
        "queue",
        "priority",
    ]
    rows = {line.split()[0]: line.split() for line in listing[1:]}
    assert set(rows) == {seeded.waiting.id, seeded.running.id}
    assert rows[seeded.waiting.id][1:3] == ["report", "0"]
    assert rows[seeded.waiting.id][-2:] == ["reports", "5"]
    assert rows[seeded.running.id][4] == OWNER

    # A terminal wide enough for the exception beside the row (narrower ones show it below).
    failed = ok("jobs", "failed", "--db", database_url, env={"COLUMNS": "200"}).splitlines()
    assert failed[0].split() == ["id", "name", "attempts", "finished_at", "exception"]
    assert len(failed) == 2
    assert failed[1].startswith(seeded.failed.id)
    assert failed[1].endswith("ValueError: row 3 is not a number")

    succeeded = ok("jobs", "succeeded", "--db", database_url).splitlines()
    assert len(succeeded) == 2 and succeeded[1].split()[:3] == [
        seeded.succeeded.id,
        "send_email",
        "1",
    ]


def test_listing_an_empty_table(database_url: str, db: BaseAdapter) -> None:
    assert ok("jobs", "failed", "--db", database_url) == "no failed jobs\n"
    assert cli_json("jobs", "list", "--db", database_url) == []


def test_list_limit(database_url: str, db: BaseAdapter) -> None:
    db.enqueue_many([JobRequest("work", n) for n in range(5)])
    assert len(cli_json("jobs", "list", "--db", database_url, "--limit", "2")) == 2


@pytest.mark.parametrize("limit", ["0", "99999999999999999999"])
def test_a_bad_limit_is_refused(sqlite_url: str, limit: str) -> None:
    result = run_cli("jobs", "list", "--db", sqlite_url, "--limit", limit)
    assert "--limit" in assert_one_line_error(result, 2)


# -- retry and delete --------------------------------------------------------------------------


def test_retry_brings_a_failed_job_back_as_a_plain_job(database_url: str, db: BaseAdapter) -> None:
    seeded = seed(db)
    out = ok("jobs", "retry", seeded.failed.id, "--db", database_url)
    assert seeded.failed.id in out and "import_rows" in out
    assert cli_json("jobs", "failed", "--db", database_url) == []
    again = db.get_job(seeded.failed.id)
    assert isinstance(again, Job)
    assert again.attempts == 0 and again.reserved_by is None
    assert again.payload == ["customers.csv", 3] and again.scheduled_job is None
    # It is not in jobs_failed any more: a second retry finds nothing.
    line = assert_one_line_error(
        run_cli("jobs", "retry", seeded.failed.id, "--db", database_url), 1
    )
    assert seeded.failed.id in line


def test_retry_of_a_failed_scheduled_run_enqueues_a_plain_job(
    database_url: str, db: BaseAdapter
) -> None:
    now = datetime.now(UTC)
    db.register_worker(OWNER, hostname="test", pid=1, now=now)
    assert db.insert_scheduled_job(
        "nightly", schedule_text="every 1 hour", available_at=now, now=now
    )
    run = db.reserve_scheduled_job("nightly", owner=OWNER, now=now)
    assert run is not None and run.scheduled_job == "nightly"
    next_run = ScheduledNext("nightly", "every 1 hour", now + timedelta(hours=1))
    db.finish_jobs([Failed(lease_of(run), "OSError: disk full", "", next_run)], now=now)

    record = cli_json("jobs", "retry", run.id, "--db", database_url)
    assert record["id"] == run.id and record["scheduled_job"] is None
    rows = cli_json("jobs", "list", "--db", database_url)
    assert {(row["id"] == run.id, row["scheduled_job"]) for row in rows} == {
        (True, None),  # the retried run, plain
        (False, "nightly"),  # the schedule's own next row, untouched
    }


def test_delete_from_each_table(database_url: str, db: BaseAdapter) -> None:
    seeded = seed(db)
    assert ok("jobs", "delete", seeded.waiting.id, "--db", database_url) == (
        f"deleted job {seeded.waiting.id} from jobs\n"
    )
    assert cli_json("jobs", "delete", seeded.succeeded.id, "--db", database_url) == {
        "id": seeded.succeeded.id,
        "deleted_from": "succeeded",
    }
    assert cli_json("jobs", "delete", seeded.failed.id, "--db", database_url) == {
        "id": seeded.failed.id,
        "deleted_from": "failed",
    }
    for job in (seeded.waiting, seeded.succeeded, seeded.failed):
        assert db.get_job(job.id) is None
    assert db.get_job(seeded.running.id) is not None


@pytest.mark.parametrize("action", ["retry", "delete"])
def test_an_unknown_id_is_one_line_and_exit_1(
    database_url: str, db: BaseAdapter, action: str
) -> None:
    seed(db)
    result = run_cli("jobs", action, "no-such-job", "--db", database_url)
    line = assert_one_line_error(result, 1)
    assert "no-such-job" in line
    assert result.stdout == ""
    assert db.count_jobs(now=datetime.now(UTC)).failed == 1  # nothing changed


# -- prune ----------------------------------------------------------------------------------------


def test_prune_deletes_only_finished_rows_older_than_the_duration(
    database_url: str, db: BaseAdapter
) -> None:
    old = seed(db, now=datetime.now(UTC) - timedelta(days=30))
    recent = seed(db, now=datetime.now(UTC) - timedelta(hours=1))
    result = cli_json("jobs", "prune", "--older-than", "7d", "--db", database_url)
    assert result["deleted"] == {"succeeded": 1, "failed": 1}
    cutoff = datetime.fromisoformat(result["older_than"])
    assert timedelta(days=7) - timedelta(minutes=5) < datetime.now(UTC) - cutoff
    for gone in (old.succeeded, old.failed):
        assert db.get_job(gone.id) is None
    for kept in (recent.succeeded, recent.failed, old.waiting, old.running):
        assert db.get_job(kept.id) is not None
    # Nothing left that old: a second prune deletes nothing.
    text = ok("jobs", "prune", "--older-than", "1w", "--db", database_url)
    assert text.startswith("deleted 0 succeeded jobs finished before ")
    assert "deleted 0 failed jobs finished before " in text


def test_prune_one_state(database_url: str, db: BaseAdapter) -> None:
    old = seed(db, now=datetime.now(UTC) - timedelta(days=30))
    result = cli_json(
        "jobs", "prune", "--older-than", "2w", "--state", "failed", "--db", database_url
    )
    assert result["deleted"] == {"failed": 1}
    assert db.get_job(old.failed.id) is None
    assert db.get_job(old.succeeded.id) is not None


@pytest.mark.parametrize("duration", ["7x", "0d", "99999999999999w"])
def test_a_bad_older_than_is_refused(sqlite_url: str, duration: str) -> None:
    result = run_cli("jobs", "prune", "--older-than", duration, "--db", sqlite_url)
    assert "--older-than" in assert_one_line_error(result, 2)


# -- stats -----------------------------------------------------------------------------------------


def test_stats(database_url: str, db: BaseAdapter) -> None:
    seed(db)
    stats = cli_json("stats", "--db", database_url)
    assert {key: stats[key] for key in ("waiting", "running", "succeeded", "failed")} == {
        "waiting": 1,
        "running": 1,
        "succeeded": 1,
        "failed": 1,
    }
    assert {name: counts["failed"] for name, counts in stats["by_name"].items()} == {
        "send_email": 0,
        "import_rows": 1,
        "slow": 0,
        "report": 0,
    }
    assert stats["by_name"]["slow"]["running"] == 1
    text = ok("stats", "--db", database_url).splitlines()
    assert text[0] == "waiting 1  running 1  succeeded 1  failed 1"
    assert text[1].split() == ["name", "waiting", "running", "succeeded", "failed"]
    names = [line.split()[0] for line in text[2:6]]
    assert names == ["import_rows", "report", "send_email", "slow"]
    assert stats["workers"] == 1
    assert stats["unhandled"] == [{"name": "report", "queue": "reports", "waiting": 1}]
    assert text[6:] == [
        "warning: 1 waiting job named 'report' for queue 'reports': no running worker handles it"
    ]


def test_stats_marks_a_name_no_worker_handles(database_url: str, db: BaseAdapter) -> None:
    now = datetime.now(UTC)
    db.register_worker(
        OWNER, hostname="test", pid=1, now=now, queues=["default"], job_names=["send_email"]
    )
    db.enqueue_many(
        [JobRequest("send_email"), JobRequest("sned_email"), JobRequest("sned_email")], now=now
    )
    stats = cli_json("stats", "--db", database_url)
    assert stats["unhandled"] == [{"name": "sned_email", "queue": None, "waiting": 2}]
    text = ok("stats", "--db", database_url)
    assert "warning: 2 waiting jobs named 'sned_email': no running worker handles it" in text
    db.remove_worker(OWNER)  # nobody runs at all: not a naming mistake, nothing is marked
    assert cli_json("stats", "--db", database_url)["unhandled"] == []


# -- where the database is -----------------------------------------------------------------------


def test_the_environment_variable_is_the_default(database_url: str, db: BaseAdapter) -> None:
    seed(db)
    result = run_cli("stats", "--json", env={"BGJOBS_DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["failed"] == 1


def test_without_db_or_environment_it_is_bgjobs_db_here(tmp_path: Path) -> None:
    ok("migrate", cwd=tmp_path)
    assert (tmp_path / "bgjobs.db").is_file()
    assert json.loads(ok("stats", "--json", cwd=tmp_path))["waiting"] == 0


def test_db_overrides_the_environment(sqlite_url: str, tmp_path: Path) -> None:
    elsewhere = f"sqlite:///{tmp_path / 'other.db'}"
    result = run_cli("migrate", "--db", sqlite_url, env={"BGJOBS_DATABASE_URL": elsewhere})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "other.db").exists()


@pytest.mark.parametrize(
    ("command", "url"),
    [
        (["migrate"], "foo://bar"),
        (["jobs", "list"], "sqlite://"),
        (["stats"], "sqlite:///x.db?mode=ro"),
        (["jobs", "prune", "--older-than", "7d"], "jobs.db"),
    ],
)
def test_a_bad_url_is_one_line_and_exit_2(tmp_path: Path, command: list[str], url: str) -> None:
    result = run_cli(*command, "--db", url, cwd=tmp_path)
    assert "URL" in assert_one_line_error(result, 2)
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_a_table_missing_says_to_migrate(sqlite_url: str) -> None:
    line = assert_one_line_error(run_cli("jobs", "list", "--db", sqlite_url), 1)
    assert "bgjobs migrate" in line


@pytest.mark.slow
def test_an_unreachable_postgresql_is_one_line_and_exit_1() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli("migrate", "--db", f"postgresql://postgres@127.0.0.1:{port}/nothing")
    assert "127.0.0.1" in assert_one_line_error(result, 1)


@pytest.mark.postgres
def test_a_search_path_naming_a_missing_schema_says_to_create_it(
    postgres_server_url: str,
) -> None:
    url = with_search_path(postgres_server_url, "no_such_schema")
    line = assert_one_line_error(run_cli("migrate", "--db", url), 1)
    assert "no schema of the search_path 'no_such_schema' exists" in line
    assert "CREATE SCHEMA" in line
