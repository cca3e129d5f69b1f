"""A separate OS process for the multi-process tests: `python -m tests.db.worker_process CMD ...`.

Commands:
  claim URL OWNER THREADS   claim and complete jobs named "work" until none are left;
                            prints {"claimed": [...], "over_limit": n} as JSON
  migrate URL [START_AT]    wait until the epoch time START_AT (so that several processes
                            start together), run migrate(), print the schema version
  finish URL OWNER          finish every job reserved by OWNER in small random batches,
                            alternating success and failure, printing "done N" after each
                            batch (the test kills this process part-way)
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time

from bgjobs.db import Failed, Succeeded, adapter_from_url, lease_of
from bgjobs.db.base import BaseAdapter
from tests.db.support import T0


def claim(adapter: BaseAdapter, owner: str, threads: int) -> None:
    claimed: list[str] = []
    over_limit = 0
    lock = threading.Lock()

    def loop(number: int) -> None:
        nonlocal over_limit
        rng = random.Random(f"{owner}-{number}")
        while True:
            limit = rng.randint(1, 9)
            batch = adapter.reserve_jobs(
                ["work"], queue="q", limit=limit, owner=f"{owner}-{number}", now=T0
            )
            if not batch:
                return
            with lock:
                claimed.extend(job.id for job in batch)
                over_limit += len(batch) > limit
            results = adapter.finish_jobs([Succeeded(lease_of(job)) for job in batch], now=T0)
            if not all(results):
                raise AssertionError(f"lost leases in {batch}")

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({"claimed": claimed, "over_limit": over_limit}))


def finish(adapter: BaseAdapter, owner: str) -> None:
    rng = random.Random(owner)
    jobs = [job for job in adapter.list_jobs("jobs", limit=1_000_000) if job.reserved_by == owner]
    done = 0
    while jobs:
        size = rng.randint(1, 5)
        batch, jobs = jobs[:size], jobs[size:]
        outcomes = [
            Succeeded(lease_of(job))
            if rng.random() < 0.5
            else Failed(lease_of(job), "RuntimeError: planned", "Traceback: planned")
            for job in batch
        ]
        assert all(adapter.finish_jobs(outcomes, now=T0))  # type: ignore[arg-type]
        done += len(batch)
        print(f"done {done}", flush=True)


def main(argv: list[str]) -> None:
    command, url, *rest = argv
    adapter = adapter_from_url(url)
    try:
        if command == "claim":
            claim(adapter, rest[0], int(rest[1]))
        elif command == "migrate":
            if rest:
                time.sleep(max(0.0, float(rest[0]) - time.time()))
            print(adapter.migrate())
        elif command == "finish":
            finish(adapter, rest[0])
        else:
            raise SystemExit(f"unknown command {command!r}")
    finally:
        adapter.close()


if __name__ == "__main__":
    main(sys.argv[1:])
