"""SchedulePolicy: what the runtime needs from a schedule, so users can plug in their own."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


@runtime_checkable
class SchedulePolicy(Protocol):
    """Anything that can say when it fires next and print itself stably.

    `Schedule`, `Interval` and `RRule` implement it; so can a user's class
    (business days from a holiday calendar, say). `__str__` must be stable:
    the runtime stores it to recognise the same schedule across restarts.

    Optional, and so not part of the Protocol: `prev_before(t)` (the last
    fire strictly before `t`, or None) and `iter_before(t)` (newest first).
    The three built-in schedules offer both; `bgjobs next-runs --before`
    needs them.
    """

    def next_after(self, t: datetime) -> datetime | None:
        """The earliest fire instant strictly after the aware datetime `t`, or None if none."""
        ...

    def __str__(self) -> str:
        """A stable text form of the schedule."""
        ...
