"""The runtime's event loop: one thread that runs every async handler of a runtime.

A handler thread hands a coroutine over and blocks until it is done, so async
jobs take the queue's slots exactly as sync ones do. Cancelling (a timeout, a
cancel request) cancels the task; the handler thread is released when the
task has really ended, not when it was asked to.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any


class AsyncRun:
    """One coroutine running on the loop: `result()` blocks until it ends, `cancel()` asks it to."""

    def __init__(self, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> None:
        self._loop = loop
        self._coro = coro
        self._done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._task: asyncio.Task[Any] | None = None
        self._cancelled = False
        loop.call_soon_threadsafe(self._create)

    def result(self) -> Any:
        return self._done.result()

    def cancel(self) -> None:
        # RuntimeError: the loop has stopped, and the run ended with it.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._cancel_on_loop)

    # -- on the loop thread --------------------------------------------------------
    def _create(self) -> None:
        if self._cancelled:
            self._coro.close()
            self._done.set_exception(asyncio.CancelledError())
            return
        self._task = self._loop.create_task(self._coro)
        self._task.add_done_callback(self._finish)

    def _cancel_on_loop(self) -> None:
        self._cancelled = True
        if self._task is not None:
            self._task.cancel()

    def _finish(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            self._done.set_exception(asyncio.CancelledError())
            return
        error = task.exception()
        if error is not None:
            self._done.set_exception(error)
        else:
            self._done.set_result(task.result())


#: Called on the loop thread when a spawned coroutine ends: (value, None) or (None, error).
Finished = Callable[[Any, BaseException | None], None]


@dataclass(frozen=True, slots=True)
class Spawn:
    """A coroutine to start on the loop without anyone waiting for it."""

    make: Callable[[], object]  # called on the loop thread: the handler call itself
    finished: Finished
    started: Callable[[asyncio.Task[Any]], None]  # gets the task, so it can be cancelled


class AsyncLoop:
    """An asyncio loop on a daemon thread, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coro: Coroutine[Any, Any, Any]) -> AsyncRun:
        return AsyncRun(self._started(), coro)

    def spawn(self, items: list[Spawn]) -> None:
        """Start every item's coroutine, waking the loop once for the whole batch."""
        loop = self._started()
        loop.call_soon_threadsafe(_start_all, loop, items)

    def call_soon(self, callback: Callable[[], object]) -> None:
        """Run `callback` on the loop thread (to cancel a task from another thread)."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # stopped: the task ended with it
                loop.call_soon_threadsafe(callback)

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="bgjobs-event-loop", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def close(self, timeout: float = 1.0) -> None:
        """Stop the loop; tasks still running are left to end with the process."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)


def _start_all(loop: asyncio.AbstractEventLoop, items: list[Spawn]) -> None:
    for item in items:
        try:
            awaitable = item.make()
            if not inspect.isawaitable(awaitable):
                raise TypeError(f"an async handler returned {awaitable!r}, not an awaitable")
        except BaseException as exc:  # the handler call itself raised
            item.finished(None, exc)
            continue
        coro = awaitable if asyncio.iscoroutine(awaitable) else _awaited(awaitable)
        task = loop.create_task(coro)
        task.add_done_callback(functools.partial(_report, item.finished))
        item.started(task)


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _report(finished: Finished, task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        finished(None, asyncio.CancelledError())
        return
    finished(task.result() if task.exception() is None else None, task.exception())
