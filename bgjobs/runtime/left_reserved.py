"""Saying what a graceful stop that ran out of time leaves behind, and when it comes back."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from bgjobs.jobs import Job
from bgjobs.runtime.config import HeartbeatSettings

logger = logging.getLogger("bgjobs")


def rescue_after(job: Job, heartbeat: HeartbeatSettings, stopped_at: datetime) -> datetime:
    """The earliest moment another process's sweep may take the job back.

    Once the owner's jobs_workers row is deleted (which stop() does last),
    a sweep releases a reservation older than the lease. So the job comes
    back at the first sweep after max(reserved_at + lease, the stop); sweeps
    come once per heartbeat interval in every live process.
    """
    reserved_at = job.reserved_at or stopped_at
    return max(reserved_at + heartbeat.lease, stopped_at)


def log_left_reserved(
    jobs: Iterable[Job], heartbeat: HeartbeatSettings, *, timeout: float, stopped_at: datetime
) -> int:
    """One WARNING per job still running when the stop timed out; returns how many."""
    count = 0
    every = heartbeat.every.total_seconds()
    for job in jobs:
        count += 1
        after = rescue_after(job, heartbeat, stopped_at)
        lease = heartbeat.lease.total_seconds()
        why = (
            f"claimed + the {lease:g} s lease"
            if after > stopped_at
            else f"it was claimed more than the {lease:g} s lease ago"
        )
        logger.warning(
            "job %s %s still running after the %g s shutdown timeout: left reserved. "
            "A running worker rescues it at its first sweep after %s (%s), so by %g s later "
            "at most; with no worker running, the next one to start does, once it has run "
            "for a lease. Its attempt counts.",
            job.name,
            job.id,
            timeout,
            after.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            why,
            every,
        )
    return count
