"""The monitor: this process's heartbeat, the rescue sweep, and retention pruning."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from bgjobs.events import JobRescued
from bgjobs.jobs import Job
from bgjobs.runtime.config import HeartbeatSettings, RetentionSettings
from bgjobs.runtime.context import RuntimeContext

__all__ = ["HeartbeatSettings", "Monitor", "RetentionSettings"]

#: Rows deleted per retention statement: small, so pruning never holds the writer long.
PRUNE_BATCH = 500
#: Pruning stops after this long per sweep; the rest waits for the next heartbeat.
PRUNE_SECONDS_PER_SWEEP = 1.0


class Monitor:
    """Keeps this process's jobs_workers row alive and rescues the jobs of dead processes."""

    name = "monitor"

    def __init__(
        self,
        context: RuntimeContext,
        heartbeat: HeartbeatSettings,
        retention: RetentionSettings,
        on_rescued: Callable[[list[Job]], None],
        abandoned_threads: Callable[[], int] = lambda: 0,
    ) -> None:
        self._context = context
        self._abandoned_threads = abandoned_threads
        self._heartbeat = heartbeat
        self._retention = retention
        self._on_rescued = on_rescued
        #: Set by stop() only after running jobs are done: heartbeats go on until then,
        #: so a graceful stop longer than the lease does not get its own jobs rescued.
        self.stopped = threading.Event()
        self._last_beat = time.monotonic()
        self._quiet_until = 0.0

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
            ),
        )

    def run(self) -> None:
        interval = self._heartbeat.every.total_seconds()
        while not self._context.clock.wait(self.stopped, interval):
            self.tick()

    def tick(self) -> list[Job]:
        """One heartbeat: refresh our row, rescue dead owners' jobs, prune old rows."""
        context = self._context
        lease = self._heartbeat.lease.total_seconds()
        # One `now` for our heartbeat and the sweep's cutoff: if the heartbeat
        # write waited (a lock, a reconnect), our own row must still look alive.
        now = context.clock.now()
        started = time.monotonic()
        abandoned = self._abandoned_threads()
        alive = context.with_db_retry(
            "heartbeat_worker",
            lambda: context.adapter.heartbeat_worker(
                context.owner, now=now, abandoned_threads=abandoned
            ),
        )
        if not alive:
            # Another process thought we were dead and swept our row (a long pause,
            # a clock jump): come back. Our rescued jobs' late outcomes are fenced out.
            self.register()
        if started - self._last_beat > lease:
            # We could not heartbeat for a whole lease (the database was down):
            # neither could the others. Give them a lease to heartbeat again
            # before taking their jobs for dead ones.
            self._quiet_until = time.monotonic() + lease
        self._last_beat = time.monotonic()
        if time.monotonic() < self._quiet_until:
            return []
        rescued = context.with_db_retry(
            "rescue_jobs", lambda: context.adapter.rescue_jobs(now=now, lease_seconds=lease)
        )
        for job in rescued:
            context.emit(JobRescued(job_id=job.id, name=job.name, attempts=job.attempts))
        if rescued:
            self._on_rescued(rescued)
        self.prune()
        return rescued

    def prune(self) -> int:
        """Delete finished rows older than the retention, in small batches."""
        removed = 0
        for state, keep in (
            ("succeeded", self._retention.succeeded),
            ("failed", self._retention.failed),
        ):
            if keep is not None:
                removed += self._prune_table(state, keep)  # type: ignore[arg-type]
        return removed

    def _prune_table(self, state: Literal["succeeded", "failed"], keep: timedelta) -> int:
        context = self._context
        removed = 0
        deadline = time.monotonic() + PRUNE_SECONDS_PER_SWEEP
        while time.monotonic() < deadline:
            count = context.with_db_retry(
                "prune_finished", partial(self._prune_batch, state, context.clock.now() - keep)
            )
            removed += count
            if count < PRUNE_BATCH:
                break
        return removed

    def _prune_batch(self, state: Literal["succeeded", "failed"], older_than: datetime) -> int:
        return self._context.adapter.prune_finished(
            state, older_than=older_than, batch_size=PRUNE_BATCH
        )
