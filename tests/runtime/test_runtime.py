"""The runtime in one process, against both databases: runs, retries, stops, events."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import bgjobs
from bgjobs import FakeClock, Job, JobRequest, Queue, ScheduledJob, Worker
from bgjobs.db.adapter import Adapter
from bgjobs.errors import (
    ConfigurationError,
    ForkedRuntimeError,
    PayloadError,
    RuntimeStopped,
    ScheduleValidationError,
    UnknownJobError,
)
from bgjobs.events import (
    Event,
    JobFailed,
    JobReleased,
    JobRetried,
    JobSucceeded,
    QueueErrored,
)
from bgjobs.runtime.queue_runner import QueueRunner

FAST = timedelta(milliseconds=50)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `condition` until it holds; generous timeouts so a loaded machine still passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Recorder:
    """A listener that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: type[Event]) -> list[Any]:
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]


def quick_queue(name: str = "default", **handlers: Callable[[Job], object]) -> Queue:
    queue = Queue(name).with_poll_interval(FAST).with_retry_backoff(timedelta(0))
    for job_name, handler in handlers.items():
        queue = queue.with_worker(Worker(job_name, handler))
    return queue


def builder_for(adapter: Adapter) -> bgjobs.BgJobsBuilder:
    return bgjobs.new(adapter).with_heartbeat(
        every=timedelta(milliseconds=200), lease=timedelta(seconds=2)
    )


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    yield Recorder()


def test_jobs_run_once_and_land_in_succeeded(adapter: Adapter, recorder: Recorder) -> None:
    seen: list[str] = []
    lock = threading.Lock()

    def handler(job: Job) -> None:
        with lock:
            seen.append(job.id)

    builder = (
        builder_for(adapter)
        .with_queue(quick_queue(work=handler).with_max_concurrent_jobs(4))
        .with_event_listener(recorder)
    )
    with builder.build() as bg:
        jobs = bg.enqueue_many([JobRequest("work", {"n": n}) for n in range(40)])
        wait_until(lambda: len(recorder.of(JobSucceeded)) == 40)
    assert sorted(seen) == sorted(job.id for job in jobs)
    counts = adapter.count_jobs(now=bgjobs.SystemClock().now())
    assert (counts.succeeded, counts.waiting, counts.running, counts.failed) == (40, 0, 0, 0)


def test_retries_then_fails_with_exception_and_traceback(
    adapter: Adapter, recorder: Recorder
) -> None:
    def broken(job: Job) -> None:
        raise ValueError(f"boom on attempt {job.attempts}")

    builder = (
        builder_for(adapter)
        .with_queue(quick_queue(broken=broken).with_max_retries(2))
        .with_event_listener(recorder)
    )
    with builder.build() as bg:
        job = bg.enqueue(JobRequest("broken"))
        wait_until(lambda: len(recorder.of(JobFailed)) == 1)
    retried = recorder.of(JobRetried)
    assert [e.attempts for e in retried] == [1, 2]
    assert retried[0].error == "ValueError: boom on attempt 1"
    failed = adapter.get_job(job.id)
    assert failed is not None and failed.state == "failed"  # type: ignore[union-attr]
    assert failed.attempts == 3
    assert failed.exception == "ValueError: boom on attempt 3"  # type: ignore[union-attr]
    assert "boom on attempt 3" in (failed.traceback or "")  # type: ignore[union-attr]


def test_retry_stores_last_error_then_succeeds(adapter: Adapter) -> None:
    clock = FakeClock()

    def flaky(job: Job) -> None:
        if job.attempts == 1:
            raise ConnectionError("upstream down")

    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(flaky=flaky).with_retry_backoff(timedelta(minutes=1)))
        .build(start=False)
    )
    job = bg.enqueue(JobRequest("flaky"))
    assert bg.drain() == 1
    waiting = adapter.get_job(job.id)
    assert isinstance(waiting, Job)
    assert waiting.last_error == "ConnectionError: upstream down"
    assert waiting.available_at == clock.now() + timedelta(minutes=1)
    assert bg.drain() == 0  # not due yet
    clock.advance(timedelta(minutes=1))
    assert bg.drain() == 1
    done = adapter.get_job(job.id)
    assert done is not None and done.state == "succeeded"  # type: ignore[union-attr]
    assert done.attempts == 2
    bg.stop()


def test_delayed_job_never_runs_early(adapter: Adapter) -> None:
    started: list[float] = []
    builder = builder_for(adapter).with_queue(
        quick_queue(later=lambda job: started.append(time.time()))
    )
    with builder.build() as bg:
        job = bg.enqueue(JobRequest("later").available_in(timedelta(milliseconds=400)))
        wait_until(lambda: bool(started))
    assert started[0] >= job.available_at.timestamp()


def test_queue_routing_and_unknown_names(adapter: Adapter) -> None:
    ran_on: list[str] = []
    builder = (
        builder_for(adapter)
        .with_queue(quick_queue("a", shared=lambda job: ran_on.append("a")))
        .with_queue(quick_queue("b", shared=lambda job: ran_on.append("b")))
        .with_scheduled_job(ScheduledJob(Worker("tick", lambda job: None), "every 1 hour"))
    )
    with builder.build() as bg:
        for _ in range(5):
            bg.enqueue(JobRequest("shared").on_queue("b"))
        wait_until(lambda: len(ran_on) == 5)
        with pytest.raises(UnknownJobError):
            bg.enqueue(JobRequest("nobody"))
        with pytest.raises(UnknownJobError, match="ScheduledJob"):
            bg.enqueue(JobRequest("tick"))
        with pytest.raises(UnknownJobError):
            bg.enqueue(JobRequest("shared").on_queue("c"))
    assert ran_on == ["b"] * 5


def test_priority_then_available_at_order(adapter: Adapter) -> None:
    order: list[int] = []
    clock = FakeClock()
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(p=lambda job: order.append(job.payload)))
        .build(start=False)
    )
    bg.enqueue(JobRequest("p", 1))
    clock.advance(timedelta(seconds=1))
    bg.enqueue(JobRequest("p", 2))
    bg.enqueue(JobRequest("p", 3).with_priority(10))
    bg.enqueue(JobRequest("p", 4).with_priority(-5))
    assert bg.drain() == 4
    assert order == [3, 1, 2, 4]
    bg.stop()


def test_unique_key_inserts_once_while_waiting(adapter: Adapter) -> None:
    clock = FakeClock()
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(u=lambda job: None))
        .build(start=False)
    )
    first = bg.enqueue(JobRequest("u", 1).with_unique_key("report-42"))
    second = bg.enqueue(JobRequest("u", 2).with_unique_key("report-42"))
    assert second.id == first.id and second.payload == 1
    assert adapter.count_jobs(now=clock.now()).waiting == 1
    assert bg.drain() == 1
    third = bg.enqueue(JobRequest("u", 3).with_unique_key("report-42"))
    assert third.id != first.id
    bg.stop()


def test_refused_payload_writes_nothing(adapter: Adapter) -> None:
    bg = builder_for(adapter).with_queue(quick_queue(p=lambda job: None)).build(start=False)
    with pytest.raises(PayloadError):
        bg.enqueue(JobRequest("p", {"when": object()}))
    with pytest.raises(PayloadError):
        bg.enqueue(JobRequest("p", "x" * (bgjobs.MAX_PAYLOAD_BYTES + 1)))
    with pytest.raises(PayloadError):
        bg.enqueue_many([JobRequest("p", 1), JobRequest("p", {1: "int key"})])
    assert adapter.count_jobs(now=bgjobs.SystemClock().now()).waiting == 0
    bg.stop()


def test_drain_with_fake_clock_runs_scheduled_jobs_without_sleeping(adapter: Adapter) -> None:
    clock = FakeClock()
    runs: list[Job] = []
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_scheduled_job(ScheduledJob(Worker("report", runs.append), "every 10 minutes"))
        .build(start=False)
    )
    assert bg.drain() == 0
    clock.advance(timedelta(minutes=10))
    assert bg.drain() == 1
    assert bg.drain() == 0
    clock.advance(timedelta(hours=5))  # downtime: one overdue run, no burst
    assert bg.drain() == 1
    assert bg.drain() == 0
    rows = [j for j in adapter.list_jobs("jobs") if isinstance(j, Job)]
    assert [j.scheduled_job for j in rows] == ["report"]
    assert rows[0].available_at == clock.now() + timedelta(minutes=10)
    assert len(runs) == 2 and runs[0].payload is None
    bg.stop()


def test_listener_that_raises_does_not_stop_others_or_jobs(
    adapter: Adapter, recorder: Recorder
) -> None:
    def explode(event: Event) -> None:
        raise RuntimeError("listener bug")

    builder = (
        builder_for(adapter)
        .with_event_listener(explode)
        .with_event_listener(recorder)
        .with_queue(quick_queue(ok=lambda job: None).with_event_listener(explode))
    )
    with builder.build() as bg:
        bg.enqueue_many([JobRequest("ok") for _ in range(5)])
        wait_until(lambda: len(recorder.of(JobSucceeded)) == 5)


def test_graceful_stop_asks_running_jobs_to_finish(adapter: Adapter) -> None:
    started = threading.Event()
    noticed: list[bool] = []

    def cooperative(job: Job) -> None:
        started.set()
        noticed.append(job.stop_requested.wait(20))

    bg = builder_for(adapter).with_queue(quick_queue(c=cooperative)).build()
    job = bg.enqueue(JobRequest("c"))
    assert started.wait(20)
    begun = time.monotonic()
    bg.stop(timeout=15)
    assert noticed == [True]
    assert time.monotonic() - begun < 10  # it did not sit out the whole timeout
    done = adapter.get_job(job.id)
    assert done is not None and done.state == "succeeded"  # type: ignore[union-attr]
    assert adapter.rescue_jobs(now=bgjobs.SystemClock().now(), lease_seconds=3600) == []


def test_stop_timeout_leaves_job_reserved_and_another_process_rescues_it(
    adapter: Adapter,
) -> None:
    release = threading.Event()
    runs: list[str] = []

    def stubborn(job: Job) -> None:
        runs.append(job.reserved_by or "")
        if len(runs) == 1:
            release.wait(30)  # ignores stop_requested, outlives the stop timeout

    first = builder_for(adapter).with_queue(quick_queue(s=stubborn)).build()
    job = first.enqueue(JobRequest("s"))
    wait_until(lambda: len(runs) == 1)
    first.stop(timeout=0.2)
    held = adapter.get_job(job.id)
    assert isinstance(held, Job) and held.reserved_by == first.worker_id

    second = builder_for(adapter).with_queue(quick_queue(s=stubborn)).build()
    try:
        wait_until(lambda: len(runs) == 2)
        wait_until(lambda: getattr(adapter.get_job(job.id), "state", None) == "succeeded")
        release.set()  # the first owner's handler now ends: its late outcome is never applied
        # Its slot comes back only after the outcome was handed over (and refused).
        wait_until(lambda: first._queues[0]._in_use == 0)
        done = adapter.get_job(job.id)
        assert done is not None and done.state == "succeeded"  # type: ignore[union-attr]
        assert done.attempts == 2
        assert runs[1] == second.worker_id
    finally:
        release.set()
        second.stop()


class FailingClaims:
    """Wraps a real adapter; reserve_jobs raises a bug-like error (fault injection)."""

    def __init__(self, inner: Adapter) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def reserve_jobs(self, *args: Any, **kwargs: Any) -> list[Job]:
        raise RuntimeError("injected claim bug")


def test_restart_tolerance_exceeded_stops_runtime(adapter: Adapter, recorder: Recorder) -> None:
    builder = (
        builder_for(FailingClaims(adapter))  # type: ignore[arg-type]
        .with_queue(quick_queue(x=lambda job: None))
        .with_restart_tolerance(max_restarts=2, within=timedelta(seconds=30))
        .with_event_listener(recorder)
    )
    bg = builder.build()
    with pytest.raises(RuntimeStopped, match="injected claim bug"):
        bg.wait(timeout=120)
    assert len(recorder.of(QueueErrored)) == 3


def test_restarted_queue_releases_only_unstarted_jobs(adapter: Adapter) -> None:
    clock = FakeClock()
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(x=lambda job: None).with_max_concurrent_jobs(3))
        .build(start=False)
    )
    jobs = bg.enqueue_many([JobRequest("x", n) for n in range(3)])
    runner: QueueRunner = bg._queues[0]
    assert runner.tick() == 3  # claimed; no handler threads exist to start them
    started = runner._unstarted[jobs[0].id]  # the claimed Job, as a handler thread gets it
    assert runner._take(started)  # as a handler thread would
    runner.recover()  # what the supervisor calls before restarting the claim loop
    running = adapter.get_job(started.id)
    assert isinstance(running, Job) and running.reserved_by == bg.worker_id
    for job in jobs[1:]:
        back = adapter.get_job(job.id)
        assert isinstance(back, Job)
        assert back.reserved_by is None and back.attempts == 0
    bg.stop(timeout=0)


def test_build_validates_before_starting(adapter: Adapter) -> None:
    worker = Worker("x", lambda job: None)
    with pytest.raises(ConfigurationError, match="twice"):
        bgjobs.new(adapter).with_queue(Queue("q").with_worker(worker).with_worker(worker)).build()
    with pytest.raises(ScheduleValidationError):
        bgjobs.new(adapter).with_scheduled_job(ScheduledJob(worker, "month 13")).build()
    with pytest.raises(ConfigurationError):
        Queue("q").with_max_concurrent_jobs(0)
    with pytest.raises(ConfigurationError, match="both"):
        bgjobs.new(adapter).with_queue(Queue("q").with_worker(worker)).with_scheduled_job(
            ScheduledJob(worker, "every hour")
        ).build()
    assert adapter.list_jobs("jobs") == []


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_runtime_built_before_fork_refuses_in_child(adapter: Adapter) -> None:
    bg = builder_for(adapter).with_queue(quick_queue(x=lambda job: None)).build(start=False)
    pid = os.fork()
    if pid == 0:  # child
        try:
            bg.enqueue(JobRequest("x"))
        except ForkedRuntimeError:
            os._exit(0)
        except BaseException:
            os._exit(2)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    bg.stop()


def test_rescued_job_on_its_last_attempt_runs_alone(adapter: Adapter) -> None:
    clock = FakeClock()
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(x=lambda job: None).with_max_retries(1).with_max_concurrent_jobs(4))
        .build(start=False)
    )
    jobs = bg.enqueue_many([JobRequest("x", n) for n in range(3)])
    # A process that died holding all three (no jobs_workers row, reservation past the lease).
    adapter.reserve_jobs(["x"], queue="default", limit=3, owner="ghost", now=clock.now())
    clock.advance(timedelta(minutes=1))
    rescued = adapter.rescue_jobs(now=clock.now(), lease_seconds=1)
    assert {j.id for j in rescued} == {j.id for j in jobs}
    assert all((j.last_error or "").startswith("WorkerLost") for j in rescued)

    runner: QueueRunner = bg._queues[0]
    assert runner.tick() == 3  # attempts now 2 = the last allowed run
    suspect = jobs[0]
    assert runner._solo is not None and runner._solo.id == suspect.id
    for other in jobs[1:]:
        back = adapter.get_job(other.id)
        assert isinstance(back, Job) and back.reserved_by is None and back.attempts == 1
    assert runner.tick() == 0  # nothing else is claimed while the suspect is pending
    held = adapter.get_job(suspect.id)
    assert isinstance(held, Job) and held.reserved_by == bg.worker_id
    bg.stop(timeout=0)


def test_failed_scheduled_run_retried_by_hand_runs_as_a_plain_job(adapter: Adapter) -> None:
    clock = FakeClock()
    runs: list[Job] = []

    def report(job: Job) -> None:
        runs.append(job)
        if len(runs) == 1:
            raise RuntimeError("disk full")

    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_scheduled_job(
            ScheduledJob(Worker("report", report), "every 1 hour").with_max_retries(0)
        )
        .build(start=False)
    )
    clock.advance(timedelta(hours=1))
    assert bg.drain() == 1
    failed = adapter.list_jobs("failed")
    assert len(failed) == 1 and failed[0].exception == "RuntimeError: disk full"  # type: ignore[union-attr]
    retried = adapter.retry_failed_job(failed[0].id, now=clock.now())
    assert retried.scheduled_job is None
    assert bg.drain() == 1  # the retried run, not the schedule's row (due in an hour)
    assert runs[-1].id == retried.id and runs[-1].scheduled_job is None
    rows = [j for j in adapter.list_jobs("jobs") if isinstance(j, Job)]
    assert [j.scheduled_job for j in rows] == ["report"]
    bg.stop()


def test_broken_backoff_and_odd_exceptions_neither_lose_jobs_nor_slots(
    adapter: Adapter, recorder: Recorder
) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    def bad(job: Job) -> None:
        if job.payload == "unprintable":
            raise Unprintable()
        raise ValueError("nul \x00 and a lone surrogate \udcff")

    queue = (
        quick_queue(bad=bad, ok=lambda job: None)
        .with_max_concurrent_jobs(1)
        .with_max_retries(1)
        .with_retry_backoff(lambda attempts: 0)  # type: ignore[arg-type,return-value]
    )
    builder = builder_for(adapter).with_queue(queue).with_event_listener(recorder)
    with builder.build() as bg:
        bg.enqueue(JobRequest("bad", "unprintable"))
        bg.enqueue(JobRequest("bad", "text"))
        oks = bg.enqueue_many([JobRequest("ok") for _ in range(3)])
        wait_until(lambda: len(recorder.of(JobSucceeded)) == 3)
        # The broken backoff fell back to the default one (seconds), so the bad jobs
        # wait for their retry instead of being stuck reserved.
        retried = recorder.of(JobRetried)
        assert len(retried) == 2
        assert any("no str for you" not in e.error and "Unprintable" in e.error for e in retried)
        assert any("\\x00" in e.error for e in retried)
    for job in oks:
        assert getattr(adapter.get_job(job.id), "state", None) == "succeeded"
    waiting = [j for j in adapter.list_jobs("jobs") if isinstance(j, Job)]
    assert len(waiting) == 2 and all(j.reserved_by is None for j in waiting)


def test_graceful_stop_longer_than_the_lease_keeps_heartbeating(adapter: Adapter) -> None:
    runs: list[str] = []

    def long_job(job: Job) -> None:
        runs.append(job.reserved_by or "")
        time.sleep(2.0)  # ignores stop_requested; longer than the lease

    def builder() -> bgjobs.BgJobsBuilder:
        return (
            bgjobs.new(adapter)
            .with_heartbeat(every=timedelta(milliseconds=100), lease=timedelta(milliseconds=800))
            .with_queue(quick_queue(long=long_job))
        )

    first = builder().build()
    job = first.enqueue(JobRequest("long"))
    wait_until(lambda: len(runs) == 1)
    second = builder().build()  # sweeps every 100 ms while the first one stops
    try:
        first.stop(timeout=10)
        # The first process's own outcome was applied, so no sweep took the job from it
        # (that would have fenced the outcome out), and a finished job is never claimed.
        done = adapter.get_job(job.id)
        assert done is not None and done.state == "succeeded"  # type: ignore[union-attr]
        assert runs == [first.worker_id]
    finally:
        second.stop()


def test_a_changed_schedule_is_taken_over_at_build_only(adapter: Adapter) -> None:
    def sched(text: str) -> bgjobs.BgJobsBuilder:
        return builder_for(adapter).with_scheduled_job(
            ScheduledJob(Worker("sync", lambda job: None), text).with_poll_interval(FAST)
        )

    old = sched("every 2 hours").build(start=False)
    new = sched("every 3 hours").build(start=False)  # the last deploy wins...
    try:
        for _ in range(3):  # ...and the old one's periodic checks do not take it back
            old._scheduled[0].ensure_row()
        found = adapter.get_scheduled_job("sync")
        assert found is not None and found[1] == "every 3 hours"
        rows = [j for j in adapter.list_jobs("jobs") if isinstance(j, Job)]
        assert len(rows) == 1
    finally:
        old.stop()
        new.stop()


def test_build_without_migration_on_an_empty_database_fails_fast(database_url: str) -> None:
    from bgjobs.db import adapter_from_url
    from bgjobs.errors import SchemaError

    empty = adapter_from_url(database_url)
    try:
        builder = bgjobs.new(empty).with_migrate(False).with_queue(quick_queue(x=lambda j: None))
        with pytest.raises(SchemaError):
            builder.build()
    finally:
        empty.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_stop_in_a_forked_child_leaves_the_parent_alone(adapter: Adapter) -> None:
    bg = builder_for(adapter).with_queue(quick_queue(x=lambda job: None)).build()
    try:
        pid = os.fork()
        if pid == 0:  # child
            try:
                bg.stop()
            except ForkedRuntimeError:
                os._exit(0)
            except BaseException:
                os._exit(2)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert bg.worker_id in {w.id for w in adapter.list_workers()}
    finally:
        bg.stop()


def test_a_reservation_of_this_process_that_no_thread_holds_is_given_back(
    adapter: Adapter, recorder: Recorder
) -> None:
    # What a claim whose answer was lost leaves behind: a job reserved by this
    # live, heartbeating process that none of its threads knows about.
    runtime = (
        builder_for(adapter)
        .with_event_listener(recorder)
        .with_queue(quick_queue(work=lambda job: None))
        .build()
    )
    try:
        claimed_at = datetime.now(UTC) - timedelta(seconds=10)
        [forged] = adapter.enqueue_many([JobRequest("unhandled")], now=claimed_at)
        [held] = adapter.reserve_jobs(
            ["unhandled"], queue="default", limit=1, owner=runtime.worker_id, now=claimed_at
        )
        assert held.id == forged.id and held.attempts == 1
        wait_until(lambda: getattr(adapter.get_job(forged.id), "reserved_by", "") is None)
        back = adapter.get_job(forged.id)
        assert isinstance(back, Job) and back.attempts == 0
        assert [e.job_id for e in recorder.of(JobReleased)] == [forged.id]
        # The jobs it does hold are left alone.
        done = runtime.enqueue(JobRequest("work"))
        wait_until(lambda: getattr(adapter.get_job(done.id), "state", None) == "succeeded")
    finally:
        runtime.stop()


def test_a_postgres_runtime_judges_time_by_the_database_clock(postgres_url: str) -> None:
    from bgjobs.clock import CorrectedClock
    from bgjobs.db import PostgresAdapter

    adapter = PostgresAdapter(postgres_url)
    runtime = builder_for(adapter).with_queue(quick_queue(work=lambda job: None)).build()
    try:
        clock = runtime._context.clock
        assert isinstance(clock, CorrectedClock)
        # Same host as the test server: the measured offset is a round trip at most.
        assert abs(clock.offset) < timedelta(seconds=1)
    finally:
        runtime.stop()
        adapter.close()


def test_jobs_claimed_ahead_wait_unstarted_and_go_back_at_stop_uncharged(
    adapter: Adapter,
) -> None:
    started: list[str] = []

    def hold(job: Job) -> None:
        started.append(job.id)
        job.stop_requested.wait(30)  # runs until stop() asks it to finish

    queue = quick_queue(hold=hold).with_max_concurrent_jobs(1).with_prefetch(3)
    runtime = builder_for(adapter).with_queue(queue).build()
    jobs = [runtime.enqueue(JobRequest("hold", n)) for n in range(5)]

    def held_by_us() -> list[Job]:
        return [
            job
            for job in adapter.list_jobs("jobs")
            if isinstance(job, Job) and job.reserved_by == runtime.worker_id
        ]

    try:
        wait_until(lambda: len(started) == 1 and len(held_by_us()) == 4)
        time.sleep(0.2)
        assert len(held_by_us()) == 4  # one running, three ahead: never more
    finally:
        runtime.stop(timeout=10)
    assert started == [jobs[0].id]  # the three claimed ahead never started
    waiting = {job.id: job for job in adapter.list_jobs("jobs") if isinstance(job, Job)}
    assert set(waiting) == {job.id for job in jobs[1:]}
    assert all(job.reserved_by is None and job.attempts == 0 for job in waiting.values())


def test_prefetch_must_be_a_whole_number() -> None:
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ConfigurationError, match="prefetch"):
            Queue("q").with_prefetch(bad)  # type: ignore[arg-type]
    assert Queue("q").with_prefetch(0).prefetch == 0
