"""Worker processes: registration, heartbeats, and the rescue of dead owners' jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import Job, JobRequest
from tests.db.support import T0, enqueue_plain

LEASE = 30.0


def _claim(adapter: BaseAdapter, owner: str, count: int = 1, now: object = T0) -> list[Job]:
    return adapter.reserve_jobs(["work"], queue="q", limit=count, owner=owner, now=now)  # type: ignore[arg-type]


def test_register_heartbeat_and_remove(adapter: BaseAdapter) -> None:
    adapter.register_worker("w1", hostname="web-1", pid=4242, now=T0)
    [row] = adapter.list_workers()
    assert (row.id, row.hostname, row.pid, row.started_at, row.heartbeat_at) == (
        "w1",
        "web-1",
        4242,
        T0,
        T0,
    )
    assert adapter.heartbeat_worker("w1", now=T0 + timedelta(seconds=5))
    assert adapter.list_workers()[0].heartbeat_at == T0 + timedelta(seconds=5)
    adapter.remove_worker("w1")
    assert adapter.list_workers() == []
    assert adapter.heartbeat_worker("w1", now=T0) is False


def test_a_worker_row_holds_its_heartbeat_settings(adapter: BaseAdapter) -> None:
    every, lease = timedelta(milliseconds=1500), timedelta(minutes=2)
    adapter.register_worker("w1", hostname="h", pid=1, now=T0, heartbeat_every=every, lease=lease)
    adapter.register_worker("w2", hostname="h", pid=2, now=T0)  # as an older bgjobs wrote it
    rows = {row.id: (row.heartbeat_every, row.lease) for row in adapter.list_workers()}
    assert rows == {"w1": (every, lease), "w2": (None, None)}


def test_registering_again_refreshes_the_row(adapter: BaseAdapter) -> None:
    adapter.register_worker("w1", hostname="h", pid=1, now=T0)
    adapter.register_worker("w1", hostname="h", pid=1, now=T0 + timedelta(seconds=9))
    [row] = adapter.list_workers()
    assert row.started_at == T0 and row.heartbeat_at == T0 + timedelta(seconds=9)


def test_rescue_frees_the_jobs_of_a_silent_worker(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 3)
    adapter.register_worker("dead", hostname="h", pid=1, now=T0)
    adapter.register_worker("alive", hostname="h", pid=2, now=T0)
    lost = _claim(adapter, "dead", 2)
    kept = _claim(adapter, "alive", 1)
    sweep = T0 + timedelta(seconds=LEASE + 1)
    adapter.heartbeat_worker("alive", now=sweep)

    rescued = adapter.rescue_jobs(now=sweep, lease_seconds=LEASE)

    assert sorted(job.id for job in rescued) == sorted(job.id for job in lost)
    for job in rescued:
        assert job.reserved_by is None and job.reserved_at is None
        assert job.attempts == 1  # kept: the run may have had effects
        assert job.available_at <= sweep  # available at once
    assert [w.id for w in adapter.list_workers()] == ["alive"]
    still = adapter.get_job(kept[0].id)
    assert isinstance(still, Job) and still.reserved_by == "alive"
    again = _claim(adapter, "alive", 5, now=sweep)
    assert sorted(job.id for job in again) == sorted(job.id for job in lost)
    assert {job.attempts for job in again} == {2}


def test_a_heartbeat_inside_the_lease_protects_the_jobs(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 1)
    adapter.register_worker("w", hostname="h", pid=1, now=T0)
    _claim(adapter, "w")
    assert adapter.rescue_jobs(now=T0 + timedelta(seconds=LEASE), lease_seconds=LEASE) == []
    assert len(adapter.list_workers()) == 1


def test_jobs_of_an_owner_without_a_row_are_rescued_once_older_than_the_lease(
    adapter: BaseAdapter,
) -> None:
    # A process that stopped (and deleted its row) while a job was still running.
    enqueue_plain(adapter, 1)
    [job] = _claim(adapter, "gone")
    # A reservation younger than the lease might belong to a process that has
    # only just registered: it is left alone.
    assert adapter.rescue_jobs(now=T0 + timedelta(seconds=5), lease_seconds=LEASE) == []
    [rescued] = adapter.rescue_jobs(now=T0 + timedelta(seconds=LEASE + 1), lease_seconds=LEASE)
    assert rescued.id == job.id and rescued.reserved_by is None


def test_a_rescued_job_is_available_at_the_rescuers_now(adapter: BaseAdapter) -> None:
    # A host whose clock ran ten minutes ahead claimed a job due "in the future"
    # and then hung; a host with the right time rescues it.
    ahead = T0 + timedelta(minutes=10)
    job = adapter.enqueue(JobRequest("work").available_at(ahead), now=T0)
    adapter.register_worker("fast", hostname="h", pid=1, now=T0)
    _claim(adapter, "fast", now=ahead)
    sweep = T0 + timedelta(minutes=5)
    [rescued] = adapter.rescue_jobs(now=sweep, lease_seconds=LEASE)
    assert rescued.id == job.id
    assert rescued.available_at == sweep
    assert [j.id for j in _claim(adapter, "right", now=sweep)] == [job.id]


def test_rescue_refuses_a_nonsense_lease(adapter: BaseAdapter) -> None:
    with pytest.raises(ValueError, match="lease"):
        adapter.rescue_jobs(now=T0, lease_seconds=0)


def test_a_live_owner_gives_back_only_its_old_untracked_reservations(
    adapter: BaseAdapter,
) -> None:
    enqueue_plain(adapter, 6)
    tracked, untracked = _claim(adapter, "me", 2)
    fresh = _claim(adapter, "me", 1, now=T0 + timedelta(seconds=20))
    others = _claim(adapter, "someone-else", 1)

    released = adapter.release_untracked_jobs(
        "me", keep={tracked.id}, claimed_before=T0 + timedelta(seconds=15)
    )

    assert [job.id for job in released] == [untracked.id]
    by_id = {job.id: job for job in adapter.list_jobs("jobs")}  # type: ignore[union-attr]
    back = by_id[untracked.id]
    assert (back.reserved_by, back.attempts) == (None, 0)  # the attempt is given back
    assert by_id[tracked.id].reserved_by == "me"
    assert by_id[fresh[0].id].reserved_by == "me"  # claimed too recently to judge
    assert by_id[others[0].id].reserved_by == "someone-else"
    # Nothing left to give back: a second sweep changes nothing.
    assert adapter.release_untracked_jobs("me", keep=(), claimed_before=T0) == []
