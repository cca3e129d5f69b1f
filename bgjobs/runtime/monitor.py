"""The monitor: this process's heartbeat, the rescue sweep, and retention pruning."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from bgjobs.errors import DatabaseError
from bgjobs.events import JobReleased, JobRescued
from bgjobs.jobs import Job
from bgjobs.runtime.config import HeartbeatSettings, RetentionSettings
from bgjobs.runtime.context import DB_RETRY_CAP, RuntimeContext
from bgjobs.runtime.rescue_gate import RescueGate
from bgjobs.runtime.unhandled import find_unhandled

logger = logging.getLogger("bgjobs")

__all__ = ["HeartbeatSettings", "Monitor", "RetentionSettings"]

#: Rows deleted per retention statement: small, so pruning never holds the writer long.
PRUNE_BATCH = 500
#: Pruning stops after this long per sweep; the rest waits for the next heartbeat.
PRUNE_SECONDS_PER_SWEEP = 1.0
#: How often the monitor looks for waiting jobs that no process handles (and warns).
UNHANDLED_CHECK_SECONDS = 60.0


class Monitor:
    """Keeps this process's jobs_workers row alive and rescues the jobs of dead processes.

    Rescues wait until this process has beaten steadily for a full lease (since
    it started and since any database trouble it saw): see rescue_gate.py.
    """

    name = "monitor"

    def __init__(
        self,
        context: RuntimeContext,
        heartbeat: HeartbeatSettings,
        retention: RetentionSettings,
        on_rescued: Callable[[list[Job]], None],
        held_job_ids: Callable[[], set[str]] = set,
        abandoned_threads: Callable[[], int] = lambda: 0,
        *,
        queues: tuple[str, ...] = (),
        job_names: tuple[str, ...] = (),
    ) -> None:
        self._context = context
        self._abandoned_threads = abandoned_threads
        self._queues = queues
        self._job_names = job_names
        self._next_unhandled_check = 0.0
        self._heartbeat = heartbeat
        self._retention = retention
        self._on_rescued = on_rescued
        self._held_job_ids = held_job_ids
        #: Set by stop() only after running jobs are done: heartbeats go on until then,
        #: so a graceful stop longer than the lease does not get its own jobs rescued.
        self.stopped = threading.Event()
        self._gate = RescueGate(
            every=heartbeat.every.total_seconds(),
            lease=heartbeat.lease.total_seconds(),
            started_at=context.clock.monotonic(),
        )

    def register(self) -> None:
        """Insert this process's row; done before the first claim."""
        context = self._context
        context.with_db_retry(
            "register_worker",
            lambda: context.adapter.register_worker(
                context.owner,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                now=context.clock.now(),
                queues=self._queues,
                job_names=self._job_names,
                heartbeat_every=self._heartbeat.every,
                lease=self._heartbeat.lease,
            ),
        )

    def run(self) -> None:
        # A fixed rate, not a fixed pause: the time a tick spends rescuing and
        # pruning (behind the process's other writes) must not push the next
        # heartbeat later. A tick that overruns is followed by the next at once.
        interval = self._heartbeat.every.total_seconds()
        clock = self._context.clock
        due = clock.monotonic() + interval
        self.warn_unhandled()
        while not clock.wait(self.stopped, max(0.0, due - clock.monotonic())):
            self.tick()
            self.warn_unhandled()
            due = max(due + interval, clock.monotonic())

    def warn_unhandled(self) -> int:
        """Once a minute: warn about waiting jobs whose name no registered process handles.

        Returns how many groups were reported (0 when it was not yet time).
        """
        clock = self._context.clock
        if clock.monotonic() < self._next_unhandled_check:
            return 0
        self._next_unhandled_check = clock.monotonic() + UNHANDLED_CHECK_SECONDS
        adapter = self._context.adapter
        try:
            found = find_unhandled(adapter.count_waiting_groups(), adapter.list_workers())
        except DatabaseError:
            return 0  # the heartbeat reports outages; this check simply waits for the next one
        except Exception:
            # A diagnostic must never take the monitor (and so the heartbeat) down.
            logger.exception("the check for waiting jobs nobody handles failed")
            return 0
        for item in found:
            logger.warning(
                "no running worker handles %s: check the name where it is enqueued "
                "(`bgjobs stats` lists such jobs)",
                item.describe(),
            )
        return len(found)

    def tick(self) -> list[Job]:
        """One heartbeat: refresh our row, rescue dead owners' jobs, prune old rows."""
        context = self._context
        lease = self._heartbeat.lease.total_seconds()
        beat_at = self._beat()
        self._gate.beat(context.clock.monotonic())
        # Our own reservations are ours to fix whatever the gate says.
        self.release_untracked(beat_at)
        if not self._may_rescue():
            return []
        # The sweep judges others by the time our own successful heartbeat
        # wrote: if that write waited (a lock, a reconnect), our row still
        # looks alive to it.
        rescued = context.with_db_retry(
            "rescue_jobs", lambda: context.adapter.rescue_jobs(now=beat_at, lease_seconds=lease)
        )
        for job in rescued:
            context.emit(JobRescued(job_id=job.id, name=job.name, attempts=job.attempts))
        if rescued:
            self._on_rescued(rescued)
        self.prune()
        return rescued

    def _beat(self) -> datetime:
        """Refresh our row; returns the time written. Every attempt writes its own `now`,
        so a heartbeat that succeeds after an outage says we are alive now."""
        context = self._context
        written: list[datetime] = []

        abandoned = self._abandoned_threads()

        def attempt() -> bool:
            written.append(context.clock.now())
            return context.adapter.heartbeat_worker(
                context.owner, now=written[-1], abandoned_threads=abandoned
            )

        # Retried at least once per interval: once the database is back, every
        # live process must beat again well within the lease the others wait.
        every = self._heartbeat.every.total_seconds()
        if not context.with_db_retry(
            "heartbeat_worker", attempt, report_first_only=True, max_delay=min(every, DB_RETRY_CAP)
        ):
            # Another process thought we were dead and swept our row (a long pause,
            # a clock jump): come back. Our rescued jobs' late outcomes are fenced out.
            self.register()
        return written[-1]

    def _may_rescue(self) -> bool:
        """Whether every live process has had a full lease to beat since any trouble we saw."""
        failed_at = self._context.db_failed_at
        if failed_at is not None:
            self._gate.trouble(failed_at)
        return self._gate.may_rescue(self._context.clock.monotonic())

    def release_untracked(self, now: datetime) -> list[Job]:
        """Give back reservations of this process that none of its threads holds.

        A claim is one round trip that commits on its own: if its answer is
        lost, its jobs stay reserved by this live, heartbeating process and no
        rescue would ever free them. Only reservations older than half a lease
        are looked at, so a claim whose answer is still being read is left alone;
        a lost claim's jobs come back within half a lease plus a heartbeat.
        """
        context = self._context
        # Read the holders first: a job only moves from a runner to the
        # completer, so one that moves while we look is seen in the completer.
        held = self._held_job_ids()
        before = now - self._heartbeat.lease / 2
        released = context.with_db_retry(
            "release_untracked_jobs",
            lambda: context.adapter.release_untracked_jobs(
                context.owner, keep=held, claimed_before=before
            ),
        )
        for job in released:
            context.emit(JobReleased(job_id=job.id, name=job.name))
        return released

    def prune(self) -> int:
        """Delete finished rows older than the retention, and the schedule history entries
        of the same outcome and age, in small batches."""
        removed = 0
        for state, keep in (
            ("succeeded", self._retention.succeeded),
            ("failed", self._retention.failed),
        ):
            if keep is not None:
                removed += self._prune_table(state, keep)  # type: ignore[arg-type]
                removed += self._prune_table(state, keep, schedule_runs=True)  # type: ignore[arg-type]
        return removed

    def _prune_table(
        self,
        state: Literal["succeeded", "failed"],
        keep: timedelta,
        *,
        schedule_runs: bool = False,
    ) -> int:
        context = self._context
        adapter = context.adapter
        prune = adapter.prune_schedule_runs if schedule_runs else adapter.prune_finished
        removed = 0
        deadline = time.monotonic() + PRUNE_SECONDS_PER_SWEEP
        while time.monotonic() < deadline:
            older_than = context.clock.now() - keep
            count = context.with_db_retry(
                "prune_schedule_runs" if schedule_runs else "prune_finished",
                partial(prune, state, older_than=older_than, batch_size=PRUNE_BATCH),
            )
            removed += count
            if count < PRUNE_BATCH:
                break
        return removed
