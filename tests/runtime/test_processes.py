"""The runtime across real OS processes: `bgjobs worker` subprocesses on one database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bgjobs import JobRequest, SystemClock
from bgjobs.db import adapter_from_url

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    event: str
    job_id: str
    name: str
    pid: int
    at: float
    attempts: int
    due: float


def read_log(path: Path) -> list[Run]:
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        event, job_id, name, pid, at, attempts, due = line.split()
        runs.append(Run(event, job_id, name, int(pid), float(at), int(attempts), float(due)))
    return runs


class Workers:
    """Starts and stops `bgjobs worker` processes sharing one database and one run log."""

    def __init__(self, url: str, log: Path, tmp: Path, **env: str) -> None:
        self.url, self.log, self.tmp = url, log, tmp
        self.env = {
            **os.environ,
            "BGJOBS_DATABASE_URL": url,
            "RUN_LOG": str(log),
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int = 1) -> None:
        for _ in range(count):
            index = len(self.procs)
            stderr = open(self.tmp / f"worker-{index}.err", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bgjobs",
                        "worker",
                        "tests.runtime.worker_app:builder",
                        "--shutdown-timeout",
                        "5",
                        "--log-level",
                        "WARNING",
                    ],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            )

    def stderr_text(self) -> str:
        return "".join(p.read_text() for p in sorted(self.tmp.glob("worker-*.err")))

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.procs if p.poll() is None]

    def stop_all(self) -> list[int | None]:
        for proc in self.alive():
            proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=30))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        return codes


@pytest.fixture
def workers_factory(tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    made: list[Workers] = []

    def make(url: str, **env: str) -> Workers:
        workers = Workers(url, tmp_path / "runs.log", tmp_path, **env)
        made.append(workers)
        return workers

    yield make
    for workers in made:
        for proc in workers.alive():
            proc.kill()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_four_processes_on_an_empty_database_run_every_job_exactly_once(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    workers = workers_factory(database_url, CONCURRENCY="4", POLL_MS="100")
    workers.start(4)  # they create the schema among themselves
    adapter = adapter_from_url(database_url)
    try:

        def all_registered() -> bool:
            try:
                return len(adapter.list_workers()) == 4
            except Exception:  # schema not there yet
                return False

        wait_until(all_registered, 120, "4 workers to migrate and register")
        total = 5000
        jobs = adapter.enqueue_many([JobRequest("noop", {"n": n}) for n in range(total)])
        wait_until(
            lambda: adapter.count_jobs(now=SystemClock().now()).succeeded == total,
            300,
            "all jobs to succeed",
        )
        runs = [r for r in read_log(workers.log) if r.event == "run"]
        per_job = Counter(r.job_id for r in runs)
        assert set(per_job) == {job.id for job in jobs}
        assert max(per_job.values()) == 1, "a job ran twice"
        assert len({r.pid for r in runs}) == 4, "every process should do work"
        counts = adapter.count_jobs(now=SystemClock().now())
        assert (counts.waiting, counts.running, counts.failed) == (0, 0, 0)
    finally:
        codes = workers.stop_all()
        adapter.close()
    assert codes == [0, 0, 0, 0], workers.stderr_text()
    assert "database is locked" not in workers.stderr_text()
    assert "Traceback" not in workers.stderr_text()


def test_kill_9_mid_job_is_rerun_by_another_process(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    workers = workers_factory(database_url, LEASE_MS="2000", HEARTBEAT_MS="300", POLL_MS="200")
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    workers.start(2)
    try:
        job = adapter.enqueue(JobRequest("slow", {"seconds": 1.5}))
        wait_until(
            lambda: any(r.event == "start" for r in read_log(workers.log)), 60, "the job to start"
        )
        victim = next(r.pid for r in read_log(workers.log) if r.event == "start")
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: getattr(adapter.get_job(job.id), "state", None) == "succeeded",
            60,
            "the job to be rescued and re-run",
        )
        runs = read_log(workers.log)
        starts = [r for r in runs if r.event == "start"]
        ends = [r for r in runs if r.event == "end"]
        assert starts[0].pid == victim and len(starts) == 2
        assert len(ends) == 1 and ends[0].pid != victim
        done = adapter.get_job(job.id)
        assert done is not None and done.attempts == 2
        # lease + heartbeat + poll is 2.5 s; allow a loaded machine plenty more.
        print(f"re-run started {starts[1].at - killed_at:.2f} s after kill -9")
    finally:
        workers.stop_all()
        adapter.close()


def test_handler_that_kills_its_process_ends_in_failed_as_worker_lost(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    workers = workers_factory(
        database_url, LEASE_MS="1500", HEARTBEAT_MS="300", POLL_MS="100", MAX_RETRIES="2"
    )
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    workers.start(2)
    try:
        crash = adapter.enqueue(JobRequest("crash"))
        others = adapter.enqueue_many([JobRequest("noop", n) for n in range(50)])

        def crashed_job_failed() -> bool:
            # Play the process manager: replace workers that died.
            for _ in range(2 - len(workers.alive())):
                workers.start(1)
            return getattr(adapter.get_job(crash.id), "state", None) == "failed"

        wait_until(crashed_job_failed, 120, "the crashing job to fail")
        failed = adapter.get_job(crash.id)
        assert failed is not None
        assert failed.exception.startswith("WorkerLost")  # type: ignore[union-attr]
        crash_runs = [r for r in read_log(workers.log) if r.job_id == crash.id]
        assert len(crash_runs) == 3  # max_retries + 1 runs, then failed without a 4th

        def others_succeeded() -> bool:
            states = Counter(getattr(adapter.get_job(j.id), "state", None) for j in others)
            return states == Counter({"succeeded": len(others)})

        try:
            wait_until(others_succeeded, 60, "the other jobs to succeed")
        except AssertionError:
            print(
                [
                    adapter.get_job(j.id)
                    for j in others
                    if getattr(adapter.get_job(j.id), "state", None) != "succeeded"
                ][:3]
            )
            print(adapter.list_workers(), [p.poll() for p in workers.procs])
            print(workers.stderr_text()[-3000:])
            raise
    finally:
        workers.stop_all()
        adapter.close()


def test_one_scheduled_job_in_three_processes_fires_once_per_second(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    workers = workers_factory(database_url, TICK_SCHEDULE="every second", POLL_MS="200")
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    workers.start(3)
    rows_seen: list[int] = []
    try:
        wait_until(
            lambda: any(r.event == "tick" for r in read_log(workers.log)), 60, "the first tick"
        )
        watch_until = time.monotonic() + 10
        while time.monotonic() < watch_until:
            rows = adapter.list_jobs("jobs")
            rows_seen.append(
                sum(1 for row in rows if getattr(row, "scheduled_job", None) == "tick")
            )
            time.sleep(0.05)
    finally:
        workers.stop_all()
    ticks = [r for r in read_log(workers.log) if r.event == "tick"]
    adapter.close()
    dues = [round(r.due) for r in ticks]
    assert len(dues) == len(set(dues)), "a fire time ran twice"
    # Exactly one run per second over the window (no gaps between first and last).
    assert sorted(dues) == list(range(min(dues), max(dues) + 1))
    assert len(dues) >= 9
    assert set(rows_seen) == {1}, "there must always be exactly one row"
    late = max(r.at - r.due for r in ticks)
    print(
        f"ticks: {len(ticks)} from {len({r.pid for r in ticks})} processes, "
        f"latest {late * 1000:.0f} ms late"
    )
    assert late < 1.0
