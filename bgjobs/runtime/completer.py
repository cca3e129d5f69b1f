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
from bgjobs.errors import DatabaseError
from bgjobs.runtime.context import RuntimeContext

#: Called exactly once per outcome: after the batch holding it committed, True if
#: applied, False if the lease was lost (the job was rescued and someone else owns it
#: now); also False when the outcome could not be recorded at all (the runtime had
#: stopped, the database stayed down): then the job stays reserved and is rescued.
Callback = Callable[[bool], None]

MAX_BATCH = 500

#: The completer waits up to GATHER_SECONDS for this many outcomes before committing.
GATHER_AT_LEAST = 16
GATHER_SECONDS = 0.002

logger = logging.getLogger("bgjobs")


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
        self._applying: list[_Pending] = []  # the batch being committed now
        self._closed = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="bgjobs-completer", daemon=True)
        self._thread.start()

    def submit(self, outcome: Outcome, callback: Callback) -> None:
        with self._condition:
            if self._closed:
                # A handler that outlived stop(timeout): its job is rescued and run again.
                logger.warning(
                    "job %s finished after the runtime stopped; its outcome is not recorded",
                    outcome.lease.job_id,
                )
            else:
                self._pending.append(_Pending(outcome, callback))
                self._condition.notify_all()
                return
        _call(callback, False)

    def commit(self, outcome: Outcome) -> bool:
        """Submit `outcome` and wait until it is committed; True if it was applied."""
        done = threading.Event()
        result: list[bool] = []

        def committed(applied: bool) -> None:
            result.append(applied)
            done.set()

        self.submit(outcome, committed)
        done.wait()
        return result[0]

    def commit_now(self, outcome: Outcome) -> bool:
        """Apply `outcome` on the calling thread (drain(): no completer thread runs)."""
        result: list[bool] = []
        self._apply([_Pending(outcome, result.append)])
        return bool(result and result[0])

    def held_job_ids(self) -> set[str]:
        """Ids of the jobs whose outcome waits here or is being committed."""
        with self._condition:
            return {item.outcome.lease.job_id for item in (*self._pending, *self._applying)}

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

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._pending or self._closed)
                if not self._pending and self._closed:
                    return
                if len(self._pending) < GATHER_AT_LEAST and not self._closed:
                    # Busy queues finish jobs every few hundred microseconds: a
                    # moment's wait makes one commit carry several of them.
                    self._condition.wait_for(
                        lambda: len(self._pending) >= GATHER_AT_LEAST or self._closed,
                        timeout=GATHER_SECONDS,
                    )
                batch = self._take_batch()
                self._in_flight = len(batch)
                self._applying = batch
            try:
                self._apply(batch)
            except BaseException:  # this thread must outlive any bad outcome
                logger.exception("the completer failed on a batch of %d outcomes", len(batch))
            finally:
                with self._condition:
                    self._in_flight = 0
                    self._applying = []
                    self._condition.notify_all()

    def _take_batch(self) -> list[_Pending]:
        """Up to MAX_BATCH pending outcomes, each job at most once (finish_jobs requires it:
        a process can hold an outcome of a job's old attempt and of its new one)."""
        batch: list[_Pending] = []
        later: list[_Pending] = []
        seen: set[str] = set()
        while self._pending and len(batch) < MAX_BATCH:
            item = self._pending.popleft()
            job_id = item.outcome.lease.job_id
            (later if job_id in seen else batch).append(item)
            seen.add(job_id)
        self._pending.extendleft(reversed(later))
        return batch

    def _apply(self, batch: list[_Pending]) -> None:
        outcomes = [item.outcome for item in batch]
        context = self._context
        try:
            # A database that is down is retried until it is back: outcomes are
            # never dropped, since a dropped success would run the job again.
            results = context.with_db_retry(
                "finish_jobs",
                lambda: context.adapter.finish_jobs(outcomes, now=context.clock.now()),
            )
        except DatabaseError:
            logger.error(
                "stopping with the database unreachable: %d outcomes not recorded; "
                "those jobs run again once rescued",
                len(batch),
            )
            for item in batch:
                _call(item.callback, False)
            return
        except Exception:
            if len(batch) > 1:  # find the one bad outcome; record the others
                for item in batch:
                    self._apply([item])
                return
            logger.exception(
                "could not record the outcome of job %s; it stays reserved until this "
                "process stops, then runs again",
                batch[0].outcome.lease.job_id,
            )
            _call(batch[0].callback, False)
            return
        for item, applied in zip(batch, results, strict=True):
            _call(item.callback, applied)


def _call(callback: Callback, applied: bool) -> None:
    try:
        callback(applied)
    except Exception:  # a callback only emits events; it must not stop the batch
        logger.exception("completion callback failed")
