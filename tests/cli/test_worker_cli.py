"""`bgjobs worker MODULE:ATTR` as a subprocess, on small app modules written into tmp_path
and imported from the worker's current directory (SPEC 4)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from bgjobs.db import adapter_from_url
from bgjobs.db.adapter import FinishedJob
from bgjobs.jobs import JobRequest
from tests.cli.support import assert_one_line_error, cli_env, run_cli, wait_until

#: The app module every test starts from. DATABASE_URL and DONE are filled in per test.
APP = """
import time
from datetime import timedelta
from pathlib import Path

import bgjobs
from bgjobs import Queue, ScheduledJob, Worker
from bgjobs.db import adapter_from_url

DATABASE_URL = {url!r}
DONE = Path({done!r})


def greet(job):
    DONE.joinpath(job.id).write_text(str(job.payload))


def linger(job):
    DONE.joinpath("started").write_text(job.id)
    time.sleep(600)  # ignores stop_requested: only a second signal ends the process early


def make_builder():
    queue = (
        Queue("default")
        .with_worker(Worker("greet", greet))
        .with_worker(Worker("linger", linger))
        .with_poll_interval(timedelta(milliseconds=100))
    )
    return bgjobs.new(adapter_from_url(DATABASE_URL)).with_queue(queue)


builder = make_builder()
nested = type("Holder", (), {{"builder": builder}})
"""


@pytest.fixture
def app_dir(tmp_path: Path, sqlite_url: str) -> Path:
    """tmp_path holding app.py (on a SQLite file) and the DONE directory its handlers write."""
    return write_app(tmp_path, sqlite_url)


def write_app(directory: Path, url: str, extra: str = "") -> Path:
    done = directory / "done"
    done.mkdir(exist_ok=True)
    source = APP.format(url=url, done=str(done)) + textwrap.dedent(extra)
    (directory / "app.py").write_text(source)
    return directory


class WorkerProcess:
    """A `bgjobs worker` subprocess whose stderr goes to a file we can read while it runs."""

    def __init__(self, cwd: Path, target: str, *options: str) -> None:
        self.stderr_path = cwd / "worker.err"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "bgjobs",
                    "worker",
                    target,
                    "--log-level",
                    "WARNING",
                    *options,
                ],
                cwd=cwd,
                env=cli_env(),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def wait_running(self) -> None:
        wait_until(
            lambda: "running" in self.stderr() or self.proc.poll() is not None,
            60,
            "the worker to start",
        )
        assert self.proc.poll() is None, self.stderr()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self) -> int:
        return self.proc.wait(timeout=60)


@pytest.fixture
def started() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test started; any still alive at the end are killed."""
    processes: list[WorkerProcess] = []
    yield processes
    for worker in processes:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


def start_worker(
    started: list[WorkerProcess], cwd: Path, target: str, *options: str
) -> WorkerProcess:
    worker = WorkerProcess(cwd, target, *options)
    started.append(worker)
    worker.wait_running()
    return worker


def run_a_job(url: str, done: Path) -> None:
    """Enqueue a job through the adapter and wait for the worker to run it to success."""
    adapter = adapter_from_url(url)
    try:
        job = adapter.enqueue(JobRequest("greet", {"to": "ada"}))
        wait_until(lambda: isinstance(adapter.get_job(job.id), FinishedJob), 60, "the job to end")
        finished = adapter.get_job(job.id)
        assert isinstance(finished, FinishedJob) and finished.state == "succeeded", finished
    finally:
        adapter.close()
    assert (done / job.id).read_text() == "{'to': 'ada'}"


# -- what MODULE:ATTR may name ----------------------------------------------------------------


@pytest.mark.slow
def test_a_builder_attribute_runs_jobs_and_sigterm_stops_it(
    tmp_path: Path, database_url: str, started: list[WorkerProcess]
) -> None:
    write_app(tmp_path, database_url)
    worker = start_worker(started, tmp_path, "app:builder")
    run_a_job(database_url, tmp_path / "done")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.stderr()
    assert "Traceback" not in worker.stderr()
    adapter = adapter_from_url(database_url)
    try:
        assert adapter.list_workers() == []  # a graceful stop removes the heartbeat row
    finally:
        adapter.close()


@pytest.mark.slow
def test_a_zero_argument_callable_returning_a_builder(
    app_dir: Path, sqlite_url: str, started: list[WorkerProcess]
) -> None:
    worker = start_worker(started, app_dir, "app:make_builder")
    run_a_job(sqlite_url, app_dir / "done")
    worker.signal(signal.SIGINT)
    assert worker.wait() == 0, worker.stderr()


@pytest.mark.slow
def test_a_dotted_attribute_path(
    app_dir: Path, sqlite_url: str, started: list[WorkerProcess]
) -> None:
    worker = start_worker(started, app_dir, "app:nested.builder")
    run_a_job(sqlite_url, app_dir / "done")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.stderr()


def test_a_built_runtime_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    write_app(tmp_path, sqlite_url, "runtime = builder.build(start=False)\n")
    line = assert_one_line_error(run_cli("worker", "app:runtime", cwd=tmp_path), 2)
    assert "pass the builder, not build()" in line


def test_a_callable_returning_a_built_runtime_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    write_app(
        tmp_path,
        sqlite_url,
        """
        def make_runtime():
            return builder.build(start=False)
        """,
    )
    line = assert_one_line_error(run_cli("worker", "app:make_runtime", cwd=tmp_path), 2)
    assert "not build()" in line


@pytest.mark.parametrize(
    ("target", "extra", "expected"),
    [
        ("app:nothing", "", "has no attribute 'nothing'"),
        ("app:nested.nothing", "", "has no attribute 'nested.nothing'"),
        ("no_such_module:builder", "", "cannot import 'no_such_module'"),
        (
            "app:builder",
            "raise RuntimeError('config file missing')\n",
            "RuntimeError: config file missing",
        ),
        ("app:builder", "def broken(:\n", "SyntaxError"),
        ("app", "", "MODULE:ATTR"),
        ("app:DONE", "", "expected a builder"),
    ],
)
def test_import_and_validation_errors_are_one_line_and_exit_2(
    tmp_path: Path, sqlite_url: str, target: str, extra: str, expected: str
) -> None:
    write_app(tmp_path, sqlite_url, extra)
    line = assert_one_line_error(run_cli("worker", target, cwd=tmp_path), 2)
    assert expected in line


@pytest.mark.parametrize("seconds", ["-1", "inf"])
def test_a_bad_shutdown_timeout_is_refused(app_dir: Path, seconds: str) -> None:
    result = run_cli("worker", "app:builder", "--shutdown-timeout", seconds, cwd=app_dir)
    assert "--shutdown-timeout" in assert_one_line_error(result, 2)


# -- stopping ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_second_sigint_exits_at_once(
    app_dir: Path, sqlite_url: str, started: list[WorkerProcess]
) -> None:
    # The job sleeps 600 s and the graceful stop would wait for it up to 600 s: the process
    # ending within wait()'s 60 s proves the second signal cut the stop short.
    worker = start_worker(started, app_dir, "app:builder", "--shutdown-timeout", "600")
    adapter = adapter_from_url(sqlite_url)
    adapter.enqueue(JobRequest("linger"))
    adapter.close()
    wait_until((app_dir / "done" / "started").exists, 60, "the job to start")
    worker.signal(signal.SIGINT)
    wait_until(lambda: "stopping" in worker.stderr(), 60, "the first signal to be handled")
    assert worker.proc.poll() is None  # still waiting for the running job
    worker.signal(signal.SIGINT)
    assert worker.wait() != 0
    assert "exiting at once" in worker.stderr()
    assert "Traceback" not in worker.stderr()


@pytest.mark.slow
def test_a_supervisor_that_gives_up_exits_1(
    tmp_path: Path, sqlite_url: str, started: list[WorkerProcess]
) -> None:
    write_app(
        tmp_path,
        sqlite_url,
        """
        class ClaimsFail:
            \"\"\"An adapter whose claims always fail, so the queue thread keeps dying.\"\"\"

            def __init__(self, inner):
                self._inner = inner

            def __getattr__(self, name):
                return getattr(self._inner, name)

            def reserve_jobs(self, *args, **kwargs):
                raise RuntimeError("claim exploded")


        doomed = (
            bgjobs.new(ClaimsFail(adapter_from_url(DATABASE_URL)))
            .with_queue(Queue("default").with_worker(Worker("greet", greet)))
            .with_restart_tolerance(max_restarts=0)
        )
        """,
    )
    worker = WorkerProcess(tmp_path, "app:doomed")
    started.append(worker)
    assert worker.wait() == 1, worker.stderr()
    last = worker.stderr().splitlines()[-1]
    assert last.startswith("error: the runtime stopped: ") and "claim exploded" in last
