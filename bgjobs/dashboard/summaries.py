"""What the overview, queues and scheduled pages show, read with bounded, indexed queries.

Counts over the finished tables (which may hold millions of rows) are bounded,
so a refresh every few seconds never turns into a scan of the hour or the day:
a queue's count reads at most COUNT_CAP index entries and, when it stops there,
says how far back it reached ("10,000+ in 2 h"); a minute of the chart reads
at most MINUTE_CAP and, past that, is estimated from the stretch of the minute
those rows cover. The overview costs a fixed number of statements whatever
the number of queues: the live counts, the recent counts of every queue, the
chart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from bgjobs.dashboard.formatting import ago
from bgjobs.dashboard.reader import Reader
from bgjobs.db.schedule_records import ScheduleRun
from bgjobs.errors import BgJobsError
from bgjobs.schedule import describe, parse

#: The most rows a queue's count reads (per outcome); more shows as "10,000+ in 2 h".
COUNT_CAP: Final = 10_000
#: The most rows the chart reads per minute and table; a busier minute is estimated.
MINUTE_CAP: Final = 500
#: How many fire times the scheduled page lists after the next run.
FIRES_SHOWN: Final = 3


@dataclass(frozen=True, slots=True)
class BoundedCount:
    """A count that stopped at a cap: `capped` means "at least `value`", all of them
    newer than `reached` (the oldest row counted)."""

    value: int
    capped: bool
    reached: str = ""  # how far back a capped count reached: "2 h", "35 min"

    def __str__(self) -> str:
        if not self.capped:
            return f"{self.value:,}"
        return f"{self.value:,}+ in {self.reached}" if self.reached else f"{self.value:,}+"


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

    `estimated` is True when more than MINUTE_CAP jobs finished in the minute:
    the counts are then the rate of its newest MINUTE_CAP rows times the
    minute's length, not a count.
    """

    minute: datetime
    succeeded: int
    failed: int
    estimated: bool = False


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
        capped = value >= COUNT_CAP
        reached = ""
        if capped and row["oldest"] is not None:
            reached = ago(reader.read_time(row["oldest"]), now).removesuffix(" ago")
        counts[(row["outcome"], row["queue"])] = BoundedCount(value, capped, reached)
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
    starts = [first + timedelta(minutes=step) for step in range(minutes)]
    params = minute_params(reader, starts)
    found: dict[tuple[str, datetime], tuple[int, bool]] = {}
    for row in reader.pinned("finished_per_minute", params):
        start = reader.read_time(row["start"])
        n = int(row["n"])
        if n >= MINUTE_CAP and row["oldest"] is not None:
            found[(row["outcome"], start)] = (
                _estimate(start, reader.read_time(row["oldest"]), now),
                True,
            )
        else:
            found[(row["outcome"], start)] = (n, False)
    counts = []
    for start in starts:
        succeeded, ok_estimated = found.get(("succeeded", start), (0, False))
        failed, bad_estimated = found.get(("failed", start), (0, False))
        counts.append(MinuteCount(start, succeeded, failed, ok_estimated or bad_estimated))
    return counts


def minute_params(reader: Reader, starts: list[datetime]) -> dict[str, Any]:
    """The parameters of finished_per_minute for the minutes that begin at `starts`."""
    bounds = [
        (reader.bind_time(start), reader.bind_time(start + timedelta(minutes=1)))
        for start in starts
    ]
    if reader.dialect == "sqlite":  # one JSON array of [start, end] pairs
        return {"minutes": json.dumps(bounds), "cap": MINUTE_CAP}
    return {  # two arrays
        "starts": [start for start, _ in bounds],
        "ends": [end for _, end in bounds],
        "cap": MINUTE_CAP,
    }


def _estimate(start: datetime, oldest: datetime, now: datetime) -> int:
    """Jobs in the minute from `start`, from its newest MINUTE_CAP rows reaching back to `oldest`.

    Those rows cover [oldest, end of the minute or now): the minute's count is
    their rate times the part of the minute that has passed.
    """
    stop = min(start + timedelta(minutes=1), now)
    covered = (stop - oldest).total_seconds()
    elapsed = (stop - start).total_seconds()
    if covered <= 0:
        return MINUTE_CAP
    return max(MINUTE_CAP, round(MINUTE_CAP * elapsed / covered))


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
