"""`adapter.schedules` (and `bg.schedules`, the same object): schedules as the database
holds them, for any process, with or without a runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bgjobs.db.schedule_records import ScheduleRow, ScheduleRun
from bgjobs.errors import BgJobsError

if TYPE_CHECKING:
    from bgjobs.db.adapter import Adapter

#: The most history entries one call returns.
MAX_HISTORY = 10_000


class Schedules:
    """The schedules stored in one database: their list and their history."""

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter

    def history(self, key: str, limit: int = 20) -> list[ScheduleRun]:
        """Past runs of schedule `key`, newest first: slot, started, finished, outcome, error
        (and the misfire decision when its slot was missed); skipped slots included."""
        if not isinstance(key, str) or not key:
            raise BgJobsError(f"schedule key: expected a non-empty string, got {key!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY:
            raise BgJobsError(f"history limit: expected 1..{MAX_HISTORY}, got {limit!r}")
        return self._adapter.schedule_history(key, limit=limit)

    def list(self) -> list[ScheduleRow]:
        """Every schedule with its row: key, job name, canonical text, next fire, last run."""
        return self._adapter.list_schedules()
