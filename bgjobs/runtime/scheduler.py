"""Scheduled jobs: keep exactly one row per key, run it when due, insert the next one.

Every process runs a ScheduledRunner for every ScheduledJob, but the single
row per key (jobs.scheduled_job is UNIQUE) means only one process claims each
run. The transaction that finishes a run inserts the next row, so there is no
moment without one and no way to have two.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bgjobs.db.adapter import Failed, Released, RetryLater, ScheduledNext, Succeeded
from bgjobs.events import (
    Event,
    JobReserved,
    JobScheduled,
    Listener,
    ScheduledRunSkipped,
    ScheduleMisfired,
)
from bgjobs.jobs import Job, Worker, decode_payload
from bgjobs.misfire import MAX_CATCH_UP, Misfire, MisfirePolicy, decide
from bgjobs.retry import Backoff
from bgjobs.runtime.completer import Completer
from bgjobs.runtime.context import RuntimeContext
from bgjobs.runtime.executor import Executor, RunPolicy
from bgjobs.runtime.outcomes import lease_of
from bgjobs.schedule.model import Interval
from bgjobs.schedule.policy import SchedulePolicy

logger = logging.getLogger("bgjobs")


@dataclass(frozen=True, slots=True)
class ResolvedScheduledJob:
    """A ScheduledJob whose schedule has been parsed at build()."""

    key: str
    worker: Worker
    policy: SchedulePolicy
    payload_text: str | None  # stored on every row; the handler sees it decoded
    misfire: MisfirePolicy
    max_retries: int
    retry_backoff: Backoff
    poll_interval_seconds: float
    listeners: tuple[Listener, ...]
    job_timeout: timedelta | None = None

    @property
    def job_name(self) -> str:
        return self.worker.job_name

    @property
    def schedule_text(self) -> str:
        return str(self.policy)


def first_fire(policy: SchedulePolicy, now: datetime) -> datetime | None:
    """When a newly created row becomes available: now + interval, or the first fire after now."""
    return policy.next_after(now)


def next_fire_after_run(
    policy: SchedulePolicy, *, ended: datetime, was_due: datetime, every_slot: bool = False
) -> datetime | None:
    """The next row's available_at once a run ends.

    Interval: end + interval. Calendar: the first fire strictly after
    max(end, the run's available_at), so a run that overlaps its next fire
    time skips it and a run claimed a little early never fires twice.
    With `every_slot` (misfire policy "all") the next slot after the run's
    own, even if it has passed: missed slots then run one after another.
    """
    if every_slot:
        return policy.next_after(was_due)
    if isinstance(policy, Interval):
        return policy.next_after(ended)
    return policy.next_after(max(ended, was_due))


class ScheduledRunner:
    """Runs one ScheduledJob in this process."""

    def __init__(
        self,
        scheduled: ResolvedScheduledJob,
        context: RuntimeContext,
        completer: Completer,
        executor: Executor,
    ) -> None:
        self.scheduled = scheduled
        self.name = f"scheduled:{scheduled.key}"
        self._context = context
        self._completer = completer
        self._executor = executor
        self._draining = False
        self._policy = RunPolicy(
            source=self.name,
            max_retries=scheduled.max_retries,
            retry_backoff=scheduled.retry_backoff,
            listeners=scheduled.listeners,
            job_timeout=scheduled.job_timeout,
            next_row=self._next_row,
        )
        self._wake = threading.Event()
        self._running: Job | None = None
        self._held: str | None = None  # claimed, outcome not yet committed
        self._lock = threading.Lock()
        self._known_due: datetime | None = None
        self._notes: dict[str, str] = {}  # job id -> misfire decision, for its history entry

    # -- the row ---------------------------------------------------------
    def ensure_row(self, *, take_over: bool = False) -> datetime | None:
        """Create the row if missing; return its available_at.

        With `take_over` (at build()), a stored schedule that differs from
        ours is replaced: the last deploy wins. The periodic check never takes
        over, or two versions running side by side would flip the row forever.
        """
        found = self._get_row()
        if found is None:
            return self._create_row()
        row, stored_text = found
        if take_over and self._differs(row, stored_text) and row.reserved_by is None:
            replaced = self._replace_row()
            if replaced is not None:
                return replaced
        return row.available_at

    def _differs(self, row: Job, stored_text: str) -> bool:
        scheduled = self.scheduled
        return (
            stored_text != scheduled.schedule_text
            or row.name != scheduled.job_name
            or row.payload != decode_payload(scheduled.payload_text)
        )

    def _get_row(self) -> tuple[Job, str] | None:
        context, key = self._context, self.scheduled.key
        return context.with_db_retry(
            "get_scheduled_job", lambda: context.adapter.get_scheduled_job(key)
        )

    def _create_row(self) -> datetime | None:
        context, scheduled = self._context, self.scheduled
        now = context.clock.now()
        due = first_fire(scheduled.policy, now)
        if due is None:
            return None  # the schedule never fires again
        inserted = context.with_db_retry(
            "insert_scheduled_job",
            lambda: context.adapter.insert_scheduled_job(
                scheduled.key,
                schedule_text=scheduled.schedule_text,
                available_at=due,
                now=now,
                name=scheduled.job_name,
                payload=scheduled.payload_text,
            ),
        )
        if not inserted:  # another process inserted it first
            found = self._get_row()
            return found[0].available_at if found is not None else None
        reason = "created" if self._known_due is None else "recreated"
        self._emit(
            JobScheduled(
                name=scheduled.key,
                available_at=due,
                schedule=scheduled.schedule_text,
                reason=reason,
            )
        )
        return due

    def _replace_row(self) -> datetime | None:
        # The last deploy wins: this process's schedule replaces the stored one.
        context, scheduled = self._context, self.scheduled
        due = first_fire(scheduled.policy, context.clock.now())
        if due is None:
            return None
        replaced = context.with_db_retry(
            "replace_scheduled_job",
            lambda: context.adapter.replace_scheduled_job(
                scheduled.key,
                schedule_text=scheduled.schedule_text,
                available_at=due,
                name=scheduled.job_name,
                payload=scheduled.payload_text,
            ),
        )
        if not replaced:
            return None
        self._emit(
            JobScheduled(
                name=scheduled.key,
                available_at=due,
                schedule=scheduled.schedule_text,
                reason="schedule changed",
            )
        )
        return due

    # -- the loop --------------------------------------------------------
    def run(self) -> None:
        """Check the row every poll interval; in between, sleep until it is due and claim it."""
        context = self._context
        clock = context.clock
        poll = self.scheduled.poll_interval_seconds
        while not context.stopping.is_set():
            self.run_retried_runs()
            due = self.ensure_row()
            self._known_due = due
            check_again = clock.monotonic() + poll
            while due is not None and not context.stopping.is_set():
                wait = (due - clock.now()).total_seconds()
                if wait > 0:
                    if clock.monotonic() + wait > check_again:
                        break
                    self._sleep(wait)
                    continue
                due = self.tick()  # None: another process holds the row; see at the next check
            self._sleep(check_again - clock.monotonic())

    def tick(self) -> datetime | None:
        """Claim the row if due and run it; returns the next row's available_at, or None
        when nothing was claimed."""
        context, scheduled = self._context, self.scheduled
        job = context.with_db_retry(
            "reserve_scheduled_job",
            lambda: context.adapter.reserve_scheduled_job(
                scheduled.key, owner=context.owner, now=context.clock.now()
            ),
        )
        if job is None:
            return None
        return self.run_claimed(job)

    def run_claimed(self, job: Job) -> datetime | None:
        """Run a claimed row and commit its outcome together with the next row, unless
        its slot was missed and the misfire policy skips it; returns the next due time."""
        return self._handle(job)[1]

    def _handle(self, job: Job) -> tuple[bool, datetime | None]:
        """(whether the handler ran, when the row is due next)."""
        with self._lock:
            self._held = job.id
        try:
            return self._run_or_skip(job)
        finally:
            with self._lock:
                self._held = None

    def held_job_ids(self) -> list[str]:
        """The job this runner has claimed and whose outcome has not committed, if any."""
        with self._lock:
            return [self._held] if self._held is not None else []

    def _run_or_skip(self, job: Job) -> tuple[bool, datetime | None]:
        misfire = self._misfire_of(job)
        if misfire is not None and misfire.skip_to is not None:
            return False, self._skip(job, misfire)
        if misfire is not None:
            with self._lock:
                self._notes[job.id] = self._note(misfire)
        return True, self._run(job)

    def _note(self, misfire: Misfire) -> str:
        """The history's words for a misfire decision."""
        missed = "more than 1000" if misfire.missed > MAX_CATCH_UP else str(misfire.missed)
        plural = "" if misfire.missed == 1 else "s"
        policy = self.scheduled.misfire.kind
        return f"misfire ({policy}): {missed} slot{plural} missed, {misfire.decision}"

    def _misfire_of(self, job: Job) -> Misfire | None:
        # Only a schedule's own row on its first attempt has a slot: a retry or a
        # rescued run is late because of its own history, not because slots passed.
        if job.scheduled_job is None or job.attempts != 1 or job.last_error is not None:
            return None
        scheduled = self.scheduled
        try:
            misfire = decide(
                scheduled.policy,
                scheduled.misfire,
                slot=job.available_at,
                now=self._context.clock.now(),
            )
        except Exception:
            logger.exception("schedule of %r raised while counting missed slots", scheduled.key)
            return None
        if misfire is not None:
            self._emit(
                ScheduleMisfired(
                    key=scheduled.key,
                    slot=misfire.slot,
                    missed=misfire.missed,
                    policy=scheduled.misfire.kind,
                    decision=misfire.decision,
                )
            )
        return misfire

    def _skip(self, job: Job, misfire: Misfire) -> datetime | None:
        """Give the claim back with the row moved on, without running it; the skipped
        slot goes in the history in the same transaction."""
        context, key = self._context, self.scheduled.key
        resume_at = misfire.skip_to
        assert resume_at is not None
        applied = context.with_db_retry(
            "skip_scheduled_slot",
            lambda: context.adapter.skip_scheduled_slot(
                lease_of(job),
                key=key,
                resume_at=resume_at,
                note=self._note(misfire),
                now=context.clock.now(),
            ),
        )
        if not applied:
            return None
        self._emit(
            ScheduledRunSkipped(key=self.scheduled.key, slot=job.available_at, resumes_at=resume_at)
        )
        return resume_at

    def _run(self, job: Job) -> datetime | None:
        self._emit(
            JobReserved(job_id=job.id, name=job.name, attempts=job.attempts, queue=self.name)
        )
        with self._lock:
            self._running = job
        try:
            ran = self._executor.run(job, self.scheduled.worker.handler, self._policy)
        finally:
            with self._lock:
                self._running = None
        assert ran is not None, "a run without on_abandon is never abandoned"
        completer = self._completer
        applied = (
            completer.commit_now(ran.outcome) if self._draining else completer.commit(ran.outcome)
        )
        self._executor.report(ran, applied)
        if not applied:
            return None
        outcome = ran.outcome
        if isinstance(outcome, RetryLater):
            return outcome.available_at
        if isinstance(outcome, Released):
            return outcome.available_at or job.available_at
        if isinstance(outcome, (Succeeded, Failed)) and outcome.next_scheduled is not None:
            return outcome.next_scheduled.available_at
        return None

    def wake(self) -> None:
        self._wake.set()

    def recover(self) -> None:
        """After a crash between claim and finish: give back our own claim on the row."""
        context = self._context
        found = context.adapter.get_scheduled_job(self.scheduled.key)
        if found is None or self.running_job is not None:
            return
        row, _ = found
        if row.reserved_by == context.owner:
            context.adapter.finish_jobs([Released(lease=lease_of(row))], now=context.clock.now())

    def drain_once(self) -> int:
        """Run the row on the calling thread if it is due (drain()); returns how many ran."""
        self._draining = True
        ran = self.run_retried_runs()
        self.ensure_row()
        return ran + self.drain_row()

    def drain_row(self) -> int:
        """Run the row on the calling thread if it is due; returns 1 if it ran, else 0."""
        context = self._context
        self._draining = True
        while True:
            job = context.adapter.reserve_scheduled_job(
                self.scheduled.key, owner=context.owner, now=context.clock.now()
            )
            if job is None:
                return 0
            handled, _ = self._handle(job)
            if handled:
                return 1
            # Skipped: the row moved to a later slot, which may be due already.

    def run_retried_runs(self) -> int:
        """Run plain jobs of this job name: failed runs sent back by `bgjobs jobs retry`.

        They are not the schedule's row (that one is still there), so they do
        not insert a next row; no Queue may handle the name, so a runner of a
        schedule with that job name does (any one, when several share it).
        """
        context, name = self._context, self.scheduled.job_name
        jobs = context.with_db_retry(
            "reserve_jobs",
            lambda: context.adapter.reserve_jobs(
                [name], queue=self.name, limit=1, owner=context.owner, now=context.clock.now()
            ),
        )
        for job in jobs:
            self.run_claimed(job)
        return len(jobs)

    def request_stop_of_running(self) -> None:
        with self._lock:
            running = self._running
        if running is not None:
            self._executor.stop_running(running.id, "shutdown")

    @property
    def running_job(self) -> Job | None:
        with self._lock:
            return self._running

    # -- internals -------------------------------------------------------
    def _next_row(self, job: Job) -> ScheduledNext | None:
        """The history entry of the run that ends and the schedule's next row."""
        if job.scheduled_job is None:
            return None  # a failed run retried by hand: the schedule keeps its own row
        scheduled = self.scheduled
        with self._lock:
            note = self._notes.pop(job.id, None)
        ended = ScheduledNext(
            key=scheduled.key,
            schedule_text=scheduled.schedule_text,
            available_at=None,
            name=scheduled.job_name,
            payload=scheduled.payload_text,
            slot=job.available_at,
            started_at=job.reserved_at,
            note=note,
        )
        try:
            due = next_fire_after_run(
                scheduled.policy,
                ended=self._context.clock.now(),
                was_due=job.available_at,
                every_slot=scheduled.misfire.kind == "all",
            )
        except Exception:
            # A user's SchedulePolicy raised: finish this run anyway; the row is
            # re-created from the schedule at the next check.
            logger.exception("schedule of %r raised in next_after()", scheduled.key)
            return ended
        return replace(ended, available_at=due)  # None: the schedule has ended

    def _sleep(self, timeout: float) -> None:
        if timeout > 0:
            self._context.clock.wait(self._wake, timeout)
            self._wake.clear()

    def _emit(self, event: Event) -> None:
        self._context.emit(event, self.scheduled.listeners)
