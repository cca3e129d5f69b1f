"""A worker app for the flow-control tests, configured through environment variables.

Run as `bgjobs worker tests.runtime.flow_app:builder`. Queue "limited" (job
"hold") takes GLOBAL_CONCURRENCY / RATE per RATE_PER_MS when set; queue
"plain" (job "quick") has no limit. Every handler run appends one line to
$RUN_LOG: `<event> <job id> <pid> <unix time> <claim time>`, written with
O_APPEND so lines from many processes never interleave.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import bgjobs
from bgjobs import Job, Queue, Worker
from bgjobs.db import adapter_from_url
from bgjobs.runtime import BgJobsBuilder


def _log(event: str, job: Job) -> None:
    claimed = job.reserved_at.timestamp() if job.reserved_at is not None else 0.0
    line = f"{event} {job.id} {os.getpid()} {time.time():.6f} {claimed:.6f}\n"
    fd = os.open(os.environ["RUN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def hold(job: Job) -> None:
    """Runs for payload['seconds'], logging start and end."""
    _log("start", job)
    time.sleep(float(job.payload["seconds"]))
    _log("end", job)


def quick(job: Job) -> None:
    _log("start", job)


def builder() -> BgJobsBuilder:
    env = os.environ
    poll = timedelta(milliseconds=int(env.get("POLL_MS", "200")))
    limited = (
        Queue("limited")
        .with_worker(Worker("hold", hold))
        .with_max_concurrent_jobs(int(env.get("CONCURRENCY", "4")))
        .with_poll_interval(poll)
    )
    if env.get("GLOBAL_CONCURRENCY"):
        limited = limited.with_global_concurrency(int(env["GLOBAL_CONCURRENCY"]))
    if env.get("RATE"):
        per = timedelta(milliseconds=int(env.get("RATE_PER_MS", "1000")))
        limited = limited.with_rate_limit(int(env["RATE"]), per=per)
    plain = Queue("plain").with_worker(Worker("quick", quick)).with_poll_interval(poll)
    return (
        bgjobs.new(adapter_from_url(env["BGJOBS_DATABASE_URL"]))
        .with_queue(limited)
        .with_queue(plain)
        .with_heartbeat(every=timedelta(milliseconds=500), lease=timedelta(seconds=5))
    )
