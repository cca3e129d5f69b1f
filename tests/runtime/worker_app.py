"""A worker app for the multi-process tests, configured through environment variables.

Run as `bgjobs worker tests.runtime.worker_app:builder` from the repository
root. Every handler run appends one line to $RUN_LOG:
`<event> <job id> <job name> <pid> <unix time> <attempts> <available_at>`; lines are short
and written with O_APPEND, so lines from many processes never interleave.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta

import bgjobs
from bgjobs import Job, Queue, ScheduledJob, Worker
from bgjobs.db import adapter_from_url
from bgjobs.runtime import BgJobsBuilder


def _log(event: str, job: Job) -> None:
    due = job.available_at.timestamp()
    line = f"{event} {job.id} {job.name} {os.getpid()} {time.time():.6f} {job.attempts} {due:.6f}\n"
    fd = os.open(os.environ["RUN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def noop(job: Job) -> None:
    _log("run", job)


def slow(job: Job) -> None:
    """Runs for payload['seconds'], logging start and end."""
    _log("start", job)
    time.sleep(float(job.payload["seconds"]))
    _log("end", job)


def crash(job: Job) -> None:
    """Kills its own process on every attempt, like a segfault in a C extension."""
    _log("run", job)
    os._exit(17)


def tick(job: Job) -> None:
    _log("tick", job)


def until_stopped(job: Job) -> str:
    """Runs until asked to stop, then logs why and returns normally (a "success")."""
    _log("start", job)
    job.stop_requested.wait(60)
    _log(f"stopped-{job.stop_reason}", job)
    return "finished anyway"


async def async_noop(job: Job) -> dict[str, object]:
    await asyncio.sleep(0)
    _log("run", job)
    return {"n": job.payload}


def builder() -> BgJobsBuilder:
    env = os.environ
    poll = timedelta(milliseconds=int(env.get("POLL_MS", "200")))
    queue = (
        Queue("default")
        .with_worker(Worker("noop", noop))
        .with_worker(Worker("slow", slow))
        .with_worker(Worker("crash", crash))
        .with_worker(Worker("until_stopped", until_stopped))
        .with_worker(Worker("async_noop", async_noop))
        .with_max_concurrent_jobs(int(env.get("CONCURRENCY", "4")))
        .with_max_retries(int(env.get("MAX_RETRIES", "2")))
        .with_retry_backoff(timedelta(0))
        .with_poll_interval(poll)
    )
    result = (
        bgjobs.new(adapter_from_url(env["BGJOBS_DATABASE_URL"]))
        .with_queue(queue)
        .with_heartbeat(
            every=timedelta(milliseconds=int(env.get("HEARTBEAT_MS", "500"))),
            lease=timedelta(milliseconds=int(env.get("LEASE_MS", "3000"))),
        )
    )
    if env.get("TICK_SCHEDULE"):
        result = result.with_scheduled_job(
            ScheduledJob(Worker("tick", tick), env["TICK_SCHEDULE"]).with_poll_interval(poll)
        )
    return result
