"""The watchdog thread: wakes at the earliest deadline of the running jobs, and acts on it.

Timeouts, and the grace after a timeout or a cancel, are deadlines of running
jobs. The watchdog keeps no list of its own: it asks `check(now)` to act on
what is due and to name the next deadline, and sleeps until then through the
runtime clock (so a FakeClock's advance() fires deadlines in tests). Only
running jobs have deadlines, so a check looks at no more jobs than the
runtime's slots, and a job that finishes early costs the watchdog nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from bgjobs.clock import Clock

logger = logging.getLogger("bgjobs")

#: Acts on every deadline due at `now` (monotonic seconds); returns the next one, if any.
Check = Callable[[float], float | None]


class Watchdog:
    """One daemon thread, started by the first deadline."""

    def __init__(self, clock: Clock, check: Check) -> None:
        self._clock = clock
        self._check = check
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._next: float | None = None
        #: The earliest deadline poked since the current check began: a run that
        #: registers while the check runs is not in the check's list.
        self._poked: float | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def poke(self, when: float) -> None:
        """A deadline at `when` exists: make sure the thread wakes for it."""
        with self._lock:
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="bgjobs-watchdog", daemon=True
                )
                self._thread.start()
            self._poked = when if self._poked is None else min(self._poked, when)
            if self._next is not None and self._next <= when:
                return  # it wakes earlier than that anyway
            self._next = when
        self._wake.set()

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.clear()
            with self._lock:
                if self._closed:
                    return
                self._poked = None
            now = self._clock.monotonic()
            try:
                upcoming = self._check(now)
            except Exception:  # the watchdog must outlive a bad check
                logger.exception("the watchdog's check failed")
                upcoming = now + 1.0
            with self._lock:
                if self._poked is not None:
                    upcoming = self._poked if upcoming is None else min(upcoming, self._poked)
                self._next = upcoming
            self._clock.wait(self._wake, None if upcoming is None else upcoming - now)
