"""The one place that reads the real time. Everything else takes a Clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of aware UTC datetimes."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that only moves when told to: for tests and `drain()`.

    Thread-safe, so a test may advance it while runtime threads read it.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2030, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time (got a naive datetime)")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> datetime:
        """Move the clock forward by `by` and return the new time."""
        if by < timedelta(0):
            raise ValueError(f"a clock only moves forward (got {by})")
        with self._lock:
            self._now += by
            return self._now

    def set(self, to: datetime) -> None:
        """Move the clock to `to` (aware, not earlier than now)."""
        if to.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware datetime")
        with self._lock:
            if to < self._now:
                raise ValueError(f"a clock only moves forward ({to} is before {self._now})")
            self._now = to.astimezone(UTC)

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"


SYSTEM_CLOCK = SystemClock()


class CorrectedClock:
    """The wall clock moved by a fixed offset: this host's clock brought to the database's.

    Workers on several hosts compare each other's heartbeat times and claim
    times: a host whose clock ran ahead would take its peers' jobs for dead
    ones, and one behind would start delayed jobs early.
    """

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def __repr__(self) -> str:
        return f"CorrectedClock(offset={self.offset!r})"
