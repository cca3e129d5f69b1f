"""The one place that reads the real time. Everything else takes a Clock.

A clock answers two questions: what time it is (`now()`, an aware UTC
datetime, compared with the times stored in the database) and how long
something took or should wait (`monotonic()` seconds, `wait()`, `sleep()`).
The runtime's loops take all their waiting from it, so a test can step them
with a FakeClock instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

#: How often a FakeClock wait looks at the real event while fake time stands still.
_FAKE_WAIT_STEP = 0.005


@runtime_checkable
class Clock(Protocol):
    """A source of aware UTC datetimes, monotonic seconds and waiting."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float:
        """Seconds that never go backwards; only differences mean anything."""
        ...

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Wait until `event` is set (True) or `timeout` seconds of this clock pass (False)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Let `seconds` of this clock pass."""
        ...


class SystemClock:
    """The real wall clock, in UTC, and the real monotonic clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        if timeout is not None and timeout <= 0:
            return event.is_set()
        return event.wait(timeout)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that only moves when told to: for tests and `drain()`.

    `monotonic()` moves with `advance()` and `set()`; a `wait()` ends when its
    event is set or when fake time passes its deadline, never because real
    time passed. Thread-safe, so a test may advance it while runtime threads
    wait on it.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2030, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware start time (got a naive datetime)")
        self._now = start.astimezone(UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        deadline = None if timeout is None else self.monotonic() + max(timeout, 0.0)
        while True:
            if event.is_set():
                return True
            if deadline is not None and self.monotonic() >= deadline:
                return False
            event.wait(_FAKE_WAIT_STEP)

    def sleep(self, seconds: float) -> None:
        self.wait(threading.Event(), seconds)

    def advance(self, by: timedelta) -> datetime:
        """Move the clock forward by `by` and return the new time."""
        if by < timedelta(0):
            raise ValueError(f"a clock only moves forward (got {by})")
        with self._lock:
            self._now += by
            self._elapsed += by.total_seconds()
            return self._now

    def set(self, to: datetime) -> None:
        """Move the clock to `to` (aware, not earlier than now)."""
        if to.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware datetime")
        with self._lock:
            if to < self._now:
                raise ValueError(f"a clock only moves forward ({to} is before {self._now})")
            self._elapsed += (to - self._now).total_seconds()
            self._now = to.astimezone(UTC)

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"


class _NowOnlyClock:
    """A user's clock that offers only now(): waiting and durations use the real clock."""

    def __init__(self, clock: object) -> None:
        self._clock = clock

    def now(self) -> datetime:
        value: datetime = self._clock.now()  # type: ignore[attr-defined]
        return value

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        return SYSTEM_CLOCK.wait(event, timeout)

    def sleep(self, seconds: float) -> None:
        SYSTEM_CLOCK.sleep(seconds)

    def __repr__(self) -> str:
        return repr(self._clock)


def complete_clock(clock: object) -> Clock:
    """`clock` itself if it offers everything a Clock does, else it wrapped with real waiting."""
    if all(callable(getattr(clock, name, None)) for name in ("monotonic", "wait", "sleep")):
        return clock  # type: ignore[return-value]
    return _NowOnlyClock(clock)


SYSTEM_CLOCK = SystemClock()


class CorrectedClock(SystemClock):
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
