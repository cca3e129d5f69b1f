"""What the database says about schedules: their runs (history) and their current rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from bgjobs.schedule import ScheduleValidationError, describe, parse

ScheduleOutcome = Literal["succeeded", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    """One entry of a schedule's history: a finished run, or a slot skipped by its misfire
    policy (then started_at is None)."""

    id: str  # the run's job id; a fresh id for a skipped slot
    key: str
    slot: datetime
    started_at: datetime | None
    finished_at: datetime
    outcome: ScheduleOutcome
    error: str | None
    note: str | None  # the misfire decision when the slot was missed


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """A schedule as the database holds it: its row in `jobs`, its last history entry and
    whether it is paused."""

    key: str
    job_name: str
    schedule_text: str
    next_fire: datetime  # the row's available_at (a retry's time while it waits to retry)
    running: bool  # a process holds the row now
    last_run: ScheduleRun | None
    paused_at: datetime | None = None  # when it was paused; None while it runs on schedule

    @property
    def paused(self) -> bool:
        """Whether the schedule is paused: its row is not claimed until it is resumed."""
        return self.paused_at is not None

    @property
    def description(self) -> str | None:
        """The schedule in words; None when its text is not in a language bgjobs reads
        (the str() of a custom SchedulePolicy)."""
        try:
            return describe(parse(self.schedule_text))
        except ScheduleValidationError:
            return None


def schedule_run_from_row(row: Mapping[str, Any], read_time: Callable[[Any], Any]) -> ScheduleRun:
    started = row["started_at"]
    return ScheduleRun(
        id=row["id"],
        key=row["key"],
        slot=read_time(row["slot"]),
        started_at=None if started is None else read_time(started),
        finished_at=read_time(row["finished_at"]),
        outcome=row["outcome"],
        error=row["error"],
        note=row["note"],
    )


def schedule_row_from_row(row: Mapping[str, Any], read_time: Callable[[Any], Any]) -> ScheduleRow:
    """A row of the `list_schedules` query: the jobs row joined with its last run (r_*)."""
    last = None
    if row["r_id"] is not None:
        last = schedule_run_from_row(
            {name: row[f"r_{name}"] for name in ScheduleRun.__dataclass_fields__}, read_time
        )
    return ScheduleRow(
        key=row["scheduled_job"],
        job_name=row["name"],
        schedule_text=row["schedule"],
        next_fire=read_time(row["available_at"]),
        running=row["reserved_by"] is not None,
        last_run=last,
        paused_at=None if row["paused_at"] is None else read_time(row["paused_at"]),
    )


@dataclass(frozen=True, slots=True)
class StoredSchedule:
    """A schedule added at runtime, as `jobs_schedules` holds it, with its row's state."""

    key: str
    job_name: str
    schedule_text: str
    payload_text: str | None
    misfire: Literal["once", "skip", "all"]
    grace: timedelta
    paused: bool
    next_fire: datetime | None  # None: no row (the schedule ended, or a run is finishing)
    running: bool


def stored_schedule_from_row(
    row: Mapping[str, Any], read_time: Callable[[Any], Any]
) -> StoredSchedule:
    at = row["available_at"]
    return StoredSchedule(
        key=row["key"],
        job_name=row["job_name"],
        schedule_text=row["schedule"],
        payload_text=row["payload"],
        misfire=row["misfire"],
        grace=timedelta(milliseconds=int(row["grace_ms"])),
        paused=bool(row["paused"]),
        next_fire=None if at is None else read_time(at),
        running=row["reserved_by"] is not None,
    )


def add_schedule_params(
    schedule: StoredSchedule, *, row_id: str, available_at: Any, now: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The parameters of `add_schedule` (the stored schedule) and of its first row in `jobs`,
    with times already in the dialect's form (`available_at`, `now`)."""
    params = {
        "key": schedule.key,
        "name": schedule.job_name,
        "schedule": schedule.schedule_text,
        "payload": schedule.payload_text,
        "misfire": schedule.misfire,
        "grace_ms": round(schedule.grace.total_seconds() * 1000),
        "now": now,
    }
    row = {
        "id": row_id,
        "key": schedule.key,
        "name": schedule.job_name,
        "payload": schedule.payload_text,
        "schedule": schedule.schedule_text,
        "available_at": available_at,
        "now": now,
    }
    return params, row
