"""Transactions run twice must not double anything; a locked SQLite file is waited out.

A dropped PostgreSQL connection during COMMIT leaves the first run's outcome
unknown, so the adapter runs the transaction again. These tests run the
adapter's own transaction bodies twice on a real server, with the first run
committed or rolled back, and check the second run's answer.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from bgjobs.db import SqliteAdapter, Succeeded, lease_of
from bgjobs.db.records import prepare_jobs
from bgjobs.jobs import JobRequest
from tests.db.support import T0, enqueue_plain, raw_rows


@pytest.fixture
def pg(postgres_url: str):  # type: ignore[no-untyped-def]
    from bgjobs.db import PostgresAdapter

    adapter = PostgresAdapter(postgres_url)
    adapter.migrate()
    yield adapter
    adapter.close()


def _claim_body():  # type: ignore[no-untyped-def]
    from bgjobs.db.postgres import _Q
    from bgjobs.db.postgres_statements import Claim

    params = {"names": ["work"], "queue": "q", "limit": 3, "owner": "w", "now": T0}
    return Claim(_Q["claim_jobs"], params)


@pytest.mark.postgres
@pytest.mark.parametrize("first_commit", [True, False], ids=["committed", "rolled-back"])
def test_a_claim_run_again_returns_exactly_the_jobs_it_holds(
    pg, postgres_url: str, first_commit: bool
) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    enqueue_plain(pg, 10)
    claim = _claim_body()
    with psycopg.connect(postgres_url) as conn:
        first = claim(conn)
        conn.commit() if first_commit else conn.rollback()
        second = claim(conn)
        conn.commit()
    assert len(first) == len(second) == 3
    assert {row["id"] for row in second} == {row["id"] for row in first}
    reserved = raw_rows(postgres_url, "SELECT id, attempts FROM jobs WHERE reserved_by = 'w'")
    assert sorted(reserved) == sorted((row["id"], 1) for row in second)


@pytest.mark.postgres
@pytest.mark.parametrize("use_copy", [True, False], ids=["copy", "insert"])
def test_an_enqueue_run_again_never_brings_back_a_finished_job(
    pg, postgres_url: str, use_copy: bool
) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    from bgjobs.db.postgres_statements import insert_jobs

    new_jobs = prepare_jobs([JobRequest("work", n) for n in range(100)], T0)
    with psycopg.connect(postgres_url) as conn:
        insert_jobs(conn, new_jobs, T0, [], again=False, use_copy=use_copy)
        conn.commit()
    # Before the retry gets through, some of the jobs run and finish.
    claimed = pg.reserve_jobs(["work"], queue="q", limit=60, owner="w", now=T0)
    pg.finish_jobs([Succeeded(lease_of(job)) for job in claimed], now=T0)
    with psycopg.connect(postgres_url) as conn:
        again = insert_jobs(conn, new_jobs, T0, [], again=True, use_copy=use_copy)
        conn.commit()
    assert [job.id for job in again] == [job.id for job in new_jobs]
    assert raw_rows(postgres_url, "SELECT count(*) FROM jobs") == [(40,)]
    assert raw_rows(postgres_url, "SELECT count(*) FROM jobs_succeeded") == [(60,)]


@pytest.mark.postgres
def test_an_enqueue_run_again_returns_its_own_rows(pg, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    from bgjobs.db.postgres_statements import insert_jobs

    new_jobs = prepare_jobs([JobRequest("work", 1), JobRequest("work", 2).with_unique_key("k")], T0)
    with psycopg.connect(postgres_url) as conn:
        first = insert_jobs(conn, new_jobs, T0, [], again=False, use_copy=False)
        conn.commit()
        again = insert_jobs(conn, new_jobs, T0, [], again=True, use_copy=False)
        conn.commit()
    assert again == first
    assert raw_rows(postgres_url, "SELECT count(*) FROM jobs") == [(2,)]


def test_a_locked_sqlite_file_is_waited_out_not_reported(tmp_path: object) -> None:
    path = f"{tmp_path}/jobs.db"
    adapter = SqliteAdapter(path, busy_timeout=0.05)
    adapter.migrate()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    outcome: list[object] = []
    writer = threading.Thread(
        target=lambda: outcome.append(adapter.enqueue(JobRequest("x"), now=T0))
    )
    writer.start()
    time.sleep(0.5)  # ten busy timeouts: SQLite has said "database is locked" many times
    assert writer.is_alive() and outcome == []
    blocker.execute("COMMIT")
    blocker.close()
    writer.join(timeout=30)
    assert len(outcome) == 1
    assert adapter.count_jobs(now=T0).waiting == 1
    adapter.close()


@pytest.mark.postgres
@pytest.mark.parametrize("first_commit", [True, False], ids=["committed", "rolled-back"])
def test_a_cancel_run_again_still_says_cancelled(pg, postgres_url: str, first_commit: bool) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    from bgjobs.db.postgres_statements import Cancel
    from bgjobs.db.records import CANCELLED

    [job] = enqueue_plain(pg, 1)
    cancel = Cancel({"id": job.id, "now": T0, "exception": CANCELLED})
    with psycopg.connect(postgres_url) as conn:
        assert cancel(conn) == "cancelled"
        conn.commit() if first_commit else conn.rollback()
        assert cancel(conn) == "cancelled"
        conn.commit()
    assert raw_rows(postgres_url, "SELECT id FROM jobs_failed") == [(job.id,)]
    assert raw_rows(postgres_url, "SELECT id FROM jobs") == []
    # A later, separate cancel of the same job finds nothing to cancel.
    assert pg.cancel(job.id, now=T0) == "not_found"
