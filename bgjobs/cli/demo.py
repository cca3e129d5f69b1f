"""`bgjobs demo`: a short, self-contained tour on an embedded SQLite file."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bgjobs.db import SqliteAdapter
from bgjobs.events import (
    Event,
    JobEnqueued,
    JobFailed,
    JobRetried,
    JobScheduled,
    JobSucceeded,
)
from bgjobs.jobs import Job, JobRequest, Worker
from bgjobs.runtime import Queue, ScheduledJob, new

#: The demo gives up waiting after this long (it normally ends in about 7 seconds).
DEMO_LIMIT_SECONDS = 45.0
SCHEDULED_RUNS_TO_SHOW = 3


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="a 7-second tour: jobs, a retry, a failure and a scheduled job",
        description="Run a self-contained demo on an embedded SQLite file; it ends by itself "
        "in about 7 seconds.",
    )
    parser.add_argument(
        "--path",
        metavar="FILE",
        help="the SQLite file to use (default: a new file in a temporary directory)",
    )
    parser.set_defaults(run=run)


class _Narrator:
    """Prints what happens, one readable line per event, and counts the ending."""

    def __init__(self, started: float) -> None:
        self._started = started
        self._lock = threading.Lock()
        self.finished: set[str] = set()
        self.scheduled_runs = 0
        self.changed = threading.Condition(self._lock)

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self._started
        sys.stdout.write(f"[{elapsed:5.1f}s] {text}\n")
        sys.stdout.flush()

    def __call__(self, event: Event) -> None:
        if isinstance(event, JobEnqueued):
            # The whole id: UUIDv7s made in the same millisecond share their first half.
            self.say(f"enqueued   {event.name} (id {event.job_id})")
        elif isinstance(event, JobSucceeded):
            attempt = f" on attempt {event.attempts}" if event.attempts > 1 else ""
            self.say(f"succeeded  {event.name}{attempt} in {event.duration_seconds:.2f}s")
            self._finished(event.job_id, scheduled=event.name == "heartbeat")
        elif isinstance(event, JobRetried):
            wait = event.available_at.timestamp() - time.time()
            self.say(
                f"retrying   {event.name} in {max(wait, 0):.1f}s after attempt "
                f"{event.attempts} raised {event.error}"
            )
        elif isinstance(event, JobFailed):
            self.say(
                f"failed     {event.name} for good after {event.attempts} attempts: {event.error}"
            )
            self._finished(event.job_id, scheduled=False)
        elif isinstance(event, JobScheduled) and event.reason == "created":
            self.say(f"scheduled  {event.name} ({event.schedule})")

    def _finished(self, job_id: str, *, scheduled: bool) -> None:
        with self._lock:
            if scheduled:
                self.scheduled_runs += 1
            else:
                self.finished.add(job_id)
            self.changed.notify_all()


async def send_welcome_email(job: Job) -> None:
    # An async handler: it runs on the runtime's event loop, sharing the queue's slots.
    await asyncio.sleep(0.3)  # pretend to talk to a mail server
    print(f"           -> sent a welcome email to {job.payload['to']} (async)", flush=True)


def build_report(job: Job) -> None:
    # The reporting service is down the first time: the job is retried.
    if job.attempts == 1:
        raise ConnectionError("report service timed out")
    print(f"           -> built the {job.payload['month']} report", flush=True)


def import_rows(job: Job) -> None:
    raise ValueError(f"row 3 of {job.payload['file']}: 'abc' is not a number")


def heartbeat(job: Job) -> None:
    print("           -> heartbeat: all systems go", flush=True)


def run(args: argparse.Namespace) -> int:
    if args.path:
        path = Path(args.path)
    else:
        path = Path(tempfile.mkdtemp(prefix="bgjobs-demo-")) / "demo.db"
    started = time.monotonic()
    narrator = _Narrator(started)
    narrator.say(f"bgjobs demo: jobs are stored in the SQLite file {path}")
    adapter = SqliteAdapter(str(path))
    builder = (
        new(adapter)
        .with_queue(
            Queue("default")
            .with_worker(Worker("send_welcome_email", send_welcome_email))
            .with_worker(Worker("build_report", build_report))
            .with_worker(Worker("import_rows", import_rows))
            .with_max_concurrent_jobs(4)
            .with_max_retries(2)
            .with_retry_backoff(timedelta(seconds=1))
            .with_poll_interval(timedelta(milliseconds=200))
        )
        .with_scheduled_job(ScheduledJob(Worker("heartbeat", heartbeat), "every 2 seconds"))
        .with_heartbeat(every=timedelta(seconds=1), lease=timedelta(seconds=10))
        .with_event_listener(narrator)
    )
    requests = [
        JobRequest("send_welcome_email", {"to": "ada@example.com"}),
        JobRequest("send_welcome_email", {"to": "grace@example.com"}),
        JobRequest("build_report", {"month": "2026-11"}),
        JobRequest("import_rows", {"file": "customers.csv"}),
        JobRequest("send_welcome_email", {"to": "linus@example.com"}).available_in(
            timedelta(seconds=2)
        ),
    ]
    with builder.build() as bg:
        jobs = bg.enqueue_many(requests)
        wanted = {job.id for job in jobs}
        deadline = started + DEMO_LIMIT_SECONDS
        with narrator.changed:
            completed = narrator.changed.wait_for(
                lambda: (
                    wanted <= narrator.finished
                    and narrator.scheduled_runs >= SCHEDULED_RUNS_TO_SHOW
                ),
                timeout=max(0.0, deadline - time.monotonic()),
            )
        if not completed:
            narrator.say(f"gave up after {DEMO_LIMIT_SECONDS:g}s: not every job finished")
        narrator.say("stopping the runtime")
    counts = adapter.count_jobs(now=builder.clock.now())
    adapter.close()
    narrator.say(
        f"done: {counts.succeeded} jobs in jobs_succeeded, {counts.failed} in jobs_failed, "
        f"{counts.waiting + counts.running} waiting in jobs (the next heartbeat)"
    )
    narrator.say(f"look inside: sqlite3 {path} 'select name, attempts, exception from jobs_failed'")
    return 0 if completed else 1
