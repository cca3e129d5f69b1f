"""What the CLI reads and does by hand: lists, lookups, retry, delete, prune, counts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bgjobs.db import Failed, Succeeded, lease_of
from bgjobs.db.adapter import FinishedJob
from bgjobs.db.base import BaseAdapter
from bgjobs.errors import JobNotFound
from bgjobs.jobs import Job, JobRequest
from tests.db.support import T0, enqueue_plain


def _finish(adapter: BaseAdapter, count: int, *, fail: bool, at: object = T0) -> list[Job]:
    jobs = adapter.reserve_jobs(["work"], queue="q", limit=count, owner="w", now=T0)
    adapter.finish_jobs(
        [Failed(lease_of(j), "E: boom", "tb") if fail else Succeeded(lease_of(j)) for j in jobs],
        now=at,  # type: ignore[arg-type]
    )
    return jobs


def test_list_jobs_in_claim_order_and_finished_newest_first(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 3)
    first = _finish(adapter, 1, fail=False, at=T0)
    second = _finish(adapter, 1, fail=False, at=T0 + timedelta(seconds=1))
    adapter.enqueue(JobRequest("work", "urgent").with_priority(3), now=T0)
    waiting = adapter.list_jobs("jobs")
    assert [j.payload for j in waiting] == ["urgent", {"n": 2}]
    succeeded = adapter.list_jobs("succeeded")
    assert [j.id for j in succeeded] == [second[0].id, first[0].id]
    assert adapter.list_jobs("failed") == []
    assert len(adapter.list_jobs("jobs", limit=1)) == 1
    with pytest.raises(ValueError, match="state"):
        adapter.list_jobs("finished")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit"):
        adapter.list_jobs("jobs", limit=0)


def test_get_job_finds_a_job_in_any_table(adapter: BaseAdapter) -> None:
    waiting, done, failed = enqueue_plain(adapter, 3)
    claimed = adapter.reserve_jobs(["work"], queue="q", limit=3, owner="w", now=T0)
    adapter.finish_jobs(
        [Succeeded(lease_of(claimed[1])), Failed(lease_of(claimed[2]), "E: e", "tb")], now=T0
    )
    assert isinstance(adapter.get_job(waiting.id), Job)
    found = adapter.get_job(done.id)
    assert isinstance(found, FinishedJob) and found.state == "succeeded"
    found = adapter.get_job(failed.id)
    assert isinstance(found, FinishedJob) and found.state == "failed"
    assert adapter.get_job("no-such-id") is None


def test_retry_failed_job_moves_it_back_as_a_fresh_plain_job(adapter: BaseAdapter) -> None:
    [job] = enqueue_plain(adapter, 1)
    _finish(adapter, 1, fail=True)
    later = T0 + timedelta(hours=1)
    retried = adapter.retry_failed_job(job.id, now=later)
    assert (retried.id, retried.attempts, retried.available_at) == (job.id, 0, later)
    assert retried.last_error == "E: boom"
    assert retried.payload == job.payload and retried.created_at == job.created_at
    assert adapter.count_jobs(now=later).failed == 0
    with pytest.raises(JobNotFound):
        adapter.retry_failed_job(job.id, now=later)


def test_retrying_a_failed_scheduled_run_makes_a_plain_job(adapter: BaseAdapter) -> None:
    adapter.insert_scheduled_job("nightly", schedule_text="at 03:00", available_at=T0, now=T0)
    run = adapter.reserve_scheduled_job("nightly", owner="w", now=T0)
    assert run is not None
    adapter.fail_job(lease_of(run), exception="E: e", traceback="tb", now=T0)
    retried = adapter.retry_failed_job(run.id, now=T0)
    assert retried.scheduled_job is None and retried.name == "nightly"
    assert adapter.get_scheduled_job("nightly") is None
    [claimed] = adapter.reserve_jobs(["nightly"], queue="q", limit=1, owner="w", now=T0)
    assert claimed.id == run.id


def test_delete_job_says_where_it_was(adapter: BaseAdapter) -> None:
    waiting, done = enqueue_plain(adapter, 2)
    claimed = adapter.reserve_jobs(["work"], queue="q", limit=2, owner="w", now=T0)
    adapter.finish_jobs([Succeeded(lease_of(claimed[1]))], now=T0)
    assert adapter.delete_job(waiting.id) == "jobs"
    assert adapter.delete_job(done.id) == "succeeded"
    with pytest.raises(JobNotFound):
        adapter.delete_job(done.id)


def test_prune_deletes_old_finished_rows_in_batches(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 7)
    _finish(adapter, 5, fail=False, at=T0)
    _finish(adapter, 2, fail=False, at=T0 + timedelta(days=2))
    cutoff = T0 + timedelta(days=1)
    assert adapter.prune_finished("succeeded", older_than=cutoff, batch_size=2) == 2
    assert adapter.prune_finished("succeeded", older_than=cutoff, batch_size=2) == 2
    assert adapter.prune_finished("succeeded", older_than=cutoff, batch_size=2) == 1
    assert adapter.prune_finished("succeeded", older_than=cutoff, batch_size=2) == 0
    assert adapter.count_jobs(now=T0).succeeded == 2
    assert adapter.prune_finished("failed", older_than=cutoff) == 0
    with pytest.raises(ValueError, match="state"):
        adapter.prune_finished("jobs", older_than=cutoff)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        adapter.prune_finished("failed", older_than=cutoff, batch_size=0)


def test_counts_by_state_and_name(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 4)
    adapter.enqueue(JobRequest("other").available_in(timedelta(hours=1)), now=T0)
    claimed = adapter.reserve_jobs(["work"], queue="q", limit=3, owner="w", now=T0)
    adapter.finish_jobs(
        [Succeeded(lease_of(claimed[0])), Failed(lease_of(claimed[1]), "E: e", "tb")], now=T0
    )
    counts = adapter.count_jobs(now=T0)
    assert (counts.waiting, counts.running, counts.succeeded, counts.failed) == (2, 1, 1, 1)
    assert counts.by_name == {
        "other": {"waiting": 1, "running": 0, "due": 0, "succeeded": 0, "failed": 0},
        "work": {"waiting": 1, "running": 1, "due": 1, "succeeded": 1, "failed": 1},
    }
