"""Heartbeat gaps under load: 4 SQLite worker processes x 10 slots, kept busy the whole time.

    python bench/heartbeat.py                     # 40 s, heartbeat every 1 s
    python bench/heartbeat.py --seconds 60 --every 5
    PYTHONPATH=/path/to/other/checkout python bench/heartbeat.py   # the same, older code

A producer process keeps a backlog of no-op jobs in front of the workers; an
observer reads jobs_workers every 20 ms and records each process's successive
heartbeat_at values. A gap is the time between two successive heartbeats of
one process, as written to the database: what a rescue sweep judges a process
by. Printed: the max, p99 and p50 gap, in seconds and in heartbeat intervals,
and the jobs done per second (the load). The goal is a max gap under 2
intervals: a heartbeat must not queue behind the process's own job traffic.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bgjobs import Job

PROCESSES = 4
SLOTS = 10
BACKLOG = 2000


def work(job: Job) -> None:
    """The job: payload [milliseconds, cpu]: sleep, or keep the CPU (and the GIL) busy."""
    milliseconds, cpu = job.payload
    if cpu:
        until = time.perf_counter() + milliseconds / 1000
        while time.perf_counter() < until:
            pass
    elif milliseconds:
        time.sleep(milliseconds / 1000)


def run_worker(path: str, every: float, seconds: float) -> None:
    import bgjobs
    from bgjobs import Queue, Worker
    from bgjobs.db import SqliteAdapter

    queue = Queue("default").with_worker(Worker("work", work)).with_max_concurrent_jobs(SLOTS)
    runtime = (
        bgjobs.new(SqliteAdapter(path))
        .with_queue(queue)
        .with_heartbeat(every=timedelta(seconds=every), lease=timedelta(seconds=every * 6))
        .build()
    )
    time.sleep(seconds)
    runtime.stop(timeout=10)


def run_producer(path: str, seconds: float, job: tuple[int, bool], batch: int) -> None:
    from bgjobs import JobRequest
    from bgjobs.db import SqliteAdapter

    adapter = SqliteAdapter(path)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        waiting = adapter.count_jobs(now=datetime.now().astimezone()).waiting
        if waiting < BACKLOG:
            for _ in range(200 // batch):
                adapter.enqueue_many([JobRequest("work", list(job)) for _ in range(batch)])
        else:
            time.sleep(0.02)
    adapter.close()


def observe(path: str, seconds: float) -> tuple[list[float], int]:
    """Every heartbeat gap seen, and the number of jobs done during the run."""
    conn = sqlite3.connect(path, isolation_level=None)
    done_before = conn.execute("SELECT count(*) FROM jobs_succeeded").fetchone()[0]
    last: dict[str, str] = {}
    stamps: dict[str, list[datetime]] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            rows = conn.execute("SELECT id, heartbeat_at FROM jobs_workers").fetchall()
        except sqlite3.OperationalError:  # locked for a moment: look again
            rows = []
        for worker, beat in rows:
            if last.get(worker) != beat:
                last[worker] = beat
                stamps.setdefault(worker, []).append(datetime.fromisoformat(beat))
        time.sleep(0.02)
    done = conn.execute("SELECT count(*) FROM jobs_succeeded").fetchone()[0]
    conn.close()
    gaps = [
        (later - earlier).total_seconds()
        for beats in stamps.values()
        for earlier, later in itertools.pairwise(beats)
    ]
    return gaps, int(done - done_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=40.0, help="length of the load")
    parser.add_argument("--every", type=float, default=1.0, help="heartbeat interval, seconds")
    parser.add_argument("--job-ms", type=int, default=0, help="how long each job sleeps")
    parser.add_argument("--producers", type=int, default=1, help="enqueueing processes")
    parser.add_argument("--cpu", action="store_true", help="jobs spin instead of sleeping")
    parser.add_argument("--batch", type=int, default=200, help="jobs per enqueue transaction")
    args = parser.parse_args()
    import bgjobs

    with tempfile.TemporaryDirectory(prefix="bgjobs-heartbeat-") as tmp:
        path = str(Path(tmp) / "jobs.db")
        from bgjobs.db import SqliteAdapter

        setup = SqliteAdapter(path)
        setup.migrate()
        setup.close()
        spawn = multiprocessing.get_context("spawn")
        warm_up = 3.0
        children = [
            spawn.Process(target=run_worker, args=(path, args.every, args.seconds + warm_up))
            for _ in range(PROCESSES)
        ]
        children += [
            spawn.Process(
                target=run_producer,
                args=(path, args.seconds + warm_up, (args.job_ms, args.cpu), args.batch),
            )
            for _ in range(args.producers)
        ]
        for child in children:
            child.start()
        time.sleep(warm_up)
        gaps, done = observe(path, args.seconds)
        for child in children:
            child.join(60)
    if not gaps:
        raise SystemExit("no heartbeats seen")
    gaps.sort()
    p99 = gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))]
    every = args.every
    print(f"bgjobs from {os.path.dirname(bgjobs.__file__)}")
    print(
        f"{PROCESSES} SQLite processes x {SLOTS} slots, heartbeat every {every:g} s, "
        f"jobs of {args.job_ms} ms {'CPU' if args.cpu else 'sleep'}, "
        f"{args.producers} producers enqueueing {args.batch} at a time, "
        f"{args.seconds:g} s of load, "
        f"{done / args.seconds:.0f} jobs done/s, {len(gaps)} gaps"
    )
    print(
        f"heartbeat gap: max {gaps[-1]:.2f} s ({gaps[-1] / every:.1f} intervals), "
        f"p99 {p99:.2f} s ({p99 / every:.1f}), p50 {statistics.median(gaps):.2f} s"
    )


if __name__ == "__main__":
    main()
