"""The canceller: notices cancel requests for the jobs this process is running.

`cancel()` of a running job only sets its cancel_requested column, from any
process on any host. Every POLL_SECONDS, while this process runs jobs, one
small query on the reserved_by index asks which of ours have it set; the
executor then stops those runs (stop_requested with reason "cancelled", an
async handler cancelled) and fails them as Cancelled.
"""

from __future__ import annotations

from bgjobs.runtime.context import RuntimeContext
from bgjobs.runtime.executor import Executor

#: How often running jobs are checked for cancel requests: well inside the one
#: second within which a cancel must reach its job.
POLL_SECONDS = 0.4


class Canceller:
    """A service: polls for cancel requests while this process has jobs running."""

    name = "canceller"

    def __init__(self, context: RuntimeContext, executor: Executor) -> None:
        self._context = context
        self._executor = executor

    def run(self) -> None:
        context = self._context
        while not context.clock.wait(context.stopping, POLL_SECONDS):
            self.tick()

    def tick(self) -> list[str]:
        """One look; returns the ids of our jobs whose cancel was requested."""
        if not self._executor.running_ids:
            # Nothing runs: no query. The requests noted last time stay, for the jobs
            # claimed ahead that are still to start (they are refused when they do).
            return []
        context = self._context
        requested = context.with_db_retry(
            "cancel_requests", lambda: context.adapter.cancel_requests(context.owner)
        )
        self._executor.note_cancel_requests(requested)
        return requested
