"""What the overview, queues and scheduled pages show, read with bounded, indexed queries.

Counts over the finished tables (which may hold millions of rows) are bounded:
each reads at most COUNT_CAP index entries and says when it stopped there, so
a refresh every few seconds never turns into a scan of the whole history.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bgjobs.dashboard.reader import Reader
from bgjobs.db.schedule_records import ScheduleRun
from bgjobs.errors import BgJobsError
from bgjobs.schedule import describe, parse

#: The most rows a bounded count reads; more shows as "100,000+".
COUNT_CAP: Final = 100_000
#: How many fire times the scheduled page lists after the next run.
FIRES_SHOWN: Final = 3


@dataclass(frozen=True, slots=True)
class BoundedCount:
    """A count that stopped at a cap: `capped` means "at least `value`"."""

    value: int
    capped: bool

    def __str__(self) -> str:
        return f"{self.value:,}+" if self.capped else f"{self.value:,}"


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """One queue value (None: jobs any queue may claim) and its jobs."""

    queue: str | None
    waiting: int
    due: int
    running: int
    scheduled: int
    succeeded_last_hour: BoundedCount
    failed_last_day: BoundedCount
    paused: bool | None = None  # None: the jobs without a queue (they cannot be paused)


@dataclass(frozen=True, slots=True)
class MinuteCount:
    """Jobs finished in one minute of the throughput chart."""

    minute: datetime
    succeeded: int
    failed: int


@dataclass(frozen=True, slots=True)
class ScheduledRow:
    """A scheduled job's row, what its schedule says, whether it is paused, its last runs."""

    key: str
    schedule_text: str
    description: str
    next_run: datetime
    later_fires: list[datetime]
    running: bool
    attempts: int
    last_error: str | None
    paused_at: datetime | None = None  # None: it runs on schedule
    added_at_runtime: bool = False  # by schedules.add / `bgjobs schedules add`, not from code
    recent_runs: tuple[ScheduleRun, ...] = ()  # newest first

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


def queue_summaries(
    reader: Reader, now: datetime, configured: Mapping[str, bool] | None = None
) -> list[QueueSummary]:
    """Every queue value seen in any table or in `configured` (queue name -> paused), with
    live counts and bounded recent counts."""
    configured = configured or {}
    live = {
        row["queue"]: row for row in reader.named("queue_counts", {"now": reader.bind_time(now)})
    }
    names: set[str | None] = set(live) | set(configured)
    for query in ("succeeded_queues", "failed_queues"):
        names.update(row["queue"] for row in reader.named(query, {}))
    names.add(None)
    summaries = []
    for queue in sorted(names, key=lambda name: (name is not None, name or "")):
        row = live.get(queue, {})
        summary = QueueSummary(
            queue=queue,
            waiting=int(row.get("waiting") or 0),
            due=int(row.get("due") or 0),
            running=int(row.get("running") or 0),
            scheduled=int(row.get("scheduled") or 0),
            succeeded_last_hour=_count_since(reader, "succeeded", queue, now - timedelta(hours=1)),
            failed_last_day=_count_since(reader, "failed", queue, now - timedelta(days=1)),
            paused=None if queue is None else configured.get(queue, False),
        )
        if queue is None and not _has_any(summary) and len(names) > 1:
            continue  # nobody enqueues without a queue here: no row for it
        summaries.append(summary)
    return summaries


def _has_any(summary: QueueSummary) -> bool:
    return bool(
        summary.waiting
        or summary.running
        or summary.scheduled
        or summary.succeeded_last_hour.value
        or summary.failed_last_day.value
    )


def _count_since(reader: Reader, table: str, queue: str | None, since: datetime) -> BoundedCount:
    which = "no_queue" if queue is None else "in_queue"
    params = {"queue": queue, "since": reader.bind_time(since), "cap": COUNT_CAP}
    value = reader.scalar(f"count_{table}_since_{which}", params)
    return BoundedCount(value, capped=value >= COUNT_CAP)


def throughput(reader: Reader, now: datetime, minutes: int = 60) -> list[MinuteCount]:
    """Jobs finished per minute over the last `minutes` minutes, oldest first, gaps as zeros."""
    current = now.replace(second=0, microsecond=0)
    first = current - timedelta(minutes=minutes - 1)
    params = {"since": reader.bind_time(first)}
    succeeded = {
        row["minute"]: int(row["n"]) for row in reader.named("succeeded_per_minute", params)
    }
    failed = {row["minute"]: int(row["n"]) for row in reader.named("failed_per_minute", params)}
    counts = []
    for step in range(minutes):
        minute = first + timedelta(minutes=step)
        key = minute.strftime("%Y-%m-%d %H:%M")
        counts.append(MinuteCount(minute, succeeded.get(key, 0), failed.get(key, 0)))
    return counts


def scheduled_rows(
    reader: Reader, now: datetime, history: Callable[[str], list[ScheduleRun]] | None = None
) -> list[ScheduledRow]:
    """The rows of the scheduled jobs, with their schedule described and the next fires, and
    each one's recent runs from `history(key)` (none without it)."""
    rows = []
    for row in reader.named("scheduled_rows", {}):
        text = row["schedule"]
        next_run = reader.read_time(row["available_at"])
        paused_at = row["paused_at"]
        try:
            policy = parse(text)
            description = describe(policy)
            later: list[datetime] = []
            moment: datetime | None = max(next_run, now)
            while moment is not None and len(later) < FIRES_SHOWN:
                moment = policy.next_after(moment)
                if moment is not None:
                    later.append(moment)
        except (BgJobsError, ValueError) as exc:
            # Written by a newer bgjobs, perhaps: show the row, say why it is not described.
            description, later = f"(cannot read this schedule here: {exc})", []
        rows.append(
            ScheduledRow(
                key=row["scheduled_job"],
                schedule_text=text,
                description=description,
                next_run=next_run,
                later_fires=later,
                running=row["reserved_by"] is not None,
                attempts=int(row["attempts"]),
                last_error=row["last_error"],
                paused_at=None if paused_at is None else reader.read_time(paused_at),
                added_at_runtime=bool(row["added_at_runtime"]),
                recent_runs=() if history is None else tuple(history(row["scheduled_job"])),
            )
        )
    return rows
