"""A stored row whose payload cannot be decoded fails alone; its neighbours run.

Rows like these come from raw SQL, another application or a bad migration:
bgjobs never writes them, but one of them must never stop a queue.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bgjobs.db import Succeeded, lease_of
from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import Job, JobRequest, UnreadablePayload
from tests.db.support import T0, ids_by_table, is_postgres, raw_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: JSON nested 100,000 levels deep: valid JSON that json.loads cannot decode.
DEEP = "[" * 100_000 + "]" * 100_000

BAD_PAYLOADS = {"not-json": "{'single': quotes}", "too-deep": DEEP}


def corrupt(url: str, job: Job, text: str) -> None:
    """Overwrite a stored payload behind bgjobs' back, as another app would."""
    raw_rows(url, "UPDATE jobs SET payload = ? WHERE id = ?", (text, job.id))


@pytest.mark.parametrize("kind", sorted(BAD_PAYLOADS))
def test_an_undecodable_row_fails_alone_and_its_batch_mates_are_claimed(
    adapter: BaseAdapter, database_url: str, kind: str
) -> None:
    jobs = adapter.enqueue_many([JobRequest("work", {"n": n}) for n in range(5)], now=T0)
    bad = jobs[2]
    corrupt(database_url, bad, BAD_PAYLOADS[kind])

    claimed = adapter.reserve_jobs(["work"], queue="q", limit=10, owner="w1", now=T0)

    assert [job.id for job in claimed] == [job.id for job in jobs if job is not bad]
    assert [job.payload for job in claimed] == [{"n": n} for n in (0, 1, 3, 4)]
    failed = adapter.get_job(bad.id)
    assert failed is not None and failed.state == "failed"  # type: ignore[union-attr]
    assert failed.exception.startswith(  # type: ignore[union-attr]
        f"PayloadError: the stored payload of job {bad.id} is not valid JSON"
    )
    assert failed.attempts == 1
    # Its batch-mates are ours to finish; nothing else stays reserved.
    assert all(adapter.finish_jobs([Succeeded(lease_of(job)) for job in claimed], now=T0))
    tables = ids_by_table(database_url)
    assert tables["jobs"] == [] and tables["jobs_failed"] == [bad.id]
    assert sorted(tables["jobs_succeeded"]) == sorted(job.id for job in claimed)


def test_a_payload_of_bytes_that_are_not_utf8_fails_alone_on_sqlite(sqlite_url: str) -> None:
    from bgjobs.db import adapter_from_url

    adapter = adapter_from_url(sqlite_url)
    adapter.migrate()
    try:
        jobs = adapter.enqueue_many([JobRequest("work", n) for n in range(3)], now=T0)
        raw_rows(
            sqlite_url,
            "UPDATE jobs SET payload = CAST(X'7B22FF227D' AS TEXT) WHERE id = ?",
            (jobs[1].id,),
        )
        [listed] = [job for job in adapter.list_jobs("jobs") if job.id == jobs[1].id]
        assert isinstance(listed.payload, UnreadablePayload)
        claimed = adapter.reserve_jobs(["work"], queue="q", limit=10, owner="w", now=T0)
        assert [job.payload for job in claimed] == [0, 2]
        failed = adapter.get_job(jobs[1].id)
        assert failed is not None and failed.state == "failed"  # type: ignore[union-attr]
        assert "is not valid UTF-8 text" in failed.exception  # type: ignore[union-attr]
    finally:
        adapter.close()


def test_listings_and_get_job_show_an_unreadable_payload_instead_of_crashing(
    adapter: BaseAdapter, database_url: str
) -> None:
    [job] = adapter.enqueue_many([JobRequest("work", 1)], now=T0)
    corrupt(database_url, job, "not json at all")
    [listed] = adapter.list_jobs("jobs")
    assert isinstance(listed.payload, UnreadablePayload)
    assert listed.payload.text == "not json at all"
    assert "not valid JSON" in listed.payload.error
    found = adapter.get_job(job.id)
    assert found is not None and found.payload == listed.payload
    adapter.reserve_jobs(["work"], queue="q", limit=1, owner="w", now=T0)
    [failed] = adapter.list_jobs("failed")
    assert isinstance(failed.payload, UnreadablePayload)


def test_the_cli_lists_an_unreadable_row(adapter: BaseAdapter, database_url: str) -> None:
    [job] = adapter.enqueue_many([JobRequest("work", 1)], now=T0)
    corrupt(database_url, job, DEEP)
    for extra in ([], ["--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "bgjobs", "jobs", "list", "--db", database_url, *extra],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert job.id in result.stdout and "Traceback" not in result.stderr


def test_a_worker_runs_the_good_jobs_around_a_bad_row(
    adapter: BaseAdapter, database_url: str
) -> None:
    import bgjobs
    from bgjobs import Queue, Worker
    from tests.runtime.test_runtime import wait_until

    ran: list[int] = []
    jobs = adapter.enqueue_many([JobRequest("work", n) for n in range(20)])
    for bad, text in zip((jobs[3], jobs[11]), BAD_PAYLOADS.values(), strict=True):
        corrupt(database_url, bad, text)
    queue = Queue("default").with_worker(Worker("work", lambda job: ran.append(job.payload)))
    with bgjobs.new(adapter).with_queue(queue).build():
        wait_until(lambda: len(ran) == 18)
        wait_until(lambda: adapter.count_jobs(now=T0.replace(year=2100)).failed == 2)
    assert sorted(ran) == [n for n in range(20) if n not in (3, 11)]
    assert {job.id for job in adapter.list_jobs("failed")} == {jobs[3].id, jobs[11].id}
    if is_postgres(database_url):
        assert raw_rows(database_url, "SELECT count(*) FROM jobs")[0][0] == 0
