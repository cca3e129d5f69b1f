"""The batched completer: outcomes of many jobs commit together in one transaction.

Handler threads hand their outcome over and go back to work; this thread
takes everything that has piled up and applies it with one `finish_jobs`
call. Under load that turns N commits into one, which is where most of the
throughput comes from (River's batched completer is the model).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bgjobs.db.adapter import Outcome
from bgjobs.runtime.context import RuntimeContext

#: Called after the batch holding the outcome committed: True if applied, False if the
#: lease was lost (the job was rescued and someone else owns it now).
Callback = Callable[[bool], None]

MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class _Pending:
    outcome: Outcome
    callback: Callback


class Completer:
    """Applies outcomes in batches on its own thread; never drops one."""

    def __init__(self, context: RuntimeContext) -> None:
        self._context = context
        self._pending: deque[_Pending] = deque()
        self._condition = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bgjobs-completer", daemon=True)
        self._thread.start()

    def submit(self, outcome: Outcome, callback: Callback) -> None:
        with self._condition:
            self._pending.append(_Pending(outcome, callback))
            self._condition.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted outcome is committed; False on timeout."""
        with self._condition:
            return self._condition.wait_for(
                lambda: not self._pending and not self._in_flight, timeout=timeout
            )

    def close(self, timeout: float) -> bool:
        """Flush, then end the thread. Returns False if outcomes were still pending."""
        flushed = self.flush(timeout)
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        return flushed

    def apply_now(self, batch: list[_Pending]) -> None:
        """Apply a batch on the calling thread (used by drain())."""
        self._apply(batch)

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._closed)
                if not self._pending and self._closed:
                    return
                batch = [self._pending.popleft() for _ in range(min(MAX_BATCH, len(self._pending)))]
                self._in_flight = len(batch)
            try:
                self._apply(batch)
            finally:
                with self._condition:
                    self._in_flight = 0
                    self._condition.notify_all()

    def _apply(self, batch: list[_Pending]) -> None:
        outcomes = [item.outcome for item in batch]
        context = self._context
        # A database that is down is retried until it is back: outcomes are
        # never dropped, since a dropped success would run the job again.
        results = context.with_db_retry(
            "finish_jobs",
            lambda: context.adapter.finish_jobs(outcomes, now=context.clock.now()),
        )
        for item, applied in zip(batch, results, strict=True):
            try:
                item.callback(applied)
            except Exception:  # a callback only emits events; it must not stop the batch
                logging.getLogger("bgjobs").exception("completion callback failed")
