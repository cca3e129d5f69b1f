"""What the overview, queues and scheduled pages show, read with bounded, indexed queries.

Counts over the finished tables (which may hold millions of rows) are bounded:
each reads at most COUNT_CAP index entries and says when it stopped there, so
a refresh every few seconds never turns into a scan of the whole history. The
overview costs a fixed number of statements whatever the number of queues:
one for the live counts, one for the recent counts of every queue, one for the
chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from bgjobs.dashboard.reader import Reader
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
    """Jobs finished in one minute of the throughput chart.

    `counted` is False for a minute older than the newest COUNT_CAP rows of
    the hour (a very busy hour): its counts are unknown, not zero.
    """

    minute: datetime
    succeeded: int
    failed: int
    counted: bool = True


@dataclass(frozen=True, slots=True)
class ScheduledRow:
    """A scheduled job's row and what its schedule says."""

    key: str
    schedule_text: str
    description: str
    next_run: datetime
    later_fires: list[datetime]
    running: bool
    attempts: int
    last_error: str | None


def queue_summaries(
    reader: Reader, now: datetime, configured: Mapping[str, bool] | None = None
) -> list[QueueSummary]:
    """Every queue value seen in any table or in `configured` (queue name -> paused), with
    live counts and bounded recent counts."""
    configured = configured or {}
    live = {
        row["queue"]: row for row in reader.named("queue_counts", {"now": reader.bind_time(now)})
    }
    recent = _recent_by_queue(reader, now)
    names: set[str | None] = set(live) | set(configured) | {queue for _, queue in recent}
    names.add(None)
    none = BoundedCount(0, capped=False)
    summaries = []
    for queue in sorted(names, key=lambda name: (name is not None, name or "")):
        row = live.get(queue, {})
        summary = QueueSummary(
            queue=queue,
            waiting=int(row.get("waiting") or 0),
            due=int(row.get("due") or 0),
            running=int(row.get("running") or 0),
            scheduled=int(row.get("scheduled") or 0),
            succeeded_last_hour=recent.get(("succeeded", queue), none),
            failed_last_day=recent.get(("failed", queue), none),
            paused=None if queue is None else configured.get(queue, False),
        )
        if queue is None and not _has_any(summary) and len(names) > 1:
            continue  # nobody enqueues without a queue here: no row for it
        summaries.append(summary)
    return summaries


def _recent_by_queue(reader: Reader, now: datetime) -> dict[tuple[str, str | None], BoundedCount]:
    """(outcome, queue) -> jobs succeeded in the last hour or failed in the last day.

    "The last hour" is the chart's: from the start of its first minute, so the
    queues' succeeded counts add up to the chart's total.
    """
    params = {
        "hour_ago": reader.bind_time(chart_start(now)),
        "day_ago": reader.bind_time(now - timedelta(days=1)),
        "cap": COUNT_CAP,
    }
    counts = {}
    for row in reader.pinned("finished_by_queue", params):
        value = int(row["n"])
        counts[(row["outcome"], row["queue"])] = BoundedCount(value, capped=value >= COUNT_CAP)
    return counts


def _has_any(summary: QueueSummary) -> bool:
    return bool(
        summary.waiting
        or summary.running
        or summary.scheduled
        or summary.succeeded_last_hour.value
        or summary.failed_last_day.value
    )


def chart_start(now: datetime, minutes: int = 60) -> datetime:
    """The start of the chart's first minute: `minutes` whole minutes, the current one last."""
    return now.replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)


def throughput(reader: Reader, now: datetime, minutes: int = 60) -> list[MinuteCount]:
    """Jobs finished per minute over the last `minutes` minutes, oldest first, gaps as zeros."""
    first = chart_start(now, minutes)
    params = {"since": reader.bind_time(first), "cap": COUNT_CAP}
    per_minute: dict[str, dict[str, int]] = {"succeeded": {}, "failed": {}}
    for row in reader.pinned("finished_per_minute", params):
        per_minute[row["outcome"]][row["minute"]] = int(row["n"])
    # An outcome that reached the cap was counted from its newest row back to
    # somewhere inside its oldest minute: that minute and older ones are unknown.
    counted_from = max(
        (min(found) for found in per_minute.values() if sum(found.values()) >= COUNT_CAP),
        default=None,
    )
    counts = []
    for step in range(minutes):
        minute = first + timedelta(minutes=step)
        key = minute.strftime("%Y-%m-%d %H:%M")
        counted = counted_from is None or key > counted_from
        counts.append(
            MinuteCount(
                minute,
                per_minute["succeeded"].get(key, 0) if counted else 0,
                per_minute["failed"].get(key, 0) if counted else 0,
                counted,
            )
        )
    return counts


def scheduled_rows(reader: Reader, now: datetime) -> list[ScheduledRow]:
    """The rows of the scheduled jobs, with their schedule described and the next fires."""
    rows = []
    for row in reader.named("scheduled_rows", {}):
        text = row["schedule"]
        next_run = reader.read_time(row["available_at"])
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
            )
        )
    return rows
