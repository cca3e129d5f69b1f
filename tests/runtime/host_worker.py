"""A worker process on its own "host" for the several-hosts test.

    python -m tests.runtime.host_worker URL RUNS_FILE

Runs jobs named "slow" and "quick" with a payload {"first": s, "again": s}:
the seconds to sleep on the first attempt and on later ones. Heartbeat
every 0.5 s, lease 3 s. Appends "start|end JOB_ID OWNER
ATTEMPTS" to RUNS_FILE for every run, prints its worker id as the first line
of stdout, and stops gracefully when stdin closes.
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import timedelta

import bgjobs
from bgjobs import Job, Queue, Worker
from bgjobs.db import PostgresAdapter


def main(url: str, runs_file: str) -> None:
    lock = threading.Lock()

    def record(what: str, job: Job) -> None:
        with lock, open(runs_file, "a") as runs:
            runs.write(f"{what} {job.id} {job.reserved_by} {job.attempts}\n")

    def handle(job: Job) -> None:
        record("start", job)
        seconds = job.payload["first" if job.attempts == 1 else "again"]  # type: ignore[index]
        time.sleep(float(seconds))
        record("end", job)

    queue = (
        Queue("default")
        .with_worker(Worker("slow", handle))
        .with_worker(Worker("quick", handle))
        .with_max_concurrent_jobs(4)
        .with_poll_interval(timedelta(milliseconds=200))
    )
    adapter = PostgresAdapter(url, reconnect_timeout=120)
    runtime = (
        bgjobs.new(adapter)
        .with_queue(queue)
        .with_heartbeat(every=timedelta(milliseconds=500), lease=timedelta(seconds=3))
        .build()
    )
    print(runtime.worker_id, flush=True)
    sys.stdin.read()  # until the test closes our stdin
    runtime.stop(timeout=30)
    adapter.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
