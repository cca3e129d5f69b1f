"""Running jobs, against both databases: async handlers, timeouts, cancel, snooze, results."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from datetime import timedelta

import pytest

import bgjobs
from bgjobs import FakeClock, Job, JobRequest, Queue, Snooze, Worker
from bgjobs.db.adapter import Adapter, FinishedJob
from bgjobs.errors import ConfigurationError
from bgjobs.events import JobCancelled, JobSnoozed, JobSucceeded, JobTimedOut
from tests.runtime.test_runtime import Recorder, builder_for, quick_queue, wait_until


def failed_exception(adapter: Adapter, job_id: str) -> str:
    found = adapter.get_job(job_id)
    assert isinstance(found, FinishedJob) and found.state == "failed", found
    return found.exception or ""


def test_async_handlers_run_concurrently_up_to_the_slot_limit(adapter: Adapter) -> None:
    lock = threading.Lock()
    running = 0
    most = 0

    async def work(job: Job) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        for _ in range(500):
            if most >= 3:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        with lock:
            running -= 1
        return int(job.payload) * 2

    builder = builder_for(adapter).with_queue(quick_queue(work=work).with_max_concurrent_jobs(3))
    with builder.build() as bg:
        jobs = bg.enqueue_many([JobRequest("work", n) for n in range(9)])
        wait_until(lambda: all(getattr(bg.get_job(j.id), "state", "") == "succeeded" for j in jobs))
    assert most == 3, "three async jobs at once, never more"
    results = [getattr(adapter.get_job(job.id), "result", None) for job in jobs]
    assert results == [n * 2 for n in range(9)]


def test_async_jobs_claimed_ahead_wait_for_a_slot(adapter: Adapter) -> None:
    # Claiming ahead (explicit here, automatic for quick jobs) must not start more async
    # handlers than the queue's slots: the extra jobs wait their turn in the process.
    lock = threading.Lock()
    running = 0
    most = 0

    async def quick(job: Job) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        await asyncio.sleep(0.002)
        with lock:
            running -= 1

    queue = quick_queue(quick=quick).with_max_concurrent_jobs(2).with_prefetch(6)
    with builder_for(adapter).with_queue(queue).build() as bg:
        jobs = bg.enqueue_many([JobRequest("quick", n) for n in range(60)])
        wait_until(lambda: all(getattr(bg.get_job(j.id), "state", "") == "succeeded" for j in jobs))
    assert most == 2, f"{most} async handlers ran at once on a queue of 2"


class AsyncCallable:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, job: Job) -> None:
        self.calls += 1
        await asyncio.sleep(0)
        if job.attempts < 3:
            raise ValueError(f"async boom {job.attempts}")


def test_async_handler_that_raises_is_retried_like_a_sync_one(adapter: Adapter) -> None:
    clock = FakeClock()
    handler = AsyncCallable()
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(flaky=functools.partial(handler)).with_max_retries(2))
        .build(start=False)
    )
    job = bg.enqueue(JobRequest("flaky"))
    assert bg.drain() == 3
    assert handler.calls == 3
    done = bg.get_job(job.id)
    assert done is not None and done.state == "succeeded" and done.attempts == 3
    bg.stop()


def test_sync_handler_returning_a_coroutine_fails_with_type_error(adapter: Adapter) -> None:
    async def body(job: Job) -> None:
        raise AssertionError("never awaited")

    bg = (
        builder_for(adapter)
        .with_queue(quick_queue(wrong=lambda job: body(job)).with_max_retries(0))
        .build(start=False)
    )
    job = bg.enqueue(JobRequest("wrong"))
    assert bg.drain() == 1
    assert failed_exception(adapter, job.id).startswith("TypeError: the handler of 'wrong'")
    bg.stop()


def test_async_timeout_cancels_the_handler_and_retries(adapter: Adapter) -> None:
    recorder = Recorder()
    seen: list[str | None] = []

    async def hang(job: Job) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            seen.append(job.stop_reason)

    queue = (
        quick_queue(hang=hang)
        .with_max_retries(1)
        .with_job_timeout(timedelta(milliseconds=200), grace=timedelta(seconds=30))
    )
    with builder_for(adapter).with_queue(queue).with_event_listener(recorder).build() as bg:
        job = bg.enqueue(JobRequest("hang"))
        wait_until(lambda: getattr(bg.get_job(job.id), "state", "") == "failed")
    assert failed_exception(adapter, job.id).startswith("JobTimeout")
    assert seen == ["timeout", "timeout"]
    assert len(recorder.of(JobTimedOut)) == 2


def test_stuck_sync_handler_is_abandoned_and_its_queue_keeps_serving(adapter: Adapter) -> None:
    unstick = threading.Event()
    late: list[str] = []

    def stuck(job: Job) -> str:
        unstick.wait(60)  # ignores stop_requested
        late.append(job.id)
        return "too late"

    queue = (
        quick_queue(stuck=stuck, quick=lambda job: "ok")
        .with_max_concurrent_jobs(1)
        .with_max_retries(0)
        .with_job_timeout(timedelta(milliseconds=200), grace=timedelta(milliseconds=200))
    )
    with builder_for(adapter).with_queue(queue).build() as bg:
        first = bg.enqueue(JobRequest("stuck"))
        wait_until(lambda: getattr(bg.get_job(first.id), "state", "") == "failed")
        second = bg.enqueue(JobRequest("quick"))
        wait_until(lambda: getattr(bg.get_job(second.id), "state", "") == "succeeded")
        assert bg._executor.abandoned_threads == 1
        unstick.set()
        wait_until(lambda: late == [first.id])
    assert failed_exception(adapter, first.id).startswith("JobTimeout")
    assert getattr(adapter.get_job(second.id), "result", None) == "ok"


def test_request_timeout_wins_over_the_queue_one(adapter: Adapter) -> None:
    reasons: list[str | None] = []

    def cooperative(job: Job) -> None:
        job.stop_requested.wait(30)
        reasons.append(job.stop_reason)

    queue = quick_queue(coop=cooperative).with_max_retries(0).with_job_timeout(timedelta(hours=1))
    with builder_for(adapter).with_queue(queue).build() as bg:
        job = bg.enqueue(JobRequest("coop").with_timeout(timedelta(milliseconds=100)))
        stored = adapter.get_job(job.id)
        assert isinstance(stored, Job) and stored.timeout == timedelta(milliseconds=100)
        wait_until(lambda: getattr(bg.get_job(job.id), "state", "") == "failed")
    assert reasons == ["timeout"]
    assert failed_exception(adapter, job.id).startswith("JobTimeout")


def test_cancel_waiting_and_running_jobs_in_process(adapter: Adapter) -> None:
    recorder = Recorder()
    started = threading.Event()

    async def long(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    queue = quick_queue(long=long, later=lambda job: None).with_max_retries(5)
    with builder_for(adapter).with_queue(queue).with_event_listener(recorder).build() as bg:
        waiting = bg.enqueue(JobRequest("later").available_in(timedelta(hours=1)))
        assert bg.cancel(waiting.id) == "cancelled"
        assert failed_exception(adapter, waiting.id) == "Cancelled: cancelled before it started"
        running = bg.enqueue(JobRequest("long"))
        assert started.wait(30)
        assert bg.cancel(running.id) == "requested"
        wait_until(lambda: getattr(bg.get_job(running.id), "state", "") == "failed")
        assert bg.cancel(running.id) == "not_found"
        assert bg.cancel("no-such-job") == "not_found"
    assert failed_exception(adapter, running.id).startswith("Cancelled")
    assert [e.while_running for e in recorder.of(JobCancelled)] == [True]


def test_claimed_job_with_a_cancel_request_fails_without_running(adapter: Adapter) -> None:
    clock = FakeClock()
    ran: list[str] = []
    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_queue(quick_queue(x=lambda job: ran.append(job.id)))
        .build(start=False)
    )
    job = bg.enqueue(JobRequest("x"))
    # Another process claimed it, the cancel was requested, then it was rescued.
    adapter.reserve_jobs(["x"], queue="default", limit=1, owner="ghost", now=clock.now())
    assert adapter.cancel(job.id) == "requested"
    clock.advance(timedelta(minutes=5))
    adapter.rescue_jobs(now=clock.now(), lease_seconds=1)
    assert bg.drain() == 1
    assert ran == []
    assert failed_exception(adapter, job.id).startswith("Cancelled")
    bg.stop()


def test_snooze_puts_the_job_back_without_using_a_retry(adapter: Adapter) -> None:
    clock = FakeClock()
    recorder = Recorder()
    runs: list[int] = []

    def sleepy(job: Job) -> str:
        runs.append(job.attempts)
        if len(runs) < 3:
            raise Snooze(timedelta(minutes=10))
        return "awake"

    bg = (
        builder_for(adapter)
        .with_clock(clock)
        .with_event_listener(recorder)
        .with_queue(quick_queue(sleepy=sleepy).with_max_retries(0))
        .build(start=False)
    )
    job = bg.enqueue(JobRequest("sleepy"))
    assert bg.drain() == 1
    back = bg.get_job(job.id)
    assert isinstance(back, Job) and back.state == "waiting" and back.attempts == 0
    assert back.available_at == clock.now() + timedelta(minutes=10)
    assert bg.drain() == 0
    clock.advance(timedelta(minutes=10))
    assert bg.drain() == 1
    clock.advance(timedelta(minutes=10))
    assert bg.drain() == 1
    assert runs == [1, 1, 1]
    done = bg.get_job(job.id)
    assert done is not None and done.state == "succeeded" and done.result == "awake"
    assert len(recorder.of(JobSnoozed)) == 2
    bg.stop()


def test_results_round_trip_and_the_size_limit(adapter: Adapter) -> None:
    bg = (
        builder_for(adapter)
        .with_queue(
            quick_queue(
                value=lambda job: {"sum": sum(job.payload), "items": job.payload, "ok": True},
                nothing=lambda job: None,
                huge=lambda job: "x" * (bgjobs.MAX_PAYLOAD_BYTES + 1),
                odd=lambda job: {1: "int key"},
            ).with_max_retries(0)
        )
        .build(start=False)
    )
    value = bg.enqueue(JobRequest("value", [1, 2, 3]))
    nothing = bg.enqueue(JobRequest("nothing"))
    huge = bg.enqueue(JobRequest("huge"))
    odd = bg.enqueue(JobRequest("odd"))
    assert bg.drain() == 4
    done = adapter.get_job(value.id)
    assert isinstance(done, FinishedJob)
    assert done.result == {"sum": 6, "items": [1, 2, 3], "ok": True}
    empty = adapter.get_job(nothing.id)
    assert empty is not None and empty.state == "succeeded" and empty.result is None
    assert failed_exception(adapter, huge.id).startswith("PayloadError: result is")
    assert failed_exception(adapter, odd.id).startswith("PayloadError: result has a key 1")
    bg.stop()


def test_get_job_states(adapter: Adapter) -> None:
    gate = threading.Event()
    inside = threading.Event()

    def blocked(job: Job) -> None:
        inside.set()
        gate.wait(30)

    with builder_for(adapter).with_queue(quick_queue(b=blocked)).build() as bg:
        later = bg.enqueue(JobRequest("b").available_in(timedelta(hours=1)))
        now = bg.enqueue(JobRequest("b"))
        assert inside.wait(30)
        assert getattr(bg.get_job(later.id), "state", None) == "waiting"
        assert getattr(bg.get_job(now.id), "state", None) == "running"
        gate.set()
        wait_until(lambda: getattr(bg.get_job(now.id), "state", None) == "succeeded")
        assert bg.get_job("missing") is None


def test_enqueue_async_never_blocks_and_runs(adapter: Adapter) -> None:
    recorder = Recorder()
    with (
        builder_for(adapter)
        .with_queue(quick_queue(a=lambda job: job.payload))
        .with_event_listener(recorder)
        .build() as bg
    ):

        async def produce() -> list[Job]:
            one = await bg.enqueue_async(JobRequest("a", 1))
            more = await bg.enqueue_many_async([JobRequest("a", 2), JobRequest("a", 3)])
            direct = await adapter.enqueue_async(JobRequest("a", 4))
            return [one, *more, direct]

        jobs = asyncio.run(produce())
        wait_until(lambda: len(recorder.of(JobSucceeded)) == 4)
    assert [getattr(adapter.get_job(j.id), "result", None) for j in jobs] == [1, 2, 3, 4]


def test_settings_and_handlers_are_checked_where_they_are_written(adapter: Adapter) -> None:
    with pytest.raises(ConfigurationError, match=r"max_concurrent_jobs.*expected a whole number"):
        Queue("q", max_concurrent_jobs=0)
    with pytest.raises(ConfigurationError, match="poll_interval"):
        Queue("q", poll_interval=timedelta(0))
    with pytest.raises(ConfigurationError, match="job timeout"):
        Queue("q").with_job_timeout(timedelta(seconds=-1))

    def two_args(job: Job, other: int) -> None: ...

    with pytest.raises(ConfigurationError, match="'needs_two'"):
        bgjobs.new(adapter).with_queue(Queue("q").with_worker(Worker("needs_two", two_args))).build(
            start=False
        )
    with pytest.raises(ConfigurationError, match="'no_args'"):
        bgjobs.new(adapter).with_queue(
            Queue("q").with_worker(Worker("no_args", lambda: None))  # type: ignore[arg-type]
        ).build(start=False)


def test_fake_clock_steps_a_waiting_loop_without_sleeping() -> None:
    clock = FakeClock()
    event = threading.Event()
    results: list[bool] = []
    waiter = threading.Thread(target=lambda: results.append(clock.wait(event, 60)))
    started = time.monotonic()
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive(), "fake time has not passed: the wait goes on"
    clock.advance(timedelta(seconds=60))
    waiter.join(10)
    assert results == [False]
    assert time.monotonic() - started < 10
    assert clock.monotonic() == 60.0


def test_runtime_settings_check_themselves(adapter: Adapter) -> None:
    builder = bgjobs.new(adapter)
    with pytest.raises(ConfigurationError, match="heartbeat lease: expected a timedelta longer"):
        builder.with_heartbeat(every=timedelta(seconds=5), lease=timedelta(seconds=5))
    with pytest.raises(ConfigurationError, match="heartbeat every: expected a positive"):
        builder.with_heartbeat(every=timedelta(0))
    with pytest.raises(ConfigurationError, match="max_restarts: expected a whole number >= 0"):
        builder.with_restart_tolerance(max_restarts=-1)
    with pytest.raises(ConfigurationError, match="retention of failed jobs"):
        builder.with_retention(failed=timedelta(days=-1))


@pytest.mark.postgres
def test_enqueue_async_on_the_callers_async_connection_commits_with_it(postgres_url: str) -> None:
    import psycopg

    from bgjobs.db import PostgresAdapter

    adapter = PostgresAdapter(postgres_url)
    adapter.migrate()

    async def scenario() -> tuple[str, str]:
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            async with conn.transaction():
                kept = await adapter.enqueue_async(JobRequest("a", 1), connection=conn)
                [keyed] = await adapter.enqueue_many_async(
                    [JobRequest("a", 2).with_unique_key("k")], connection=conn
                )
                again = await adapter.enqueue_async(
                    JobRequest("a", 3).with_unique_key("k"), connection=conn
                )
                assert again.id == keyed.id and again.payload == 2
            try:
                async with conn.transaction():
                    dropped = await adapter.enqueue_async(JobRequest("a", 4), connection=conn)
                    raise RuntimeError("the caller's transaction fails")
            except RuntimeError:
                pass
        return kept.id, dropped.id

    try:
        kept_id, dropped_id = asyncio.run(scenario())
        assert getattr(adapter.get_job(kept_id), "payload", None) == 1
        assert adapter.get_job(dropped_id) is None  # rolled back with the caller's data
    finally:
        adapter.close()


def test_timeouts_follow_the_runtime_clock(adapter: Adapter) -> None:
    clock = FakeClock()
    inside = threading.Event()
    reasons: list[str | None] = []

    def patient(job: Job) -> None:
        inside.set()
        job.stop_requested.wait(60)
        reasons.append(job.stop_reason)

    queue = (
        quick_queue(patient=patient)
        .with_max_retries(0)
        .with_job_timeout(timedelta(minutes=10), grace=timedelta(minutes=1))
    )
    with builder_for(adapter).with_clock(clock).with_queue(queue).build() as bg:
        job = bg.enqueue(JobRequest("patient"))
        assert inside.wait(30)
        clock.advance(timedelta(minutes=9))  # not yet: the handler keeps running
        assert reasons == [] and job.id in bg._executor.running_ids
        clock.advance(timedelta(minutes=1))  # the timeout passes in fake time
        wait_until(lambda: getattr(bg.get_job(job.id), "state", "") == "failed")
    assert reasons == ["timeout"]
    assert bg._executor.abandoned_threads == 0  # it stopped when asked: nothing abandoned
