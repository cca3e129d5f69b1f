"""The dashboard's reads on both databases: keyset pages cover a list exactly once, counts are
right and bounded, the chart adds up, and the statements walk indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bgjobs import JobRequest
from bgjobs.dashboard import summaries
from bgjobs.dashboard.listing import PAGE_SIZE, CursorError, Filters, _statement, list_jobs
from bgjobs.dashboard.reader import reader_for
from bgjobs.db.adapter import Failed, Lease, Succeeded

NOW = datetime(2026, 11, 29, 12, 0, 30, tzinfo=UTC)


def finish(
    adapter: Any, names: list[str], *, failed: bool, at: datetime, queue: str = "q"
) -> list[str]:
    """Enqueue, claim and finish jobs in one batch: they share one finished time."""
    jobs = adapter.enqueue_many(
        [JobRequest(n, {"i": i}).on_queue(queue) for i, n in enumerate(names)], now=at
    )
    claimed = adapter.reserve_jobs(
        sorted(set(names)), queue=queue, limit=len(jobs), owner="w", now=at
    )
    assert len(claimed) == len(jobs)
    outcomes = [
        Failed(Lease(j.id, "w", j.attempts), "E: x", "tb")
        if failed
        else Succeeded(Lease(j.id, "w", j.attempts))
        for j in claimed
    ]
    assert all(adapter.finish_jobs(outcomes, now=at))
    return [j.id for j in claimed]


def all_pages(reader: Any, filters: Filters) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        page = list_jobs(reader, filters, cursor)
        assert len(page.jobs) <= PAGE_SIZE
        ids += [job.id for job in page.jobs]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor
    raise AssertionError("paging did not end")


def test_finished_pages_cover_every_row_once_newest_first(adapter: Any) -> None:
    reader = reader_for(adapter)
    older = finish(adapter, ["a"] * 70 + ["b"] * 10, failed=False, at=NOW - timedelta(minutes=5))
    newer = finish(adapter, ["a"] * 60, failed=False, at=NOW)  # one batch: 60 rows tie on time
    ids = all_pages(reader, Filters("succeeded"))
    assert len(ids) == len(set(ids)) == 140
    assert set(ids[:60]) == set(newer) and set(ids[60:]) == set(older)
    named = all_pages(reader, Filters("succeeded", name="b"))
    assert sorted(named) == sorted(older[70:])
    assert all_pages(reader, Filters("succeeded", queue="other")) == []
    assert len(all_pages(reader, Filters("succeeded", name="a", queue="q"))) == 130


def test_failed_and_waiting_pages(adapter: Any) -> None:
    reader = reader_for(adapter)
    failed = finish(adapter, ["f"] * 55, failed=True, at=NOW)
    assert sorted(all_pages(reader, Filters("failed"))) == sorted(failed)
    requests = [JobRequest("w", {"i": i}).with_priority(i % 3) for i in range(120)]
    waiting = adapter.enqueue_many(requests, now=NOW)
    ids = all_pages(reader, Filters("waiting"))
    assert sorted(ids) == sorted(j.id for j in waiting)
    by_id = {j.id: j for j in waiting}
    order = [(-by_id[i].priority, by_id[i].available_at, i) for i in ids]
    assert order == sorted(order), "claim order: priority, then available_at, then id"
    claimed = adapter.reserve_jobs(["w"], queue="any", limit=60, owner="w", now=NOW)
    assert sorted(all_pages(reader, Filters("running"))) == sorted(j.id for j in claimed)
    assert len(all_pages(reader, Filters("waiting", name="w"))) == 60


def test_a_cursor_not_made_here_is_refused(adapter: Any) -> None:
    reader = reader_for(adapter)
    for state, cursor in (
        ("failed", "x"),
        ("waiting", "1~2026-01-01T00:00:00"),
        ("running", "a~b~c"),
    ):
        with pytest.raises(CursorError, match=f"not a page cursor of the {state} list"):
            list_jobs(reader, Filters(state), cursor)  # type: ignore[arg-type]


def test_queue_summaries(adapter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = reader_for(adapter)
    finish(adapter, ["a"] * 3, failed=True, at=NOW - timedelta(hours=2), queue="mail")
    finish(adapter, ["a"] * 2, failed=True, at=NOW - timedelta(days=2), queue="mail")
    finish(adapter, ["a"] * 4, failed=False, at=NOW - timedelta(minutes=10), queue="mail")
    adapter.enqueue_many([JobRequest("a").on_queue("mail") for _ in range(5)], now=NOW)
    adapter.enqueue(JobRequest("a").available_at(NOW + timedelta(hours=1)), now=NOW)
    adapter.reserve_jobs(["a"], queue="mail", limit=2, owner="w", now=NOW)
    by_queue = {s.queue: s for s in summaries.queue_summaries(reader, NOW)}
    mail = by_queue["mail"]
    assert (mail.waiting, mail.due, mail.running) == (3, 3, 2)
    assert str(mail.failed_last_day) == "3" and str(mail.succeeded_last_hour) == "4"
    anyq = by_queue[None]
    assert (anyq.waiting, anyq.due, anyq.running) == (1, 0, 0)

    monkeypatch.setattr(summaries, "COUNT_CAP", 2)
    capped = {s.queue: s for s in summaries.queue_summaries(reader, NOW)}["mail"]
    assert capped.failed_last_day == summaries.BoundedCount(2, capped=True)
    assert str(capped.failed_last_day) == "2+"


def test_throughput_counts_each_minute_of_the_last_hour(adapter: Any) -> None:
    reader = reader_for(adapter)
    finish(adapter, ["a"] * 3, failed=False, at=NOW - timedelta(minutes=1))
    finish(adapter, ["a"] * 2, failed=True, at=NOW - timedelta(minutes=1))
    finish(adapter, ["a"], failed=False, at=NOW)
    finish(adapter, ["a"] * 7, failed=False, at=NOW - timedelta(minutes=61))
    counts = summaries.throughput(reader, NOW)
    assert len(counts) == 60 and counts[-1].minute == NOW.replace(second=0)
    assert (counts[-1].succeeded, counts[-1].failed) == (1, 0)
    assert (counts[-2].succeeded, counts[-2].failed) == (3, 2)
    assert sum(c.succeeded + c.failed for c in counts) == 6


def test_scheduled_rows_describe_and_list_fires(adapter: Any) -> None:
    reader = reader_for(adapter)
    adapter.insert_scheduled_job(
        "report",
        schedule_text="second 0 minute 0 hour 3",
        available_at=NOW + timedelta(hours=15),
        now=NOW,
    )
    (row,) = summaries.scheduled_rows(reader, NOW)
    assert row.description == "at 03:00:00 every day"
    assert row.later_fires == [
        NOW.replace(hour=3, minute=0, second=0) + timedelta(days=d) for d in (2, 3, 4)
    ]


LISTINGS = [
    Filters("succeeded"),
    Filters("succeeded", name="a"),
    Filters("succeeded", queue="q"),
    Filters("failed", name="a", queue="q"),
    Filters("failed", queue="q"),
]


@pytest.mark.parametrize("filters", LISTINGS, ids=lambda f: f"{f.state}-{f.name}-{f.queue}")
def test_list_statements_walk_an_index(adapter: Any, filters: Filters) -> None:
    reader = reader_for(adapter)
    for cursor in (None, f"{NOW.isoformat()}~01a20000-0000-7000-8000-000000000000"):
        sql, params = _statement(reader, filters, cursor)
        plan = explain(adapter, reader, sql, params)
        assert "index" in plan.lower(), plan
        assert_no_full_scan(reader.dialect, plan)


@pytest.mark.parametrize(
    "query",
    [
        "count_failed_since_in_queue",
        "count_succeeded_since_no_queue",
        "succeeded_per_minute",
        "failed_queues",
    ],
)
def test_overview_statements_walk_an_index(adapter: Any, query: str) -> None:
    from bgjobs.db.queries import load_query_file

    reader = reader_for(adapter)
    params = {"queue": "q", "since": reader.bind_time(NOW), "cap": 100}
    plan = explain(adapter, reader, load_query_file(reader.dialect, "dashboard.sql")[query], params)
    assert "index" in plan.lower(), plan
    assert_no_full_scan(reader.dialect, plan)


def explain(adapter: Any, reader: Any, sql: str, params: dict[str, Any]) -> str:
    if reader.dialect == "sqlite":
        rows = reader.rows(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row["detail"]) for row in rows)

    def work(conn: Any) -> str:
        # A tiny table makes a sequential scan cheapest; forbid it to see which index applies.
        conn.execute("SET LOCAL enable_seqscan = off")
        return "\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}", params).fetchall())

    return str(adapter._run(work, transaction=True))


def assert_no_full_scan(dialect: str, plan: str) -> None:
    for line in plan.splitlines():
        if dialect == "sqlite":
            scans_table = line.startswith("SCAN jobs") and "USING" not in line
            assert not scans_table, plan
            assert "TEMP B-TREE FOR ORDER BY" not in line, plan
        else:
            assert "Seq Scan on jobs_" not in line, plan
