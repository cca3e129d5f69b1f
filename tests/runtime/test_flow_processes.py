"""Flow control across real OS processes: `bgjobs worker` subprocesses on one database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bgjobs import JobRequest
from bgjobs.db import adapter_from_url
from bgjobs.db.base import BaseAdapter

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    event: str
    job_id: str
    pid: int
    at: float  # the handler's wall clock
    claimed: float  # the job's reserved_at, as stored by the claim


def read_log(path: Path) -> list[Run]:
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        event, job_id, pid, at, claimed = line.split()
        runs.append(Run(event, job_id, int(pid), float(at), float(claimed)))
    return runs


class FlowWorkers:
    """`bgjobs worker tests.runtime.flow_app:builder` processes sharing one database."""

    def __init__(self, url: str, tmp: Path, **env: str) -> None:
        self.log = tmp / "runs.log"
        self.tmp = tmp
        self.env = {
            **os.environ,
            "BGJOBS_DATABASE_URL": url,
            "RUN_LOG": str(self.log),
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> None:
        for _ in range(count):
            stderr = open(self.tmp / f"worker-{len(self.procs)}.err", "wb")  # noqa: SIM115
            command = [sys.executable, "-m", "bgjobs", "worker", "tests.runtime.flow_app:builder"]
            self.procs.append(
                subprocess.Popen(
                    [*command, "--shutdown-timeout", "5", "--log-level", "WARNING"],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            )

    def runs(self) -> list[Run]:
        return read_log(self.log)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    def errors(self) -> str:
        return "".join(p.read_text() for p in sorted(self.tmp.glob("worker-*.err")))


@pytest.fixture
def flow(tmp_path: Path, database_url: str) -> Iterator[Callable[..., FlowWorkers]]:
    made: list[FlowWorkers] = []

    def make(**env: str) -> FlowWorkers:
        workers = FlowWorkers(database_url, tmp_path, **env)
        made.append(workers)
        return workers

    yield make
    for workers in made:
        workers.stop()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _migrated(url: str) -> BaseAdapter:
    adapter = adapter_from_url(url)
    adapter.migrate()
    return adapter


def _wait_registered(adapter: BaseAdapter, count: int) -> None:
    wait_until(lambda: len(adapter.list_workers()) == count, 120, f"{count} workers to register")


def max_overlap(runs: list[Run]) -> int:
    """The most handlers running at one instant (an end at the same instant comes first)."""
    edges = sorted((run.at, 0 if run.event == "end" else 1) for run in runs)
    running = peak = 0
    for _, kind in edges:
        running += 1 if kind else -1
        peak = max(peak, running)
    return peak


def test_three_processes_never_exceed_a_global_limit_of_two_and_reach_it(
    database_url: str, flow: Callable[..., FlowWorkers]
) -> None:
    adapter = _migrated(database_url)
    try:
        workers = flow(GLOBAL_CONCURRENCY="2", CONCURRENCY="4", POLL_MS="50")
        adapter.enqueue_many([JobRequest("hold", {"seconds": 0.15}) for _ in range(18)])
        workers.start(3)
        wait_until(
            lambda: sum(run.event == "end" for run in workers.runs()) == 18,
            180,
            f"18 jobs to finish; stderr: {workers.errors()}",
        )
        runs = workers.runs()
        assert len({run.job_id for run in runs}) == 18
        assert max_overlap(runs) == 2, runs
        # The last outcomes commit a moment after their handlers log "end".
        wait_until(lambda: adapter.count_listed("succeeded") == 18, 60, "18 outcomes to commit")
        assert adapter.count_listed("failed") == 0
    finally:
        adapter.close()


def test_a_rate_limit_of_five_a_second_holds_across_two_processes(
    database_url: str, flow: Callable[..., FlowWorkers]
) -> None:
    adapter = _migrated(database_url)
    try:
        workers = flow(RATE="5", RATE_PER_MS="1000", CONCURRENCY="8", POLL_MS="50")
        workers.start(2)
        _wait_registered(adapter, 2)
        adapter.enqueue_many([JobRequest("hold", {"seconds": 0}) for _ in range(16)])
        wait_until(
            lambda: sum(run.event == "end" for run in workers.runs()) == 16,
            180,
            f"16 jobs to finish; stderr: {workers.errors()}",
        )
        starts = sorted(run.claimed for run in workers.runs() if run.event == "start")
        assert len(starts) == 16
        # At most 5 claims in any window (t - 1 s, t]: the 6th start after any
        # start comes a full second (to the stored microsecond) later.
        gaps = [later - earlier for earlier, later in zip(starts, starts[5:], strict=False)]
        assert min(gaps) >= 1.0 - 1e-6, gaps
        wait_until(lambda: adapter.count_listed("succeeded") == 16, 60, "16 outcomes to commit")
    finally:
        adapter.close()


def test_a_paused_queue_starts_nothing_anywhere_and_drains_after_resume(
    database_url: str, flow: Callable[..., FlowWorkers]
) -> None:
    adapter = _migrated(database_url)
    try:
        workers = flow(POLL_MS="100")
        workers.start(3)
        _wait_registered(adapter, 3)
        adapter.pause_queue("plain")
        adapter.enqueue_many([JobRequest("quick") for _ in range(10)])
        # Every process polls several times while the jobs pile up.
        time.sleep(1.5)
        adapter.enqueue_many([JobRequest("quick") for _ in range(10)])
        time.sleep(0.5)
        assert workers.runs() == []
        assert adapter.count_listed("jobs", name="quick") == 20
        # Another queue's work goes on meanwhile.
        adapter.enqueue(JobRequest("hold", {"seconds": 0}))
        wait_until(lambda: len(workers.runs()) == 2, 60, "the unpaused queue's job to run")
        assert adapter.resume_queue("plain") is True
        wait_until(
            lambda: adapter.count_listed("succeeded", name="quick") == 20,
            60,
            f"the paused queue to drain; stderr: {workers.errors()}",
        )
        ran = {run.job_id for run in workers.runs() if run.event == "start"}
        assert len(ran) == 21
    finally:
        adapter.close()
