"""Prometheus metrics: job outcome counters and timings from events, queue depths from the database.

    import bgjobs.metrics
    builder = bgjobs.new(adapter).with_event_listener(bgjobs.metrics.listener)
    bgjobs.metrics.register_database_gauges(adapter)   # waiting/running per queue

`listener` feeds counters and histograms in prometheus_client's default
registry, labelled by queue and job name; `register_database_gauges` adds a
collector that reads live counts from the database at scrape time, cached for
a few seconds so several scrapers cost one query. `bgjobs worker
--metrics-port` and the dashboard's /metrics serve them. Needs the `metrics`
extra (prometheus_client).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bgjobs.clock import SYSTEM_CLOCK
from bgjobs.errors import DatabaseError
from bgjobs.events import (
    Event,
    JobFailed,
    JobReleased,
    JobReserved,
    JobRetried,
    JobStarted,
    JobSucceeded,
)

__all__ = ["DatabaseGauges", "MetricsListener", "listener", "register_database_gauges"]

log = logging.getLogger("bgjobs")

#: Run times and start delays span milliseconds to hours.
TIME_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, float("inf"),
)  # fmt: skip
#: Label value for a job whose queue this process never saw claim it.
UNKNOWN_QUEUE: Final = ""
#: How many running jobs the listener remembers (queue and start time) at most.
MAX_TRACKED_JOBS: Final = 100_000
#: What the listener knows of a run it did not see claimed: no queue, no start time.
UNSEEN: Final[tuple[str, float | None]] = (UNKNOWN_QUEUE, None)


class MetricsListener:
    """An event listener that counts outcomes and times runs, per queue and job name."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        labels = ["queue", "name"]

        def counter(what: str, text: str) -> Counter:
            return Counter(f"bgjobs_jobs_{what}", text, labels, registry=registry)

        self.succeeded = counter("succeeded", "Jobs that succeeded.")
        self.failed = counter("failed", "Jobs that failed for good (moved to jobs_failed).")
        self.retried = counter("retried", "Failed runs that will be retried.")
        self.cancelled = counter("cancelled", "Jobs cancelled by an operator.")
        self.timed_out = counter("timed_out", "Runs that outlived their timeout.")
        self.run_seconds = Histogram(
            "bgjobs_job_run_seconds",
            "How long a handler ran, per run (success, retry or failure).",
            labels,
            buckets=TIME_BUCKETS,
            registry=registry,
        )
        self.start_delay_seconds = Histogram(
            "bgjobs_job_start_delay_seconds",
            "From enqueue to the first start of a job.",
            labels,
            buckets=TIME_BUCKETS,
            registry=registry,
        )
        self._lock = threading.Lock()
        # job id -> {attempt: (queue, monotonic start or None)}: events after the claim carry
        # no queue. By attempt, because events arrive out of step: a retried run's JobRetried
        # is emitted when its outcome commits, which may be after the next attempt's
        # JobReserved; keyed by id alone, it would forget the new run's queue.
        self._running: OrderedDict[str, dict[int, tuple[str, float | None]]] = OrderedDict()
        # By class name, so events added to bgjobs later need no import here.
        self._handlers: dict[str, Callable[[Any], None]] = {
            "JobReserved": self._reserved,
            "JobStarted": self._started,
            "JobSucceeded": self._succeeded,
            "JobRetried": self._retried,
            "JobFailed": self._failed,
            "JobReleased": self._released,
            "JobCancelled": self._cancelled,
            "JobTimedOut": self._timed_out,
        }

    def __call__(self, event: Event) -> None:
        handler = self._handlers.get(type(event).__name__)
        if handler is not None:
            handler(event)

    def _reserved(self, event: JobReserved) -> None:
        with self._lock:
            self._running.setdefault(event.job_id, {})[event.attempts] = (event.queue, None)
            self._running.move_to_end(event.job_id)
            while len(self._running) > MAX_TRACKED_JOBS:  # outcomes this process never saw
                self._running.popitem(last=False)

    def _started(self, event: JobStarted) -> None:
        with self._lock:
            runs = self._running.setdefault(event.job_id, {})
            queue, _ = runs.get(event.attempts, UNSEEN)
            runs[event.attempts] = (queue, time.monotonic())  # timed even if its claim was unseen
            while len(self._running) > MAX_TRACKED_JOBS:
                self._running.popitem(last=False)
        enqueued = enqueued_at(event.job_id)
        if event.attempts == 1 and enqueued is not None:
            delay = max(0.0, time.time() - enqueued)
            self.start_delay_seconds.labels(queue, event.name).observe(delay)

    def _succeeded(self, event: JobSucceeded) -> None:
        queue, _ = self._forget(event.job_id, event.attempts)
        self.succeeded.labels(queue, event.name).inc()
        self.run_seconds.labels(queue, event.name).observe(event.duration_seconds)

    def _retried(self, event: JobRetried) -> None:
        queue, started = self._forget(event.job_id, event.attempts)
        self.retried.labels(queue, event.name).inc()
        self._observe_run(queue, event.name, started)

    def _failed(self, event: JobFailed) -> None:
        queue, started = self._forget(event.job_id, event.attempts)
        self.failed.labels(queue, event.name).inc()
        self._observe_run(queue, event.name, started)

    def _released(self, event: JobReleased) -> None:
        with self._lock:  # given back unstarted (no attempt charged): every run of it ends
            self._running.pop(event.job_id, None)

    def _cancelled(self, event: Any) -> None:
        queue, started = self._forget(event.job_id, event.attempts)
        self.cancelled.labels(queue, event.name).inc()
        if event.while_running:  # a run that ended as a failure (Cancelled): timed like one
            self._observe_run(queue, event.name, started)

    def _timed_out(self, event: Any) -> None:
        with self._lock:
            runs = self._running.get(event.job_id)
            queue, _ = runs.get(event.attempts, UNSEEN) if runs else UNSEEN
        self.timed_out.labels(queue, event.name).inc()

    def _forget(self, job_id: str, attempts: int) -> tuple[str, float | None]:
        with self._lock:
            runs = self._running.get(job_id)
            if runs is None:
                return UNSEEN
            found = runs.pop(attempts, UNSEEN)
            if not runs:
                del self._running[job_id]
            return found

    def _observe_run(self, queue: str, name: str, started: float | None) -> None:
        if started is not None:
            self.run_seconds.labels(queue, name).observe(time.monotonic() - started)


def enqueued_at(job_id: str) -> float | None:
    """When a job was enqueued (Unix seconds), read from its UUIDv7 id; None for other ids.

    bgjobs makes job ids at enqueue time as UUIDv7, whose first 48 bits are
    the Unix time in milliseconds: the delay needs no extra column or event field.
    """
    digits = job_id.replace("-", "")
    if len(digits) != 32 or digits[12] != "7":
        return None
    try:
        return int(digits[:12], 16) / 1000.0
    except ValueError:
        return None


class DatabaseGauges(Collector):
    """Waiting, due and running jobs per queue, read from the database when scraped.

    The answer is cached for `cache_seconds`, so frequent or parallel scrapes
    cost one grouped query over the live jobs table per period. Every queue a
    runtime registered (the jobs_queues table) has its three samples, 0 when
    it holds no live job: a drained queue reads 0 instead of vanishing from
    the scrape.
    """

    def __init__(self, adapter: object, *, cache_seconds: float = 5.0) -> None:
        from bgjobs.dashboard.reader import reader_for  # no web dependency: a plain module

        self._adapter: Any = adapter  # a SqliteAdapter or PostgresAdapter (reader_for checks)
        self._reader = reader_for(adapter)
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[dict[str, Any]]] | None = None
        self._failing = False

    def describe(self) -> Iterable[Metric]:
        """The gauges without values: registering must not read a database not yet migrated."""
        return self._families().values()

    def collect(self) -> Iterable[Metric]:
        families = self._families()
        try:
            rows = self._rows()
        except DatabaseError as exc:
            # Not migrated yet, or the server is away: this scrape goes without the gauges
            # (a gap, not a false 0) and still carries the process's counters. Said once
            # per run of failures, not at every scrape.
            log.log(
                logging.DEBUG if self._failing else logging.WARNING,
                "queue gauges left out of the metrics: %s",
                exc,
            )
            self._failing = True
            return
        self._failing = False
        for row in rows:
            queue = row["queue"] or UNKNOWN_QUEUE
            for column, family in families.items():
                family.add_metric([queue], float(row.get(column) or 0))
        yield from families.values()

    @staticmethod
    def _families() -> dict[str, GaugeMetricFamily]:
        return {
            "waiting": GaugeMetricFamily(
                "bgjobs_jobs_waiting", "Jobs waiting (due or not) per queue.", labels=["queue"]
            ),
            "due": GaugeMetricFamily(
                "bgjobs_jobs_due", "Waiting jobs that are due now, per queue.", labels=["queue"]
            ),
            "running": GaugeMetricFamily(
                "bgjobs_jobs_running", "Jobs reserved by a worker, per queue.", labels=["queue"]
            ),
        }

    def _rows(self) -> list[dict[str, Any]]:
        with self._lock:
            if (
                self._cached is not None
                and time.monotonic() - self._cached[0] < self._cache_seconds
            ):
                return self._cached[1]
            now = self._reader.bind_time(SYSTEM_CLOCK.now())
            rows = self._reader.named("queue_counts", {"now": now})
            seen = {row["queue"] for row in rows}
            registered = [queue.name for queue in self._adapter.list_queues()]
            rows += [{"queue": name} for name in registered if name not in seen]
            self._cached = (time.monotonic(), rows)
            return rows


def register_database_gauges(
    adapter: object, *, registry: CollectorRegistry = REGISTRY, cache_seconds: float = 5.0
) -> DatabaseGauges:
    """Add the queue-depth gauges of `adapter`'s database to `registry`; returns the collector."""
    collector = DatabaseGauges(adapter, cache_seconds=cache_seconds)
    registry.register(collector)
    return collector


#: The listener to attach: `builder.with_event_listener(bgjobs.metrics.listener)`.
listener: Final = MetricsListener()
