"""What every runtime thread shares: the adapter, the clock, the owner id and the listeners."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from bgjobs.clock import Clock
from bgjobs.db.adapter import Adapter
from bgjobs.errors import DatabaseError, SchemaError
from bgjobs.events import DbErrored, Event, Listener, emit

T = TypeVar("T")

#: jobs_failed.traceback holds at most this many bytes (SPEC 3.2).
MAX_TRACEBACK_BYTES = 64 * 1024

#: How long to wait before retrying a database call that failed, doubling up to the cap.
DB_RETRY_FIRST = 0.05
DB_RETRY_CAP = 2.0


@dataclass(slots=True)
class RuntimeContext:
    """Shared, long-lived state of one BgJobs runtime in one process."""

    adapter: Adapter
    clock: Clock
    owner: str  # this process start's jobs_workers.id
    listeners: tuple[Listener, ...]
    stopping: threading.Event = field(default_factory=threading.Event)
    retry_db: bool = False  # turned on once build() has set up: then outages are waited out
    #: The clock's monotonic time of the last failed database call (None: none yet);
    #: the monitor holds off rescues for a lease after it (see runtime/rescue_gate.py).
    db_failed_at: float | None = None

    def emit(self, event: Event, extra: tuple[Listener, ...] = ()) -> None:
        emit(self.listeners + extra if extra else self.listeners, event)

    def with_db_retry(
        self,
        operation: str,
        call: Callable[[], T],
        *,
        report_first_only: bool = False,
        max_delay: float = DB_RETRY_CAP,
    ) -> T:
        """Run a database call, retrying DatabaseError with backoff until it works or we stop.

        A database that is restarting or briefly unreachable must not kill a
        runtime thread; every failed attempt is reported as DbErrored (only
        the first of a run of failures with `report_first_only`, for calls
        that retry every second or two through a whole outage). The pause
        between attempts doubles up to `max_delay` seconds. A
        SchemaError is no outage (the tables are missing or foreign) and is
        raised at once, and so is everything while `retry_db` is off (during
        build(), which must fail fast rather than hang).
        """
        delay = DB_RETRY_FIRST
        failures = 0
        while True:
            try:
                return call()
            except SchemaError:
                raise
            except DatabaseError as exc:
                self.db_failed_at = self.clock.monotonic()
                failures += 1
                if failures == 1 or not report_first_only:
                    self.emit(DbErrored(operation=operation, error=describe_exception(exc)))
                if not self.retry_db or self.stopping.wait(delay):
                    raise
                delay = min(delay * 2, max_delay)


def describe_exception(exc: BaseException) -> str:
    """ "Type: message", as jobs_failed.exception and last_error store it.

    Safe for any exception: a __str__ that raises, NUL characters (PostgreSQL
    text cannot hold them) and lone surrogates (not encodable) are all tamed,
    because a failure here would leave the job reserved by a live process.
    """
    name = type(exc).__name__
    try:
        message = str(exc)
    except Exception:
        message = f"<{name}.__str__ raised>"
    text = f"{name}: {message}" if message else name
    return clean_text(text)


def format_traceback(exc: BaseException) -> str:
    """The traceback without local variables, cut to MAX_TRACEBACK_BYTES (keeping the end)."""
    try:
        text = clean_text("".join(traceback.format_exception(exc)))
    except Exception:
        return describe_exception(exc)
    encoded = text.encode("utf-8")
    if len(encoded) <= MAX_TRACEBACK_BYTES:
        return text
    marker = "... (traceback truncated)\n"
    keep = MAX_TRACEBACK_BYTES - len(marker.encode())
    return marker + encoded[-keep:].decode("utf-8", errors="ignore")


def clean_text(text: str) -> str:
    """Text any database column accepts: no NUL, valid UTF-8."""
    return text.replace("\x00", "\\x00").encode("utf-8", errors="backslashreplace").decode("utf-8")


def seconds(value: float | timedelta) -> float:
    """A timeout given as seconds or a timedelta, as seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def monotonic() -> float:
    return time.monotonic()
