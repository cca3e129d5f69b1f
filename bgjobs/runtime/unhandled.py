"""Waiting jobs that no registered process handles: a misspelt name where jobs are enqueued.

Producers (a web process using the adapter) do not check job names, so a job
named `sned_email` waits forever. Every process records the queues and job
names it runs in jobs_workers; comparing those with the waiting jobs finds
the ones nobody will ever claim. Pure: the caller reads the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bgjobs.db.adapter import WaitingGroup, WorkerRow


@dataclass(frozen=True, slots=True)
class UnhandledJobs:
    """`count` waiting jobs named `name` (for `queue`, or any queue when None) nobody runs."""

    name: str
    queue: str | None
    count: int

    def describe(self) -> str:
        jobs = "job" if self.count == 1 else "jobs"
        where = f" for queue {self.queue!r}" if self.queue is not None else ""
        return f"{self.count} waiting {jobs} named {self.name!r}{where}"


def find_unhandled(
    groups: Iterable[WaitingGroup], workers: Sequence[WorkerRow]
) -> list[UnhandledJobs]:
    """The groups no worker row handles, by name then queue.

    A group is handled by a process that runs its job name, in the group's
    queue when the jobs name one. Nothing is reported when there is no worker
    row at all (nobody runs, which is not a naming mistake) or when a row does
    not say what it handles (written by an older bgjobs: it may handle anything).
    """
    if not workers or any(w.job_names is None or w.queues is None for w in workers):
        return []
    found = [
        UnhandledJobs(group.name, group.queue, group.count)
        for group in groups
        if not any(_handles(worker, group) for worker in workers)
    ]
    return sorted(found, key=lambda item: (item.name, item.queue or ""))


def _handles(worker: WorkerRow, group: WaitingGroup) -> bool:
    assert worker.job_names is not None and worker.queues is not None
    if group.name not in worker.job_names:
        return False
    # A scheduled job's row names no queue; a plain job naming a queue needs that queue.
    return group.queue is None or group.queue in worker.queues
