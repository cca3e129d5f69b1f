"""Scheduled jobs: keep exactly one row per key, run it when due, insert the next one.

Every process runs a ScheduledRunner for every ScheduledJob, but the single
row per key (jobs.scheduled_job is UNIQUE) means only one process claims each
run. The transaction that finishes a run inserts the next row, so there is no
moment without one and no way to have two.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime

from bgjobs.db.adapter import Failed, Released, RetryLater, ScheduledNext, Succeeded
from bgjobs.events import Event, JobReserved, JobScheduled, Listener
from bgjobs.jobs import Job, Worker
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

    worker: Worker
    policy: SchedulePolicy
    max_retries: int
    retry_backoff: Backoff
    poll_interval_seconds: float
    listeners: tuple[Listener, ...]

    @property
    def key(self) -> str:
        return self.worker.job_name

    @property
    def schedule_text(self) -> str:
        return str(self.policy)


def first_fire(policy: SchedulePolicy, now: datetime) -> datetime | None:
    """When a newly created row becomes available: now + interval, or the first fire after now."""
    return policy.next_after(now)


def next_fire_after_run(
    policy: SchedulePolicy, *, ended: datetime, was_due: datetime
) -> datetime | None:
    """The next row's available_at once a run ends.

    Interval: end + interval. Calendar: the first fire strictly after
    max(end, the run's available_at), so a run that overlaps its next fire
    time skips it and a run claimed a little early never fires twice.
    """
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
            next_row=self._next_row,
        )
        self._wake = threading.Event()
        self._running: Job | None = None
        self._held: str | None = None  # claimed, outcome not yet committed
        self._lock = threading.Lock()
        self._known_due: datetime | None = None

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
        if take_over and stored_text != self.scheduled.schedule_text and row.reserved_by is None:
            replaced = self._replace_row()
            if replaced is not None:
                return replaced
        return row.available_at

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
                scheduled.key, schedule_text=scheduled.schedule_text, available_at=due, now=now
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
                scheduled.key, schedule_text=scheduled.schedule_text, available_at=due
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
        """Run a claimed row and commit its outcome together with the next row."""
        with self._lock:
            self._held = job.id
        try:
            return self._run_claimed(job)
        finally:
            with self._lock:
                self._held = None

    def held_job_ids(self) -> list[str]:
        """The job this runner has claimed and whose outcome has not committed, if any."""
        with self._lock:
            return [self._held] if self._held is not None else []

    def _run_claimed(self, job: Job) -> datetime | None:
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
        context = self._context
        self._draining = True
        ran = self.run_retried_runs()
        self.ensure_row()
        job = context.adapter.reserve_scheduled_job(
            self.scheduled.key, owner=context.owner, now=context.clock.now()
        )
        if job is not None:
            self.run_claimed(job)
            ran += 1
        return ran

    def run_retried_runs(self) -> int:
        """Run plain jobs named after this key: failed runs sent back by `bgjobs jobs retry`.

        They are not the schedule's row (that one is still there), so they do
        not insert a next row; no Queue may handle the name, so this runner does.
        """
        context, key = self._context, self.scheduled.key
        jobs = context.with_db_retry(
            "reserve_jobs",
            lambda: context.adapter.reserve_jobs(
                [key], queue=self.name, limit=1, owner=context.owner, now=context.clock.now()
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
        if job.scheduled_job is None:
            return None  # a failed run retried by hand: the schedule keeps its own row
        scheduled = self.scheduled
        try:
            due = next_fire_after_run(
                scheduled.policy, ended=self._context.clock.now(), was_due=job.available_at
            )
        except Exception:
            # A user's SchedulePolicy raised: finish this run anyway; the row is
            # re-created from the schedule at the next check.
            logger.exception("schedule of %r raised in next_after()", scheduled.key)
            return None
        if due is None:
            return None
        return ScheduledNext(
            key=scheduled.key, schedule_text=scheduled.schedule_text, available_at=due
        )

    def _sleep(self, timeout: float) -> None:
        if timeout > 0:
            self._context.clock.wait(self._wake, timeout)
            self._wake.clear()

    def _emit(self, event: Event) -> None:
        self._context.emit(event, self.scheduled.listeners)
