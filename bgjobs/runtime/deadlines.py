"""Deadlines: call something at a time of the runtime clock, on one shared thread.

Timeouts and the grace after them are deadlines. The thread waits through
the clock, so a FakeClock's advance() fires them in tests without sleeping.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable

from bgjobs.clock import Clock

logger = logging.getLogger("bgjobs")


class Deadlines:
    """Runs callbacks when the clock's monotonic time reaches theirs; started on first use."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._closed = False

    def at(self, when: float, callback: Callable[[], None]) -> None:
        """Call `callback` once the clock's monotonic() reaches `when`."""
        with self._lock:
            if self._closed:
                return
            heapq.heappush(self._heap, (when, next(self._order), callback))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="bgjobs-deadlines", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._heap.clear()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.clear()
            due: list[Callable[[], None]] = []
            with self._lock:
                if self._closed:
                    return
                now = self._clock.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
                wait = self._heap[0][0] - now if self._heap else None
            for callback in due:
                try:
                    callback()
                except Exception:  # one bad callback must not stop the others
                    logger.exception("a deadline callback failed")
            if not due:
                self._clock.wait(self._wake, wait)
