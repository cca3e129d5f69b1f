"""The monitor: this process's heartbeat, the rescue sweep, and retention pruning."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Literal

from bgjobs.events import JobRescued
from bgjobs.jobs import Job
from bgjobs.runtime.context import RuntimeContext

#: Rows deleted per retention statement: small, so pruning never holds the writer long.
PRUNE_BATCH = 500
#: At most this many batches per sweep; the rest waits for the next heartbeat.
PRUNE_BATCHES_PER_SWEEP = 20


@dataclass(frozen=True, slots=True)
class HeartbeatSettings:
    every: timedelta = timedelta(seconds=5)
    lease: timedelta = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    succeeded: timedelta | None = timedelta(days=7)
    failed: timedelta | None = None


class Monitor:
    """Keeps this process's jobs_workers row alive and rescues the jobs of dead processes."""

    name = "monitor"

    def __init__(
        self,
        context: RuntimeContext,
        heartbeat: HeartbeatSettings,
        retention: RetentionSettings,
        on_rescued: Callable[[list[Job]], None],
    ) -> None:
        self._context = context
        self._heartbeat = heartbeat
        self._retention = retention
        self._on_rescued = on_rescued

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
        while not self._context.stopping.wait(interval):
            self.tick()

    def tick(self) -> list[Job]:
        """One heartbeat: refresh our row, rescue dead owners' jobs, prune old rows."""
        context = self._context
        alive = context.with_db_retry(
            "heartbeat_worker",
            lambda: context.adapter.heartbeat_worker(context.owner, now=context.clock.now()),
        )
        if not alive:
            # Another process thought we were dead and swept our row (a long pause,
            # a clock jump): come back. Our rescued jobs' late outcomes are fenced out.
            self.register()
        rescued = context.with_db_retry(
            "rescue_jobs",
            lambda: context.adapter.rescue_jobs(
                now=context.clock.now(), lease_seconds=self._heartbeat.lease.total_seconds()
            ),
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
        for _ in range(PRUNE_BATCHES_PER_SWEEP):
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
