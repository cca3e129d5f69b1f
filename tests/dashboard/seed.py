"""Jobs in every state, written through the adapters' own paths (enqueue, claim, finish)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bgjobs import JobRequest
from bgjobs.db.adapter import Failed, Lease, Succeeded

OWNER = "worker-seed-1"
TRACEBACK = 'Traceback (most recent call last):\n  File "resize.py", line 3\nValueError'
SCRIPT_PAYLOAD = {"note": "<script>window.__pwned = 1</script>", "n": 1}


@dataclass(frozen=True)
class Seeded:
    """The ids the tests look for."""

    waiting: list[str]
    running: list[str]
    succeeded: list[str]
    failed: list[str]
    script_job: str  # a waiting job whose payload holds <script>


def seed(
    adapter: Any, *, succeeded: int = 3, failed: int = 3, now: datetime | None = None
) -> Seeded:
    """Fill a migrated database: waiting, running, succeeded and failed jobs, a worker row and
    a scheduled job's row."""
    now = now or datetime.now(UTC)
    adapter.register_worker(
        OWNER,
        hostname="seed-host",
        pid=4242,
        now=now,
        queues=["images", "web"],
        job_names=["render", "resize"],
    )
    script = adapter.enqueue(JobRequest("render", SCRIPT_PAYLOAD).on_queue("web"), now=now)
    waiting = [script.id]
    waiting += [
        adapter.enqueue(JobRequest("send_email", {"to": f"user{i}@example.com"}), now=now).id
        for i in range(2)
    ]
    adapter.enqueue_many(
        [
            JobRequest("resize", {"image": i}).on_queue("images")
            for i in range(succeeded + failed + 1)
        ],
        now=now,
    )
    claimed = adapter.reserve_jobs(["resize"], queue="images", limit=100, owner=OWNER, now=now)
    running = [claimed[0].id]
    outcomes: list[Any] = []
    for job in claimed[1 : 1 + succeeded]:
        outcomes.append(Succeeded(Lease(job.id, OWNER, job.attempts)))
    for job in claimed[1 + succeeded :]:
        outcomes.append(
            Failed(
                Lease(job.id, OWNER, job.attempts),
                exception="ValueError: image <b>too</b> large",
                traceback=TRACEBACK,
            )
        )
    assert all(adapter.finish_jobs(outcomes, now=now))
    adapter.insert_scheduled_job(
        "nightly_report",
        schedule_text="every 5 minutes",
        available_at=now + timedelta(minutes=5),
        now=now,
    )
    return Seeded(
        waiting=waiting,
        running=running,
        succeeded=[job.id for job in claimed[1 : 1 + succeeded]],
        failed=[job.id for job in claimed[1 + succeeded :]],
        script_job=script.id,
    )


def seed_busy_hour(adapter: Any, now: datetime | None = None) -> None:
    """An hour of finished jobs, a few each minute, so the throughput chart has a shape."""
    now = now or datetime.now(UTC)
    for minutes_ago in range(59, 0, -1):
        at = now - timedelta(minutes=minutes_ago)
        succeeded = 4 + (minutes_ago * 7) % 9
        failed = 1 if minutes_ago % 11 == 0 else 0
        requests = [JobRequest("send_email", {"m": minutes_ago}).on_queue("mail")] * (
            succeeded + failed
        )
        adapter.enqueue_many(requests, now=at)
        claimed = adapter.reserve_jobs(
            ["send_email"], queue="mail", limit=succeeded + failed, owner=OWNER, now=at
        )
        outcomes: list[Any] = [Succeeded(Lease(j.id, OWNER, j.attempts)) for j in claimed[failed:]]
        outcomes += [
            Failed(Lease(j.id, OWNER, j.attempts), "TimeoutError: smtp", TRACEBACK)
            for j in claimed[:failed]
        ]
        assert all(adapter.finish_jobs(outcomes, now=at))
