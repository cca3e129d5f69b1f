"""Flow control in the database: pause, the limited claim, unique keys held for a period."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from bgjobs.db import (
    Failed,
    QueueLimits,
    Released,
    RetryLater,
    Succeeded,
    adapter_from_url,
    lease_of,
)
from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import Job, JobRequest
from tests.db.support import T0, enqueue_plain, ids_by_table, raw_rows

TWO_AT_ONCE = QueueLimits(concurrency=2)


def _claim(
    adapter: BaseAdapter, limits: QueueLimits, *, limit: int = 10, **kw: object
) -> list[Job]:
    options = {"queue": "q", "owner": "w1", "now": T0, **kw}
    return adapter.reserve_limited_jobs(["work"], limit=limit, limits=limits, **options)  # type: ignore[arg-type]


# -- pause ---------------------------------------------------------------------------


def test_a_paused_queue_claims_nothing_and_still_takes_enqueues(
    adapter: BaseAdapter, database_url: str
) -> None:
    enqueue_plain(adapter, 3)
    adapter.pause_queue("q", now=T0)
    assert adapter.paused_queues() == ["q"]
    enqueue_plain(adapter, 2)  # enqueueing into a paused queue works
    assert adapter.reserve_jobs(["work"], queue="q", limit=10, owner="w", now=T0) == []
    assert adapter.next_available_at(["work"], queue="q") is None  # an idle runner just polls
    assert _claim(adapter, TWO_AT_ONCE) == []
    # Another queue name claiming the same job names is not paused.
    assert len(adapter.reserve_jobs(["work"], queue="other", limit=1, owner="w", now=T0)) == 1
    # The pause is in the database: a new adapter (a restarted process) sees it.
    reopened = adapter_from_url(database_url)
    try:
        assert reopened.paused_queues() == ["q"]
        assert reopened.reserve_jobs(["work"], queue="q", limit=10, owner="w", now=T0) == []
        assert reopened.resume_queue("q", now=T0) is True
    finally:
        reopened.close()
    assert adapter.resume_queue("q", now=T0) is False  # not paused any more
    assert adapter.paused_queues() == []
    assert len(adapter.reserve_jobs(["work"], queue="q", limit=10, owner="w", now=T0)) == 4


def test_pausing_twice_keeps_the_first_pause_time(adapter: BaseAdapter) -> None:
    adapter.pause_queue("q", now=T0)
    adapter.pause_queue("q", now=T0 + timedelta(minutes=5))
    [row] = adapter.list_queues()
    assert (row.name, row.paused_at, row.paused) == ("q", T0, True)


def test_registered_queues_are_listed_unpaused(adapter: BaseAdapter) -> None:
    adapter.register_queues(["b", "a"], now=T0)
    adapter.register_queues(["a"], now=T0 + timedelta(hours=1))
    assert [(row.name, row.paused, row.updated_at) for row in adapter.list_queues()] == [
        ("a", False, T0),
        ("b", False, T0),
    ]


@pytest.mark.parametrize("name", ["", None, 3, "a\x00b"])
def test_a_bad_queue_name_is_refused(adapter: BaseAdapter, name: object) -> None:
    with pytest.raises(ValueError, match="queue name"):
        adapter.pause_queue(name, now=T0)  # type: ignore[arg-type]
    assert adapter.list_queues() == []


# -- global concurrency ------------------------------------------------------------------


def test_the_limited_claim_takes_no_more_than_the_global_concurrency(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 6)
    first = _claim(adapter, TWO_AT_ONCE, owner="w1")
    assert len(first) == 2
    assert _claim(adapter, TWO_AT_ONCE, owner="w2") == []  # another process: still two running
    assert [row.name for row in adapter.list_queues()] == ["q"]
    adapter.finish_jobs([Succeeded(lease_of(first[0]))], now=T0)
    [second] = _claim(adapter, TWO_AT_ONCE, owner="w2")
    assert _claim(adapter, TWO_AT_ONCE, owner="w2") == []
    # Every way out of "running" frees the slot: retry later, release, failure.
    adapter.finish_jobs([RetryLater(lease_of(first[1]), T0 + timedelta(hours=1), "E: e")], now=T0)
    assert len(_claim(adapter, TWO_AT_ONCE)) == 1
    adapter.finish_jobs([Released(lease_of(second))], now=T0)
    [third] = _claim(adapter, TWO_AT_ONCE)
    adapter.finish_jobs([Failed(lease_of(third), "E: e", "tb")], now=T0)
    assert len(_claim(adapter, TWO_AT_ONCE)) == 1
    assert _claim(adapter, TWO_AT_ONCE) == []


def test_a_rescued_job_frees_its_slot(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 3)
    adapter.register_worker("dead", hostname="h", pid=1, now=T0 - timedelta(minutes=5))
    assert len(_claim(adapter, TWO_AT_ONCE, owner="dead")) == 2
    assert _claim(adapter, TWO_AT_ONCE, owner="live") == []
    assert len(adapter.rescue_jobs(now=T0, lease_seconds=30)) == 2
    assert len(_claim(adapter, TWO_AT_ONCE, owner="live")) == 2


def test_jobs_this_queue_could_claim_count_whoever_reserved_them(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 3)
    enqueue_plain(adapter, 3, queue="other")
    # Jobs routed to another queue are not this queue's: they never count.
    assert len(adapter.reserve_jobs(["work"], queue="other", limit=6, owner="w", now=T0)) == 6
    enqueue_plain(adapter, 3)
    # A job of one of its names routed to no queue counts while reserved, even
    # when a plain claim of another queue took it: the count errs on the safe side.
    assert len(_claim(adapter, TWO_AT_ONCE)) == 0
    adapter.finish_jobs(
        [
            Succeeded(lease_of(job))
            for job in adapter.list_jobs("jobs")
            if job.reserved_by is not None and job.queue is None
        ],
        now=T0,
    )
    assert len(_claim(adapter, TWO_AT_ONCE)) == 2


def test_the_limited_claim_keeps_claim_order_and_routing(adapter: BaseAdapter) -> None:
    adapter.enqueue_many(
        [
            JobRequest("work", 1),
            JobRequest("work", 2).with_priority(5),
            JobRequest("work", 3).on_queue("elsewhere").with_priority(9),
            JobRequest("work", 4).available_in(timedelta(hours=1)).with_priority(9),
        ],
        now=T0,
    )
    claimed = _claim(adapter, QueueLimits(concurrency=5))
    assert [job.payload for job in claimed] == [2, 1]
    assert all(job.reserved_by == "w1" and job.attempts == 1 for job in claimed)


@pytest.mark.parametrize(
    "limits",
    [
        QueueLimits(),
        QueueLimits(concurrency=0),
        QueueLimits(rate=2),
        QueueLimits(rate=0, per=timedelta(seconds=1)),
    ],
)
def test_bad_limits_are_refused(adapter: BaseAdapter, limits: QueueLimits) -> None:
    enqueue_plain(adapter, 1)
    with pytest.raises(ValueError):
        _claim(adapter, limits)
    # Nothing was claimed:
    assert adapter.reserve_jobs(["work"], queue="q", limit=1, owner="w", now=T0) != []


def test_limited_claims_racing_in_threads_never_exceed_the_limit(database_url: str) -> None:
    """Threads, each with its own adapter (connections), claim and finish as fast as they can."""
    setup = adapter_from_url(database_url)
    setup.migrate()
    enqueue_plain(setup, 120)
    lock = threading.Lock()
    held: set[str] = set()
    peak = 0
    done = 0
    errors: list[BaseException] = []

    def work(owner: str) -> None:
        nonlocal peak, done
        own = adapter_from_url(database_url)
        try:
            idle = 0
            while idle < 50:
                jobs = own.reserve_limited_jobs(
                    ["work"], queue="q", limit=3, owner=owner, now=T0, limits=TWO_AT_ONCE
                )
                if not jobs:
                    idle += 1
                    continue
                with lock:
                    held.update(job.id for job in jobs)
                    peak = max(peak, len(held))
                with lock:
                    held.difference_update(job.id for job in jobs)
                    done += len(jobs)
                own.finish_jobs([Succeeded(lease_of(job)) for job in jobs], now=T0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    setup.close()
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads), "a claiming thread hung"
    assert peak <= 2
    assert done + len(ids_by_table(database_url)["jobs"]) == 120


# -- rate limit -------------------------------------------------------------------------


def test_the_rate_limit_is_a_sliding_window_over_claim_times(adapter: BaseAdapter) -> None:
    three_a_second = QueueLimits(rate=3, per=timedelta(seconds=1))
    enqueue_plain(adapter, 10)
    first = _claim(adapter, three_a_second, now=T0)
    assert len(first) == 3
    # Finishing does not give the starts back: they happened.
    adapter.finish_jobs([Succeeded(lease_of(job)) for job in first], now=T0)
    assert _claim(adapter, three_a_second, now=T0 + timedelta(milliseconds=999)) == []
    # The window is (now - per, now]: a start exactly `per` ago is out of it.
    assert len(_claim(adapter, three_a_second, now=T0 + timedelta(seconds=1), limit=2)) == 2
    assert len(_claim(adapter, three_a_second, now=T0 + timedelta(seconds=1.5))) == 1
    assert _claim(adapter, three_a_second, now=T0 + timedelta(seconds=1.9)) == []
    assert len(_claim(adapter, three_a_second, now=T0 + timedelta(seconds=2))) == 2


def test_rate_and_concurrency_together_take_the_smaller_allowance(adapter: BaseAdapter) -> None:
    both = QueueLimits(concurrency=2, rate=5, per=timedelta(minutes=1))
    enqueue_plain(adapter, 10)
    jobs = _claim(adapter, both)
    assert len(jobs) == 2
    adapter.finish_jobs([Succeeded(lease_of(job)) for job in jobs], now=T0)
    jobs = _claim(adapter, both, now=T0 + timedelta(seconds=1))
    adapter.finish_jobs([Succeeded(lease_of(job)) for job in jobs], now=T0)
    assert len(_claim(adapter, both, now=T0 + timedelta(seconds=2))) == 1  # 5 started this minute
    assert _claim(adapter, both, now=T0 + timedelta(seconds=3)) == []


def test_starts_out_of_the_window_are_forgotten(adapter: BaseAdapter, database_url: str) -> None:
    limits = QueueLimits(rate=50, per=timedelta(seconds=1))
    enqueue_plain(adapter, 40)
    for step in range(4):
        now = T0 + timedelta(seconds=10 * step)
        jobs = _claim(adapter, limits, now=now)
        assert len(jobs) == 10
        adapter.finish_jobs([Succeeded(lease_of(job)) for job in jobs], now=now)
    # Only the last claim's starts are within two windows of it.
    [(count,)] = raw_rows(database_url, "SELECT count(*) FROM jobs_queue_starts")
    assert count == 10
    assert _claim(adapter, QueueLimits(concurrency=5)) == []  # nothing left; no rows written
    [(count,)] = raw_rows(database_url, "SELECT count(*) FROM jobs_queue_starts")
    assert count == 10


# -- unique for a period -------------------------------------------------------------------


def _run_to_success(adapter: BaseAdapter, job: Job) -> None:
    [claimed] = adapter.reserve_jobs([job.name], queue="q", limit=1, owner="w", now=T0)
    assert claimed.id == job.id
    adapter.finish_jobs([Succeeded(lease_of(claimed))], now=T0)


def test_a_recent_success_blocks_a_key_held_for_a_period(adapter: BaseAdapter) -> None:
    hour = timedelta(hours=1)
    first = adapter.enqueue(JobRequest("work", 1).with_unique_key("k", for_=hour), now=T0)
    _run_to_success(adapter, first)
    again = adapter.enqueue(
        JobRequest("work", 2).with_unique_key("k", for_=hour), now=T0 + timedelta(minutes=59)
    )
    assert (again.id, again.payload, again.unique_key) == (first.id, 1, "k")
    assert adapter.list_jobs("jobs") == []
    # Without a period, or after it, the success does not block.
    plain = adapter.enqueue(JobRequest("work", 3).with_unique_key("k"), now=T0)
    assert plain.id != first.id
    _run_to_success(adapter, plain)
    later = adapter.enqueue(
        JobRequest("work", 4).with_unique_key("k", for_=hour),
        now=T0 + timedelta(hours=1, seconds=1),
    )
    # `plain` succeeded at T0 too: both successes are more than an hour old.
    assert later.id not in (first.id, plain.id)
    assert [job.id for job in adapter.list_jobs("jobs")] == [later.id]


def test_a_batch_mixes_blocked_and_new_keys(adapter: BaseAdapter) -> None:
    day = timedelta(days=1)
    done = adapter.enqueue(JobRequest("work", "a").with_unique_key("a", for_=day), now=T0)
    _run_to_success(adapter, done)
    jobs = adapter.enqueue_many(
        [
            JobRequest("work", "a2").with_unique_key("a", for_=day),
            JobRequest("work", "b").with_unique_key("b", for_=day),
            JobRequest("work", "b2").with_unique_key("b", for_=day),
            JobRequest("work", "c"),
        ],
        now=T0 + timedelta(hours=1),
    )
    assert jobs[0].id == done.id
    assert jobs[2].id == jobs[1].id
    assert sorted(job.payload for job in adapter.list_jobs("jobs")) == ["b", "c"]


def test_unique_for_needs_a_positive_period() -> None:
    with pytest.raises(ValueError, match="for_"):
        JobRequest("work").with_unique_key("k", for_=timedelta(0))
    with pytest.raises(ValueError, match="for_"):
        JobRequest("work").with_unique_key("k", for_=5)  # type: ignore[arg-type]


def test_unique_for_a_period_under_concurrent_enqueues_and_completion(database_url: str) -> None:
    """Each round: a job holding the key succeeds while threads enqueue the key again.

    Whatever the interleaving, every enqueue returns the one job (waiting or
    succeeded) and no second job with the key is ever inserted.
    """
    setup = adapter_from_url(database_url)
    setup.migrate()
    enqueuers = [adapter_from_url(database_url) for _ in range(3)]
    try:
        for round_ in range(15):
            returned, original = _race_enqueues_with_success(setup, enqueuers, f"key-{round_}")
            assert set(returned) == {original}, round_
            assert setup.list_jobs("jobs") == []
    finally:
        for own in enqueuers:
            own.close()
        setup.close()


def _race_enqueues_with_success(
    setup: BaseAdapter, enqueuers: list[BaseAdapter], key: str
) -> tuple[list[str], str]:
    period = timedelta(hours=1)
    original = setup.enqueue(JobRequest("work").with_unique_key(key, for_=period), now=T0)
    [claimed] = setup.reserve_jobs(["work"], queue="q", limit=1, owner="w", now=T0)
    start = threading.Barrier(len(enqueuers) + 1)
    returned: list[str] = []
    errors: list[BaseException] = []

    def enqueue(own: BaseAdapter) -> None:
        try:
            start.wait(timeout=30)
            for _ in range(5):
                request = JobRequest("work").with_unique_key(key, for_=period)
                returned.append(own.enqueue(request, now=T0).id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=enqueue, args=(own,)) for own in enqueuers]
    for thread in threads:
        thread.start()
    start.wait(timeout=30)
    setup.finish_jobs([Succeeded(lease_of(claimed))], now=T0)
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(returned) == 5 * len(enqueuers)
    return returned, original.id


# -- listings and batch retry ------------------------------------------------------------------


def test_listings_filter_by_name_and_queue_and_count_all(adapter: BaseAdapter) -> None:
    adapter.enqueue_many(
        [JobRequest("a"), JobRequest("a").on_queue("x"), JobRequest("b").on_queue("x")], now=T0
    )
    assert adapter.count_listed("jobs") == 3
    assert adapter.count_listed("jobs", name="a") == 2
    assert adapter.count_listed("jobs", queue="x") == 2
    assert [(j.name, j.queue) for j in adapter.list_jobs("jobs", name="a", queue="x")] == [
        ("a", "x")
    ]
    assert len(adapter.list_jobs("jobs", name="a", limit=1)) == 1
    assert adapter.count_listed("failed", name="a") == 0
    with pytest.raises(ValueError, match="filter"):
        adapter.list_jobs("jobs", name="")


def test_failed_jobs_are_retried_in_batches_by_filter(adapter: BaseAdapter) -> None:
    adapter.enqueue_many(
        [JobRequest("a", n) for n in range(5)] + [JobRequest("b", 9).on_queue("x")], now=T0
    )
    for job in adapter.reserve_jobs(["a", "b"], queue="x", limit=10, owner="w", now=T0):
        adapter.finish_jobs([Failed(lease_of(job), "E: boom", "tb")], now=T0)
    assert adapter.count_listed("failed") == 6
    first = adapter.retry_failed_jobs(limit=3, now=T0, name="a")
    assert len(first) == 3
    assert all(j.name == "a" and j.attempts == 0 and j.last_error == "E: boom" for j in first)
    rest = adapter.retry_failed_jobs(limit=10, now=T0, name="a")
    assert len(rest) == 2
    assert adapter.retry_failed_jobs(limit=10, now=T0, name="a") == []
    [b] = adapter.retry_failed_jobs(limit=10, now=T0, queue="x")
    assert (b.name, b.queue) == ("b", "x")
    assert adapter.count_listed("failed") == 0
    assert adapter.count_listed("jobs") == 6


def test_running_jobs_are_counted_by_owner(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 3)
    adapter.reserve_jobs(["work"], queue="q", limit=2, owner="w1", now=T0)
    adapter.reserve_jobs(["work"], queue="q", limit=2, owner="w2", now=T0)
    assert adapter.running_by_owner() == {"w1": 2, "w2": 1}


def test_a_claim_whose_clock_reads_earlier_starts_at_the_last_recorded_start(
    adapter: BaseAdapter,
) -> None:
    two_a_second = QueueLimits(rate=2, per=timedelta(seconds=1))
    enqueue_plain(adapter, 6)
    second = T0 + timedelta(seconds=1)
    [first] = _claim(adapter, two_a_second, now=second, limit=1)
    # Another process's clock is half a second behind: its start is recorded
    # (and its job reserved) at the last start, so the window stays exact.
    [late] = _claim(adapter, two_a_second, now=T0 + timedelta(seconds=0.5))
    assert (first.reserved_at, late.reserved_at) == (second, second)
    assert _claim(adapter, two_a_second, now=T0 + timedelta(seconds=1.9)) == []
    assert len(_claim(adapter, two_a_second, now=T0 + timedelta(seconds=2))) == 2
