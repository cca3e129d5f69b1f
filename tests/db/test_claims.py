"""Claims: order, limits, routing, and races between threads and between processes."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bgjobs.db import Succeeded, lease_of
from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import Job, JobRequest
from tests.db.support import T0, enqueue_plain, ids_by_table

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_a_claim_reserves_and_counts_the_attempt(adapter: BaseAdapter) -> None:
    [job] = enqueue_plain(adapter, 1)
    [claimed] = adapter.reserve_jobs(["work"], queue="default", limit=5, owner="w1", now=T0)
    assert claimed.id == job.id
    assert claimed.attempts == 1
    assert claimed.reserved_by == "w1"
    assert claimed.reserved_at == T0
    assert claimed.payload == job.payload
    assert adapter.reserve_jobs(["work"], queue="default", limit=5, owner="w2", now=T0) == []


def test_claim_order_is_priority_then_available_at_then_id(adapter: BaseAdapter) -> None:
    early, late = T0 - timedelta(minutes=2), T0 - timedelta(minutes=1)
    jobs = adapter.enqueue_many(
        [
            JobRequest("w", "late-low").available_at(late),
            JobRequest("w", "early-low").available_at(early),
            JobRequest("w", "late-high").available_at(late).with_priority(5),
            JobRequest("w", "early-negative").available_at(early).with_priority(-1),
            JobRequest("w", "late-low-2").available_at(late),
            JobRequest("w", "early-high").available_at(early).with_priority(5),
        ],
        now=T0,
    )
    claimed = adapter.reserve_jobs(["w"], queue="q", limit=10, owner="o", now=T0)
    assert [job.payload for job in claimed] == [
        "early-high",
        "late-high",
        "early-low",
        "late-low",
        "late-low-2",  # same time and priority as late-low: the later id comes second
        "early-negative",
    ]
    assert len(jobs) == len(claimed)


def test_a_claim_never_returns_more_than_its_limit(adapter: BaseAdapter) -> None:
    enqueue_plain(adapter, 10)
    sizes = [
        len(adapter.reserve_jobs(["work"], queue="q", limit=limit, owner="o", now=T0))
        for limit in (3, 1, 4, 5)
    ]
    assert sizes == [3, 1, 4, 2]


def test_jobs_not_yet_due_wait(adapter: BaseAdapter) -> None:
    job = adapter.enqueue(JobRequest("w").available_in(timedelta(hours=1)), now=T0)
    assert adapter.reserve_jobs(["w"], queue="q", limit=5, owner="o", now=T0) == []
    later = T0 + timedelta(hours=1)
    assert [
        j.id for j in adapter.reserve_jobs(["w"], queue="q", limit=5, owner="o", now=later)
    ] == [job.id]


def test_a_queue_claims_its_own_jobs_and_unrouted_ones_only(adapter: BaseAdapter) -> None:
    free = adapter.enqueue(JobRequest("w", "free"), now=T0)
    mine = adapter.enqueue(JobRequest("w", "mine").on_queue("mail"), now=T0)
    adapter.enqueue(JobRequest("w", "theirs").on_queue("reports"), now=T0)
    adapter.enqueue(JobRequest("other_name", "not handled"), now=T0)
    claimed = adapter.reserve_jobs(["w"], queue="mail", limit=10, owner="o", now=T0)
    assert {job.id for job in claimed} == {free.id, mine.id}
    [theirs] = adapter.reserve_jobs(["w", "x"], queue="reports", limit=10, owner="o", now=T0)
    assert theirs.payload == "theirs"


def test_queue_claims_never_take_scheduled_rows(adapter: BaseAdapter) -> None:
    adapter.insert_scheduled_job("cleanup", schedule_text="every 1 minute", available_at=T0, now=T0)
    assert adapter.reserve_jobs(["cleanup"], queue="q", limit=5, owner="o", now=T0) == []
    scheduled = adapter.reserve_scheduled_job("cleanup", owner="o", now=T0)
    assert scheduled is not None and scheduled.scheduled_job == "cleanup"


def test_bad_claim_arguments_are_refused(adapter: BaseAdapter) -> None:
    with pytest.raises(TypeError, match="string"):
        adapter.reserve_jobs("work", queue="q", limit=1, owner="o", now=T0)
    with pytest.raises(ValueError, match="limit"):
        adapter.reserve_jobs(["work"], queue="q", limit=0, owner="o", now=T0)
    with pytest.raises(ValueError, match="owner"):
        adapter.reserve_jobs(["work"], queue="q", limit=1, owner="", now=T0)
    with pytest.raises(ValueError, match="aware"):
        adapter.reserve_jobs(["work"], queue="q", limit=1, owner="o", now=T0.replace(tzinfo=None))
    assert adapter.reserve_jobs([], queue="q", limit=1, owner="o", now=T0) == []


def test_next_available_at_is_the_earliest_claimable_time(adapter: BaseAdapter) -> None:
    assert adapter.next_available_at(["w"], queue="q") is None
    adapter.enqueue(JobRequest("w").available_in(timedelta(minutes=9)), now=T0)
    adapter.enqueue(JobRequest("w").available_in(timedelta(minutes=3)).on_queue("other"), now=T0)
    adapter.enqueue(JobRequest("w").available_in(timedelta(minutes=5)), now=T0)
    adapter.insert_scheduled_job("w", schedule_text="every 1 minute", available_at=T0, now=T0)
    assert adapter.next_available_at(["w"], queue="q") == T0 + timedelta(minutes=5)
    assert adapter.next_available_at(["w"], queue="other") == T0 + timedelta(minutes=3)


# -- the property: every claim returns exactly the first `limit` claimable jobs ------------

_job_specs = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),  # name
        st.integers(-2, 2),  # priority
        st.integers(-3, 3),  # available_at offset from now, seconds
        st.sampled_from([None, "q1", "q2"]),  # queue
    ),
    max_size=25,
)
_claims = st.lists(
    st.tuples(
        st.integers(1, 8),  # limit
        st.frozensets(st.sampled_from(["a", "b", "c"]), min_size=1),  # names
        st.sampled_from(["q1", "q2"]),  # the claiming queue
    ),
    min_size=1,
    max_size=8,
)


# No deadline: each example talks to a real database, whose speed is not under test.
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(job_specs=_job_specs, claims=_claims)
def test_claims_take_exactly_the_first_claimable_jobs_in_order(
    adapter: BaseAdapter,
    job_specs: list[tuple[str, int, int, str | None]],
    claims: list[tuple[int, frozenset[str], str]],
) -> None:
    # Each example gets its own names, so rows left by earlier examples never match.
    prefix = uuid.uuid4().hex[:8] + "-"
    requests = []
    for name, priority, offset, queue in job_specs:
        request = JobRequest(prefix + name).with_priority(priority)
        request = request.available_at(T0 + timedelta(seconds=offset))
        requests.append(request.on_queue(queue) if queue else request)
    waiting: list[Job] = adapter.enqueue_many(requests, now=T0)
    for limit, names, queue in claims:
        wanted = {prefix + name for name in names}
        claimable = sorted(
            (
                job
                for job in waiting
                if job.name in wanted and job.available_at <= T0 and job.queue in (None, queue)
            ),
            key=lambda job: (-job.priority, job.available_at, job.id),
        )
        claimed = adapter.reserve_jobs(wanted, queue=queue, limit=limit, owner="o", now=T0)
        assert [job.id for job in claimed] == [job.id for job in claimable[:limit]]
        taken = {job.id for job in claimed}
        waiting = [job for job in waiting if job.id not in taken]


# -- races -----------------------------------------------------------------------------------


def test_threads_racing_claim_every_job_exactly_once(
    adapter: BaseAdapter, database_url: str
) -> None:
    jobs = enqueue_plain(adapter, 400)
    claimed: list[list[str]] = []
    errors: list[BaseException] = []
    too_many: list[tuple[int, int]] = []
    start = threading.Barrier(8)

    def claimer(number: int) -> None:
        mine: list[str] = []
        rng = random.Random(number)
        try:
            start.wait()
            while True:
                limit = rng.randint(1, 7)
                batch = adapter.reserve_jobs(
                    ["work"], queue="q", limit=limit, owner=f"w{number}", now=T0
                )
                if len(batch) > limit:
                    too_many.append((len(batch), limit))
                if not batch:
                    break
                mine.extend(job.id for job in batch)
                results = adapter.finish_jobs([Succeeded(lease_of(job)) for job in batch], now=T0)
                assert all(results)
        except BaseException as exc:
            errors.append(exc)
        claimed.append(mine)

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert too_many == []
    counts = Counter(job_id for ids in claimed for job_id in ids)
    assert set(counts) == {job.id for job in jobs}
    assert max(counts.values()) == 1
    tables = ids_by_table(database_url)
    assert tables["jobs"] == []
    assert sorted(tables["jobs_succeeded"]) == sorted(job.id for job in jobs)


@pytest.mark.slow
def test_processes_racing_claim_every_job_exactly_once(
    adapter: BaseAdapter, database_url: str
) -> None:
    jobs = enqueue_plain(adapter, 1500)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.db.worker_process", "claim", database_url, f"p{n}", "3"],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    claimed: list[str] = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        report = json.loads(out)
        assert report["over_limit"] == 0
        claimed.extend(report["claimed"])
    counts = Counter(claimed)
    assert set(counts) == {job.id for job in jobs}
    assert max(counts.values()) == 1
    tables = ids_by_table(database_url)
    assert tables["jobs"] == [] and len(tables["jobs_succeeded"]) == len(jobs)
