"""When this process may take other processes' jobs for dead ones: a pure rule over times.

A process is judged dead when its heartbeat is older than the lease. That
judgement is only fair if the judge could reach the database the whole
time: an outage that kept this process from beating kept the others from
beating too, and once the database is back they may still be reconnecting.
So a process rescues only after it has beaten steadily for a full lease:
since it started, since any database call of its own failed, and since any
gap between its own heartbeats longer than its interval plus half a lease.
Every live process then gets a full lease to beat again before anyone
rescues its jobs.

Times are monotonic seconds passed in by the caller, so tests drive the
rule without sleeping.
"""

from __future__ import annotations


class RescueGate:
    """Says whether a rescue sweep may run now; fed with heartbeats and database errors."""

    def __init__(self, *, every: float, lease: float, started_at: float) -> None:
        if not 0 < every < lease:
            raise ValueError(f"need 0 < every < lease (got every={every}, lease={lease})")
        self._lease = lease
        #: A longer silence of our own means others may have been silenced too.
        self._max_gap = every + lease / 2
        self._last_beat = started_at
        # A process that just started does not know what happened before: it
        # may be the replacement started right after an outage.
        self._steady_since = started_at

    def trouble(self, at: float) -> None:
        """A database call failed or stalled at `at`: the lease starts over."""
        self._steady_since = max(self._steady_since, at)

    def beat(self, at: float) -> None:
        """A heartbeat succeeded at `at`."""
        if at - self._last_beat > self._max_gap:
            self.trouble(at)
        self._last_beat = at

    def may_rescue(self, at: float) -> bool:
        """True once a full lease has passed without trouble."""
        return at - self._steady_since >= self._lease
