"""Storage: the Adapter protocol, its SQLite and PostgreSQL implementations, and URLs.

`PostgresAdapter` is imported on first use, so SQLite users need no psycopg.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bgjobs.db.adapter import (
    Adapter,
    Counts,
    Failed,
    FinishedJob,
    JobState,
    Lease,
    NotifyCallback,
    Outcome,
    QueueLimits,
    QueueRow,
    Released,
    RetryLater,
    ScheduledNext,
    Subscription,
    Succeeded,
    WorkerRow,
)
from bgjobs.db.base import lease_of
from bgjobs.db.schedule_records import ScheduleRow, ScheduleRun, StoredSchedule
from bgjobs.db.schedules import Schedules
from bgjobs.db.sqlite import SqliteAdapter
from bgjobs.db.urls import adapter_from_url

if TYPE_CHECKING:
    from bgjobs.db.postgres import PostgresAdapter

__all__ = [
    "Adapter",
    "Counts",
    "Failed",
    "FinishedJob",
    "JobState",
    "Lease",
    "NotifyCallback",
    "Outcome",
    "PostgresAdapter",
    "QueueLimits",
    "QueueRow",
    "Released",
    "RetryLater",
    "ScheduleRow",
    "ScheduleRun",
    "ScheduledNext",
    "Schedules",
    "SqliteAdapter",
    "StoredSchedule",
    "Subscription",
    "Succeeded",
    "WorkerRow",
    "adapter_from_url",
    "lease_of",
]


def __getattr__(name: str) -> Any:
    # Lazy: importing bgjobs.db must not import psycopg.
    if name == "PostgresAdapter":
        from bgjobs.db.postgres import PostgresAdapter

        return PostgresAdapter
    raise AttributeError(f"module 'bgjobs.db' has no attribute {name!r}")
