"""The supervisor: runs each service on its own thread and restarts it when it dies.

A service is anything with a `name` and a `run()` loop; it may have a
`recover()` that cleans up after a crash (a queue gives back the jobs it
claimed but never started). More restarts than the tolerance allows within
its window stop the whole runtime: a thread that keeps dying points at a
bug or a broken environment that restarting will not fix.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from bgjobs.events import QueueErrored
from bgjobs.runtime.config import RestartTolerance
from bgjobs.runtime.context import RuntimeContext, describe_exception

__all__ = ["RestartTolerance", "Service", "Supervisor"]


class Service(Protocol):
    name: str

    def run(self) -> None: ...


class Supervisor:
    """Starts services on daemon threads and restarts them within the tolerance."""

    def __init__(
        self,
        context: RuntimeContext,
        tolerance: RestartTolerance,
        give_up: Callable[[str], None],
    ) -> None:
        self._context = context
        self._tolerance = tolerance
        self._give_up = give_up
        self._lock = threading.Lock()
        self._restarts: deque[float] = deque()
        self._threads: dict[str, threading.Thread] = {}

    def start(self, service: Service) -> None:
        thread = threading.Thread(
            target=self._guard, args=(service,), name=f"bgjobs-{service.name}", daemon=True
        )
        # Registered and started under the lock: join() must never see a
        # registered thread that has not started (joining one raises).
        with self._lock:
            self._threads[service.name] = thread
            thread.start()

    def join(self, deadline: float, *, only: Iterable[str] | None = None) -> None:
        """Wait for the service threads (all, or those named) to end, until the deadline."""
        with self._lock:
            threads = [
                thread
                for name, thread in self._threads.items()
                if only is None or name in set(only)
            ]
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    @property
    def restart_count(self) -> int:
        with self._lock:
            return len(self._restarts)

    def _guard(self, service: Service) -> None:
        try:
            service.run()
        except BaseException as error:  # any death of a service thread is the supervisor's
            self._died(service, error)

    def _died(self, service: Service, error: BaseException) -> None:
        context = self._context
        if context.stopping.is_set():
            return
        reason = describe_exception(error)
        context.emit(QueueErrored(queue=service.name, error=reason))
        now = time.monotonic()
        window = self._tolerance.within.total_seconds()
        with self._lock:
            while self._restarts and now - self._restarts[0] > window:
                self._restarts.popleft()
            self._restarts.append(now)
            too_many = len(self._restarts) > self._tolerance.max_restarts
        if too_many:
            self._give_up(
                f"runtime threads died {len(self._restarts)} times within {window:g} s "
                f"(restart tolerance {self._tolerance.max_restarts}); the last was "
                f"{service.name}: {reason}"
            )
            return
        recover = getattr(service, "recover", None)
        if callable(recover):
            try:
                recover()
            except BaseException as recover_error:
                # Recovery failing is one more death of the same service.
                self._died(service, recover_error)
                return
        self.start(service)
