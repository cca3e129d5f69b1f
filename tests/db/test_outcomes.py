"""Outcomes: moves between tables, retries, releases, fencing by (owner, attempts), batches."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bgjobs.db import (
    Failed,
    Lease,
    Released,
    RetryLater,
    ScheduledNext,
    Succeeded,
    lease_of,
)
from bgjobs.db.adapter import FinishedJob
from bgjobs.db.base import BaseAdapter
from bgjobs.db.records import MAX_ERROR_TEXT_BYTES
from bgjobs.errors import LeaseLost
from bgjobs.jobs import Job
from tests.db.support import T0, enqueue_plain, ids_by_table

LATER = T0 + timedelta(seconds=10)


def _claim_one(adapter: BaseAdapter, owner: str = "w1", now: object = T0) -> Job:
    [job] = adapter.reserve_jobs(["work"], queue="q", limit=1, owner=owner, now=now)  # type: ignore[arg-type]
    return job


def test_success_moves_the_job_to_jobs_succeeded(adapter: BaseAdapter) -> None:
    [job] = enqueue_plain(adapter, 1)
    claimed = _claim_one(adapter)
    assert adapter.finish_jobs([Succeeded(lease_of(claimed))], now=LATER) == [True]
    done = adapter.get_job(job.id)
    assert isinstance(done, FinishedJob)
    assert done.state == "succeeded"
    assert done.finished_at == LATER
    assert done.attempts == 1
    assert (done.payload, done.created_at, done.available_at) == (
        job.payload,
        job.created_at,
        job.available_at,
    )


def test_failure_moves_the_job_to_jobs_failed_with_the_error(adapter: BaseAdapter) -> None:
    [job] = enqueue_plain(adapter, 1)
    claimed = _claim_one(adapter)
    outcome = Failed(lease_of(claimed), "ValueError: bad input", "Traceback (most recent...)")
    assert adapter.finish_jobs([outcome], now=LATER) == [True]
    done = adapter.get_job(job.id)
    assert isinstance(done, FinishedJob)
    assert (done.state, done.exception, done.traceback) == (
        "failed",
        "ValueError: bad input",
        "Traceback (most recent...)",
    )


def test_a_huge_traceback_keeps_its_last_64_kib(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 1)
    claimed = _claim_one(adapter)
    traceback = "frame\n" * 50_000 + "KeyError: 'the line that matters'"
    adapter.fail_job(lease_of(claimed), exception="KeyError: x", traceback=traceback, now=LATER)
    done = adapter.get_job(claimed.id)
    assert isinstance(done, FinishedJob) and done.traceback is not None
    assert len(done.traceback.encode()) <= MAX_ERROR_TEXT_BYTES
    assert done.traceback.endswith("KeyError: 'the line that matters'")
    assert "bytes cut" in done.traceback


def test_retry_later_keeps_the_job_with_its_error_and_attempts(adapter: BaseAdapter) -> None:
    [job] = enqueue_plain(adapter, 1)
    claimed = _claim_one(adapter)
    retry_at = T0 + timedelta(minutes=1)
    assert adapter.finish_jobs(
        [RetryLater(lease_of(claimed), retry_at, "OSError: timeout")], now=T0
    ) == [True]
    waiting = adapter.get_job(job.id)
    assert isinstance(waiting, Job)
    assert (waiting.available_at, waiting.last_error, waiting.attempts) == (
        retry_at,
        "OSError: timeout",
        1,
    )
    assert waiting.reserved_by is None and waiting.reserved_at is None
    assert adapter.reserve_jobs(["work"], queue="q", limit=1, owner="w1", now=T0) == []
    again = _claim_one(adapter, now=retry_at)
    assert again.attempts == 2


def test_release_gives_the_attempt_back(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 1)
    claimed = _claim_one(adapter)
    adapter.release_job(lease_of(claimed), now=T0)
    again = _claim_one(adapter, owner="w2")
    assert again.attempts == 1
    assert again.available_at == claimed.available_at


@pytest.mark.parametrize(
    "wrong",
    [Lease("missing-id", "w1", 1), "other-owner", "other-attempt"],
    ids=["unknown-job", "other-owner", "other-attempt"],
)
def test_a_wrong_lease_changes_nothing(adapter: BaseAdapter, wrong: object) -> None:
    enqueue_plain(adapter, 1)
    claimed = _claim_one(adapter)
    lease = lease_of(claimed)
    if wrong == "other-owner":
        lease = Lease(claimed.id, "w2", claimed.attempts)
    elif wrong == "other-attempt":
        lease = Lease(claimed.id, "w1", claimed.attempts + 1)
    elif isinstance(wrong, Lease):
        lease = wrong
    outcomes = [
        Succeeded(lease),
        Failed(lease, "E: e", "tb"),
        RetryLater(lease, LATER, "E: e"),
        Released(lease),
    ]
    for outcome in outcomes:
        assert adapter.finish_jobs([outcome], now=LATER) == [False]
    assert adapter.get_job(claimed.id) == claimed
    with pytest.raises(LeaseLost):
        adapter.complete_job(lease, now=LATER)
    with pytest.raises(LeaseLost):
        adapter.fail_job(lease, exception="E: e", traceback="tb", now=LATER)
    with pytest.raises(LeaseLost):
        adapter.retry_job(lease, available_at=LATER, last_error="E: e", now=LATER)
    with pytest.raises(LeaseLost):
        adapter.release_job(lease, now=LATER)
    assert adapter.get_job(claimed.id) == claimed


@pytest.mark.parametrize("kind", ["succeeded", "failed", "retried", "released"])
def test_an_outcome_applied_twice_counts_as_done(adapter: BaseAdapter, kind: str) -> None:
    # What a retried transaction sees when its first COMMIT did happen.
    enqueue_plain(adapter, 1)
    lease = lease_of(_claim_one(adapter))
    outcome = {
        "succeeded": Succeeded(lease),
        "failed": Failed(lease, "E: e", "tb"),
        "retried": RetryLater(lease, LATER, "E: e"),
        "released": Released(lease),
    }[kind]
    assert adapter.finish_jobs([outcome], now=LATER) == [True]
    before = ids_by_table_counts(adapter)
    assert adapter.finish_jobs([outcome], now=LATER) == [True]
    assert ids_by_table_counts(adapter) == before


def ids_by_table_counts(adapter: BaseAdapter) -> tuple[int, int, int, int]:
    counts = adapter.count_jobs(now=LATER)
    return counts.waiting, counts.running, counts.succeeded, counts.failed


def test_a_batch_applies_every_kind_in_one_call(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 5)
    jobs = adapter.reserve_jobs(["work"], queue="q", limit=5, owner="w1", now=T0)
    stale = Lease(jobs[4].id, "someone-else", 1)
    results = adapter.finish_jobs(
        [
            Succeeded(lease_of(jobs[0])),
            Failed(lease_of(jobs[1]), "E: e", "tb"),
            RetryLater(lease_of(jobs[2]), LATER, "E: e"),
            Released(lease_of(jobs[3])),
            Succeeded(stale),
        ],
        now=T0,
    )
    assert results == [True, True, True, True, False]
    counts = adapter.count_jobs(now=T0)
    assert (counts.succeeded, counts.failed, counts.waiting, counts.running) == (1, 1, 2, 1)


def test_a_batch_naming_one_job_twice_is_refused(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 1)
    lease = lease_of(_claim_one(adapter))
    with pytest.raises(ValueError, match="twice"):
        adapter.finish_jobs([Succeeded(lease), Released(lease)], now=T0)
    assert adapter.count_jobs(now=T0).running == 1


def test_finishing_a_scheduled_run_inserts_its_next_row(adapter: BaseAdapter) -> None:
    adapter.insert_scheduled_job(
        "cleanup", schedule_text="every 5 minutes", available_at=T0, now=T0
    )
    run = adapter.reserve_scheduled_job("cleanup", owner="w1", now=T0)
    assert run is not None
    following = ScheduledNext("cleanup", "every 5 minutes", T0 + timedelta(minutes=5))
    assert adapter.finish_jobs([Succeeded(lease_of(run), following)], now=LATER) == [True]
    found = adapter.get_scheduled_job("cleanup")
    assert found is not None
    nxt, schedule_text = found
    assert nxt.id != run.id
    assert (nxt.name, nxt.scheduled_job, nxt.payload, nxt.attempts) == (
        "cleanup",
        "cleanup",
        None,
        0,
    )
    assert nxt.available_at == T0 + timedelta(minutes=5)
    assert schedule_text == "every 5 minutes"
    finished = adapter.get_job(run.id)
    assert isinstance(finished, FinishedJob) and finished.state == "succeeded"


def test_a_final_failure_of_a_scheduled_run_also_schedules_the_next(adapter: BaseAdapter) -> None:
    adapter.insert_scheduled_job("cleanup", schedule_text="at 03:00", available_at=T0, now=T0)
    run = adapter.reserve_scheduled_job("cleanup", owner="w1", now=T0)
    assert run is not None
    following = ScheduledNext("cleanup", "at 03:00", T0 + timedelta(days=1))
    adapter.fail_job(
        lease_of(run), exception="E: e", traceback="tb", now=LATER, next_scheduled=following
    )
    found = adapter.get_scheduled_job("cleanup")
    assert found is not None and found[0].available_at == T0 + timedelta(days=1)


def test_a_lost_lease_inserts_no_next_scheduled_row(adapter: BaseAdapter) -> None:
    adapter.insert_scheduled_job(
        "cleanup", schedule_text="every 5 minutes", available_at=T0, now=T0
    )
    run = adapter.reserve_scheduled_job("cleanup", owner="w1", now=T0)
    assert run is not None
    stale = Lease(run.id, "w2", run.attempts)
    following = ScheduledNext("cleanup", "every 5 minutes", T0 + timedelta(minutes=5))
    assert adapter.finish_jobs([Succeeded(stale, following)], now=LATER) == [False]
    found = adapter.get_scheduled_job("cleanup")
    assert found is not None and found[0].id == run.id  # still the one reserved row


def test_the_late_completion_of_a_rescued_job_is_fenced_out(adapter: BaseAdapter) -> None:
    """The scenario of SPEC 3.5: owner A stalls, is presumed dead, B finishes the job."""
    [job] = enqueue_plain(adapter, 1)
    adapter.register_worker("A", hostname="host-a", pid=1, now=T0)
    adapter.register_worker("B", hostname="host-b", pid=2, now=T0)
    by_a = _claim_one(adapter, owner="A")

    # A's heartbeat ages past the lease while B keeps beating.
    sweep_at = T0 + timedelta(seconds=31)
    assert adapter.heartbeat_worker("B", now=sweep_at)
    rescued = adapter.rescue_jobs(now=sweep_at, lease_seconds=30)
    assert [r.id for r in rescued] == [job.id]
    assert rescued[0].attempts == 1  # a rescue keeps the attempt
    assert [w.id for w in adapter.list_workers()] == ["B"]

    by_b = _claim_one(adapter, owner="B", now=sweep_at)
    assert by_b.attempts == 2
    adapter.complete_job(lease_of(by_b), now=sweep_at)

    # A wakes up and reports, for every kind of outcome: nothing changes.
    late = lease_of(by_a)
    for outcome in (
        Succeeded(late),
        Failed(late, "E: e", "tb"),
        RetryLater(late, LATER, "E: e"),
        Released(late),
    ):
        assert adapter.finish_jobs([outcome], now=sweep_at) == [False]
    with pytest.raises(LeaseLost):
        adapter.complete_job(late, now=sweep_at)
    done = adapter.get_job(job.id)
    assert isinstance(done, FinishedJob)
    assert (done.state, done.attempts) == ("succeeded", 2)


def test_every_job_ends_in_exactly_one_table(adapter: BaseAdapter, database_url: str) -> None:
    jobs = enqueue_plain(adapter, 12)
    claimed = adapter.reserve_jobs(["work"], queue="q", limit=12, owner="w", now=T0)
    adapter.finish_jobs(
        [
            Succeeded(lease_of(job)) if n % 3 == 0 else
            Failed(lease_of(job), "E: e", "tb") if n % 3 == 1 else
            RetryLater(lease_of(job), LATER, "E: e")
            for n, job in enumerate(claimed)
        ],
        now=T0,
    )  # fmt: skip
    tables = ids_by_table(database_url)
    everywhere = [job_id for ids in tables.values() for job_id in ids]
    assert sorted(everywhere) == sorted(job.id for job in jobs)
    assert [len(ids) for ids in tables.values()] == [4, 4, 4]
