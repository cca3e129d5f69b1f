"""`adapter.schedules` (and `bg.schedules`, the same object): schedules as the database
holds them, for any process, with or without a runtime."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bgjobs.clock import SYSTEM_CLOCK
from bgjobs.db.schedule_records import ScheduleRow, ScheduleRun, StoredSchedule
from bgjobs.errors import BgJobsError, ConfigurationError
from bgjobs.jobs import encode_payload
from bgjobs.misfire import DEFAULT_GRACE, MisfireKind, MisfirePolicy
from bgjobs.schedule import ScheduleValidationError, parse
from bgjobs.schedule.policy import SchedulePolicy

if TYPE_CHECKING:
    from bgjobs.db.adapter import Adapter

#: The most history entries one call returns.
MAX_HISTORY = 10_000


class Schedules:
    """The schedules stored in one database: add, remove, pause and resume schedules at
    runtime (from any process, even one without a runtime), list them, read their history.

    A schedule added here fires once per slot in whichever process runs a worker for
    its job name (within a second of the slot); removing or pausing it stops it within
    a second. Schedules from code (ScheduledJob) are listed too and can be paused and
    resumed like runtime ones; they are changed or removed by deploying code.
    """

    def __init__(self, adapter: Adapter) -> None:
        self._adapter = adapter

    def add(
        self,
        key: str,
        schedule: str | SchedulePolicy,
        job_name: str,
        payload: Any = None,
        misfire: MisfireKind = "once",
        grace: timedelta = DEFAULT_GRACE,
        *,
        now: datetime | None = None,
    ) -> StoredSchedule:
        """Add a schedule; BgJobsError if `key` is in use (by a runtime schedule or one
        from code). `schedule` is schedule text, or a Schedule/Interval/RRule (stored as
        its canonical text: every process must be able to read it back)."""
        _check_name(key, "schedule key")
        _check_name(job_name, "job name")
        policy = _policy(schedule)
        text = str(policy)
        try:
            MisfirePolicy(misfire, grace)
        except ConfigurationError as exc:
            raise ConfigurationError(f"schedule {key!r}: {exc}") from None
        payload_text = None if payload is None else encode_payload(payload, f"payload of {key!r}")
        moment = SYSTEM_CLOCK.now() if now is None else now
        first = policy.next_after(moment)
        if first is None:
            raise ScheduleValidationError(f"schedule {text!r} never fires after {moment}")
        stored = StoredSchedule(
            key=key,
            job_name=job_name,
            schedule_text=text,
            payload_text=payload_text,
            misfire=misfire,
            grace=grace,
            paused=False,
            next_fire=first,
            running=False,
        )
        if not self._adapter.add_schedule(stored, first_fire=first, now=moment):
            raise BgJobsError(
                f"a schedule with key {key!r} exists (remove it first, or choose another key)"
            )
        return stored

    def remove(self, key: str) -> bool:
        """Remove a schedule added at runtime; a run already going finishes, no other starts.
        False if there is no runtime schedule with that key: a schedule from code cannot be
        removed here (the next deploy or worker start would bring it back); pause it, or
        delete its ScheduledJob from the code."""
        return self._adapter.remove_schedule(key)

    def pause(self, key: str, *, now: datetime | None = None) -> bool:
        """Stop claiming a schedule's runs until resume(), whether it comes from code or was
        added at runtime; a run already going finishes. The pause is stored on its own, so
        it lasts across worker restarts and deploys. False if there is no such schedule."""
        moment = SYSTEM_CLOCK.now() if now is None else now
        return self._adapter.pause_schedule(key, paused=True, resume_at=None, now=moment)

    def resume(self, key: str, *, now: datetime | None = None) -> bool:
        """Resume a paused schedule at its first slot after now (the slots it missed while
        paused are not caught up); True and nothing changed if it was not paused; False if
        there is no such schedule.

        A schedule from code whose text bgjobs cannot read back (a custom SchedulePolicy)
        keeps its row's time: its misfire policy then decides about the missed slots."""
        moment = SYSTEM_CLOCK.now() if now is None else now
        return self._adapter.pause_schedule(
            key, paused=False, resume_at=self._first_slot_after(key, moment), now=moment
        )

    def _first_slot_after(self, key: str, moment: datetime) -> datetime | None:
        found = self._adapter.get_scheduled_job(key)
        if found is None:  # no row (it ended, or a removed one's run is finishing): none to move
            return None
        try:
            return parse(found[1]).next_after(moment)
        except ScheduleValidationError:
            return None

    def added(self) -> list[StoredSchedule]:
        """The schedules added at runtime (not removed), by key, paused ones included."""
        return self._adapter.stored_schedules()

    def history(self, key: str, limit: int = 20) -> list[ScheduleRun]:
        """Past runs of schedule `key`, newest first: slot, started, finished, outcome, error
        (and the misfire decision when its slot was missed); skipped slots included."""
        if not isinstance(key, str) or not key:
            raise BgJobsError(f"schedule key: expected a non-empty string, got {key!r}")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_HISTORY:
            raise BgJobsError(f"history limit: expected 1..{MAX_HISTORY}, got {limit!r}")
        return self._adapter.schedule_history(key, limit=limit)

    def list(self) -> list[ScheduleRow]:
        """Every schedule with its row: key, job name, canonical text, next fire, last run,
        and whether it is paused."""
        return self._adapter.list_schedules()


def _check_name(value: object, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what}: expected a non-empty string, got {value!r}")


def _policy(schedule: object) -> SchedulePolicy:
    if isinstance(schedule, str):
        return parse(schedule)
    text = str(schedule)
    try:
        parsed = parse(text)
    except ScheduleValidationError:
        raise ConfigurationError(
            f"schedule {schedule!r}: a runtime schedule is stored as text that every "
            "process reads back; this one's text is not schedule text"
        ) from None
    return parsed
