"""What `bgjobs worker` tells its operator: the banner, one line per job start and end,
failures with their tracebacks at DEBUG, waiting jobs nobody handles, start-up errors
that point at the file and line, and jobs a timed-out stop leaves behind.
Payloads never appear in the log at any level."""

from __future__ import annotations

import re
import signal
from datetime import timedelta
from pathlib import Path

import pytest

from bgjobs.db import adapter_from_url
from bgjobs.db.adapter import FinishedJob
from bgjobs.jobs import JobRequest
from tests.cli.support import assert_one_line_error, run_cli, wait_until
from tests.cli.test_worker_cli import WorkerProcess, app_dir, start_worker, started, write_app

__all__ = ["app_dir", "started"]  # fixtures, used by name below

#: A payload no log line may ever contain.
SECRET = "PAYLOAD-SECRET-7f3a9c"

FAILING_APP = """

def explode(job):
    raise ValueError("the handler gave up")


builder = builder.with_queue(
    Queue("other")
    .with_worker(Worker("explode", explode))
    .with_max_retries(1)
    .with_retry_backoff(timedelta(0))
    .with_poll_interval(timedelta(milliseconds=100))
).with_scheduled_job(ScheduledJob(Worker("nightly", greet), "at 03:00 on weekdays"))
"""


def wait_finished(url: str, job_ids: list[str]) -> None:
    adapter = adapter_from_url(url)
    try:
        wait_until(
            lambda: all(isinstance(adapter.get_job(i), FinishedJob) for i in job_ids),
            60,
            "the jobs to finish",
        )
    finally:
        adapter.close()


@pytest.mark.slow
def test_the_worker_log_at_debug(
    tmp_path: Path, sqlite_url: str, started: list[WorkerProcess]
) -> None:
    write_app(tmp_path, sqlite_url, FAILING_APP)
    adapter = adapter_from_url(sqlite_url)
    adapter.migrate()
    # Enqueued before the worker starts, so the first job runs as soon as it can.
    greet, explode, _typo = adapter.enqueue_many(
        [
            JobRequest("greet", {"to": SECRET}),
            JobRequest("explode", {"secret": SECRET}),
            JobRequest("gret", {"to": SECRET}),
        ]
    )
    adapter.close()
    worker = start_worker(started, tmp_path, "app:builder", "--log-level", "DEBUG")
    wait_finished(sqlite_url, [greet.id, explode.id])
    wait_until(lambda: "'gret'" in worker.stderr(), 60, "the unhandled-name warning")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.stderr()
    log = worker.stderr()
    lines = log.splitlines()

    def first(pattern: str) -> int:
        found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
        assert found, f"no line matches {pattern!r} in:\n{log}"
        return found[0]

    # The banner: where, which queues with their jobs and concurrency, the schedules described.
    banner = [
        first(r"INFO bgjobs: worker \S+ running app:builder \(pid \d+"),
        first(r"INFO bgjobs: database: sqlite:///\S+"),
        first(r"INFO bgjobs: queue 'default': greet, linger \(up to 10 at once, 3 retries\)"),
        first(r"INFO bgjobs: queue 'other': explode \(up to 10 at once, 1 retry\)"),
        first(r"INFO bgjobs: scheduled job 'nightly': at 03:00:00 on weekdays"),
    ]
    assert max(banner) < first(r" started \(attempt 1\)"), log
    # One line when each job starts and one when it ends, with a readable duration.
    first(rf"INFO bgjobs: job greet {greet.id} started \(attempt 1\)$")
    first(rf"INFO bgjobs: job greet {greet.id} succeeded in [\d.]+ (µs|ms|s)$")
    retried = first(rf"WARNING bgjobs: job explode {explode.id} failed on attempt 1, retrying")
    first(rf"ERROR bgjobs: job explode {explode.id} failed for good after 2 attempts")
    # At DEBUG the failure's traceback comes first, pointing into the app.
    traceback_at = first(rf"DEBUG bgjobs: job explode {explode.id} raised on attempt 1")
    assert traceback_at < retried
    assert 'app.py", line' in "\n".join(lines[traceback_at:retried])
    # The misspelt name is reported; the worker that does handle greet says so at start.
    first(r"WARNING bgjobs: no running worker handles 1 waiting job named 'gret'")
    # One prefix per line, and never a payload, at any level.
    assert "bgjobs: bgjobs:" not in log
    assert SECRET not in log


@pytest.mark.slow
def test_info_hides_tracebacks_and_claims(
    tmp_path: Path, sqlite_url: str, started: list[WorkerProcess]
) -> None:
    write_app(tmp_path, sqlite_url, FAILING_APP)
    adapter = adapter_from_url(sqlite_url)
    adapter.migrate()
    job = adapter.enqueue(JobRequest("explode", {"secret": SECRET}))
    adapter.close()
    worker = start_worker(started, tmp_path, "app:builder", "--log-level", "INFO")
    wait_finished(sqlite_url, [job.id])
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.stderr()
    log = worker.stderr()
    assert f"job explode {job.id} failed on attempt 1, retrying" in log
    assert "Traceback" not in log and "DEBUG" not in log
    assert "schema is up to date" not in log  # the migration changed nothing: not worth INFO
    assert SECRET not in log


@pytest.mark.slow
def test_a_stop_that_times_out_names_the_jobs_left_reserved(
    app_dir: Path, sqlite_url: str, started: list[WorkerProcess]
) -> None:
    worker = start_worker(
        started, app_dir, "app:builder", "--log-level", "INFO", "--shutdown-timeout", "0.5"
    )
    adapter = adapter_from_url(sqlite_url)
    try:
        job = adapter.enqueue(JobRequest("linger"))
        wait_until((app_dir / "done" / "started").exists, 60, "the job to start")
        worker.signal(signal.SIGTERM)
        assert worker.wait() == 0, worker.stderr()
        (held,) = adapter.list_jobs("jobs")
        assert held.id == job.id and held.reserved_at is not None  # still reserved
    finally:
        adapter.close()
    rescue_after = (held.reserved_at + timedelta(seconds=30)).isoformat(timespec="seconds")
    expected = (
        f"WARNING bgjobs: job linger {job.id} still running after the 0.5 s shutdown timeout: "
        f"left reserved. A running worker rescues it at its first sweep after "
        f"{rescue_after.replace('+00:00', 'Z')} (claimed + the 30 s lease)"
    )
    assert expected in worker.stderr()


# -- start-up errors -------------------------------------------------------------------------


def test_an_error_in_the_module_names_its_file_and_line(tmp_path: Path, sqlite_url: str) -> None:
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "jobs.py").write_text("import bgjobs\n\n\nbuilder = undefined_name\n")
    line = assert_one_line_error(run_cli("worker", "myapp.jobs:builder", cwd=tmp_path), 2)
    assert "myapp/jobs.py:4: NameError: name 'undefined_name' is not defined" in line
    assert "--log-level DEBUG" in line


def test_debug_shows_the_whole_traceback(tmp_path: Path, sqlite_url: str) -> None:
    write_app(tmp_path, sqlite_url, "\n\ndef make():\n    return 1 / 0\n\n\nbroken = make()\n")
    result = run_cli("worker", "app:builder", "--log-level", "DEBUG", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    last = result.stderr.splitlines()[-1]
    assert re.fullmatch(
        r"error: cannot import 'app': app\.py:\d+: ZeroDivisionError: division by zero", last
    ), last


def test_a_bad_call_into_bgjobs_points_at_the_callers_line(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "app.py").write_text("from bgjobs import Queue\n\nqueue = Queue('')\n")
    line = assert_one_line_error(run_cli("worker", "app:queue", cwd=tmp_path), 2)
    assert "app.py:3: ConfigurationError: queue name: expected a non-empty string" in line


def test_a_bad_schedule_names_the_scheduled_job_and_keeps_the_caret(
    tmp_path: Path, sqlite_url: str
) -> None:
    write_app(
        tmp_path,
        sqlite_url,
        'bad = builder.with_scheduled_job(ScheduledJob(Worker("nightly", greet), '
        '"at 03:00 on mondy"))\n',
    )
    result = run_cli("worker", "app:bad", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    first, *rest = result.stderr.splitlines()
    assert first.startswith(
        "error: cannot start: in the schedule of ScheduledJob 'nightly': unknown word 'mondy': "
        "expected a weekday name"
    ), first
    assert first.endswith("(line 1, column 13)"), first
    assert rest == ["  at 03:00 on mondy", "              ^"]
