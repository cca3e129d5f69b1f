"""The dashboard's reads on both databases: keyset pages cover a list exactly once, counts are
right and bounded, the chart adds up, and the statements walk indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bgjobs import JobRequest
from bgjobs.dashboard import summaries
from bgjobs.dashboard.chart import throughput_chart
from bgjobs.dashboard.listing import PAGE_SIZE, CursorError, Filters, _statement, list_jobs
from bgjobs.dashboard.reader import reader_for
from bgjobs.db.adapter import Failed, Lease, Succeeded
from tests.db.support import is_postgres, raw_rows

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
    assert capped.failed_last_day == summaries.BoundedCount(2, capped=True, reached="2 h")
    assert str(capped.failed_last_day) == "2+ in 2 h"


def test_throughput_counts_each_minute_of_the_last_hour(adapter: Any) -> None:
    reader = reader_for(adapter)
    finish(adapter, ["a"] * 3, failed=False, at=NOW - timedelta(minutes=1))
    finish(adapter, ["a"] * 2, failed=True, at=NOW - timedelta(minutes=1))
    finish(adapter, ["a"], failed=False, at=NOW)
    finish(adapter, ["a"] * 7, failed=False, at=NOW - timedelta(minutes=61))
    # 11:00:45: less than an hour ago, but before the chart's first minute (11:01).
    finish(adapter, ["b"] * 4, failed=False, at=NOW - timedelta(minutes=59, seconds=45))
    finish(adapter, ["b"] * 5, failed=False, at=NOW - timedelta(minutes=59), queue="mail")
    counts = summaries.throughput(reader, NOW)
    assert len(counts) == 60 and counts[-1].minute == NOW.replace(second=0)
    assert (counts[-1].succeeded, counts[-1].failed) == (1, 0)
    assert (counts[-2].succeeded, counts[-2].failed) == (3, 2)
    assert counts[0].succeeded == 5  # 11:01:30, in the chart's first minute
    assert sum(c.succeeded + c.failed for c in counts) == 11
    # The queue table's "succeeded (1 h)" covers the chart's minutes: they add up.
    queues = summaries.queue_summaries(reader, NOW)
    assert sum(q.succeeded_last_hour.value for q in queues) == sum(c.succeeded for c in counts)


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


def test_a_busy_minute_is_estimated_from_its_newest_rows(
    adapter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = reader_for(adapter)
    minute = NOW.replace(second=0) - timedelta(minutes=10)  # 11:50
    finish(adapter, ["a"] * 3, failed=False, at=minute + timedelta(seconds=10))
    finish(adapter, ["a"] * 3, failed=False, at=minute + timedelta(seconds=40))
    finish(adapter, ["a"] * 2, failed=True, at=minute + timedelta(seconds=50))
    current = NOW.replace(second=0)  # 12:00, 30 s of it passed
    finish(adapter, ["a"] * 3, failed=False, at=current)
    finish(adapter, ["a"] * 3, failed=False, at=current + timedelta(seconds=20))
    monkeypatch.setattr(summaries, "MINUTE_CAP", 3)
    counts = {c.minute: c for c in summaries.throughput(reader, NOW)}
    # 11:50: the newest 3 succeeded rows cover 11:50:40 to 11:51, a third of the minute,
    # so about 9; the 2 failed ones are a count. 12:00: the newest 3 cover 10 s of the 30 s
    # passed, so about 9 too.
    assert counts[minute] == summaries.MinuteCount(minute, 9, 2, estimated=True)
    assert counts[current] == summaries.MinuteCount(current, 9, 0, estimated=True)
    assert sum(c.estimated for c in counts.values()) == 2
    chart = throughput_chart(list(counts.values()))
    assert chart.estimated_minutes == 2 and chart.total_succeeded == 18
    estimated = [bar for bar in chart.bars if bar.estimated]
    assert next(bar.title for bar in estimated).startswith("11:50 UTC: about 9 succeeded")


def test_a_busy_minute_of_batched_completions_is_estimated_right(
    adapter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The completer stamps a whole batch with one time: one job finished alone, then a
    # batch of 7 two milliseconds later. Read as a rate, that spacing would make the
    # minute tens of thousands of jobs; the estimate must stay near the 8 there are.
    reader = reader_for(adapter)
    minute = NOW.replace(second=0) - timedelta(minutes=5)
    finish(adapter, ["a"], failed=False, at=minute + timedelta(seconds=10))
    finish(adapter, ["a"] * 7, failed=False, at=minute + timedelta(seconds=10, milliseconds=2))
    monkeypatch.setattr(summaries, "MINUTE_CAP", 8)
    counts = {c.minute: c for c in summaries.throughput(reader, NOW)}
    # The 8 rows reach back to :10 and are taken to cover the 50 s left: about 10.
    assert counts[minute] == summaries.MinuteCount(minute, 10, 0, estimated=True)


def test_a_busy_queue_says_how_far_back_its_count_reached(
    adapter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    reader = reader_for(adapter)
    finish(adapter, ["a"] * 2, failed=True, at=NOW - timedelta(hours=5), queue="mail")
    finish(adapter, ["a"] * 2, failed=True, at=NOW - timedelta(hours=2), queue="mail")
    finish(adapter, ["a"] * 2, failed=True, at=NOW - timedelta(minutes=40), queue="mail")
    finish(adapter, ["a"] * 3, failed=True, at=NOW - timedelta(minutes=5))
    monkeypatch.setattr(summaries, "COUNT_CAP", 4)
    by_queue = {s.queue: s for s in summaries.queue_summaries(reader, NOW)}
    # The newest 4 of mail's 6 failures reach back 2 hours; queue q's 3 are a count.
    assert by_queue["mail"].failed_last_day == summaries.BoundedCount(4, True, "2 h")
    assert str(by_queue["mail"].failed_last_day) == "4+ in 2 h"
    assert str(by_queue["q"].failed_last_day) == "3"


@pytest.mark.parametrize("query", ["finished_by_queue", "finished_per_minute"])
def test_overview_statements_walk_an_index(adapter: Any, query: str) -> None:
    reader = reader_for(adapter)
    finish(adapter, ["a"] * 3, failed=True, at=NOW, queue="mail")
    plan = explain(adapter, reader, overview_sql(reader, query), overview_params(reader))
    assert "index" in plan.lower(), plan
    assert_no_full_scan(reader.dialect, plan)


def overview_sql(reader: Any, query: str) -> str:
    from bgjobs.db.queries import load_query_file

    return load_query_file(reader.dialect, "dashboard.sql")[query]


def overview_params(reader: Any, now: datetime = NOW) -> dict[str, Any]:
    """The parameters of both overview statements, as summaries binds them."""
    first = summaries.chart_start(now)
    starts = [first + timedelta(minutes=step) for step in range(60)]
    return {
        **summaries.minute_params(reader, starts),
        "hour_ago": reader.bind_time(first),
        "day_ago": reader.bind_time(now - timedelta(days=1)),
        "cap": summaries.COUNT_CAP,
    }


def explain(adapter: Any, reader: Any, sql: str, params: dict[str, Any]) -> str:
    if reader.dialect == "sqlite":
        rows = reader.rows(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row["detail"]) for row in rows)

    def work(conn: Any) -> str:
        # A tiny table makes a sequential scan cheapest; forbid it to see which index applies.
        # (The overview's statements run with these pins and more: see PostgresReader.pinned.)
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


# -- the overview at 1,000,000 finished rows ---------------------------------------------------

BIG = 1_000_000
#: Six queue values (one of them no queue), finished rows spread evenly over 48 hours.
_BIG_FILL_POSTGRES = """
INSERT INTO {table} (id, name, payload, attempts, queue, priority, created_at, available_at,
                     {at} {failure_columns})
SELECT '{prefix}' || lpad(i::text, 12, '0'), 'job_' || mod(i, 10), 'null', 1,
       CASE WHEN mod(i, 6) = 0 THEN NULL ELSE 'queue_' || mod(i, 6) END, 0, t, t, t
       {failure_values}
FROM (SELECT i, %s - i * %s AS t FROM generate_series(0, %s - 1) AS i) AS s
"""
_BIG_FILL_SQLITE = """
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ? - 1)
INSERT INTO {table} (id, name, payload, attempts, queue, priority, created_at, available_at,
                     {at} {failure_columns})
SELECT printf('{prefix}%012d', i), 'job_' || (i % 10), 'null', 1,
       CASE WHEN i % 6 = 0 THEN NULL ELSE 'queue_' || (i % 6) END, 0, t, t, t {failure_values}
FROM (SELECT i, strftime('%Y-%m-%d %H:%M:%f', ? - i * ?) || '000' AS t FROM n)
"""


def _fill_big(url: str, table: str, count: int) -> None:
    failed = table == "jobs_failed"
    parts = {
        "table": table,
        "prefix": table[5],
        "at": "failed_at" if failed else "succeeded_at",
        "failure_columns": ", exception, traceback" if failed else "",
        "failure_values": ", 'E: e', 'tb'" if failed else "",
    }
    spread = timedelta(hours=48)
    if is_postgres(url):
        raw_rows(url, _BIG_FILL_POSTGRES.format(**parts), [NOW, spread / count, count])
    else:
        julian_now = (NOW - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() / 86400 + 2440587.5
        step = spread.total_seconds() / 86400 / count
        raw_rows(url, _BIG_FILL_SQLITE.format(**parts), [count, julian_now, step])


@pytest.mark.slow
@pytest.mark.parametrize("analyzed", [False, True], ids=["never-analyzed", "analyzed"])
def test_overview_statements_stay_on_their_indexes_at_a_million_finished_rows(
    adapter: Any, database_url: str, analyzed: bool
) -> None:
    """A plan check, not a timing: the way the dashboard runs them (pinned on PostgreSQL), the
    overview's statements count each queue along its (queue, time) index and chart the hour
    along the time index, on tables never analyzed and analyzed."""
    postgres = is_postgres(database_url)
    if postgres:
        for table in ("jobs", "jobs_succeeded", "jobs_failed"):
            raw_rows(database_url, f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    _fill_big(database_url, "jobs_succeeded", BIG * 9 // 10)
    _fill_big(database_url, "jobs_failed", BIG // 10)
    if analyzed:
        raw_rows(database_url, "ANALYZE")
    elif postgres:
        never = raw_rows(
            database_url,
            "SELECT relname FROM pg_class WHERE relname IN ('jobs_succeeded', 'jobs_failed') "
            "AND relnamespace = current_schema()::regnamespace AND reltuples < 0",
        )
        assert len(never) == 2, "the tables were analyzed: the test would prove nothing"
    reader = reader_for(adapter)
    params = overview_params(reader)
    by_queue = pinned_plan(reader, "finished_by_queue", params)
    per_minute = pinned_plan(reader, "finished_per_minute", params)
    for plan in (by_queue, per_minute):
        for bad in ("Seq Scan", "Bitmap", "Sort", "SCAN jobs_", "TEMP B-TREE FOR ORDER BY"):
            assert bad not in plan, plan
    if postgres:
        # Every count walks its queue's part of the queue index backwards, bounded by the
        # window's start, with no filter: no queue's count reads every queue's window.
        counts = [line for line in by_queue.splitlines() if "Scan" in line and " on jobs_" in line]
        walks = [line for line in counts if "Backward" in line]
        assert counts and all("_queue_time" in line for line in counts), by_queue
        assert len(walks) == 4, by_queue  # succeeded and failed, in a queue and in none
        filters = [line for line in by_queue.splitlines() if "Filter:" in line]
        assert all("(queue IS NOT NULL)" in line for line in filters), by_queue
        assert "Index Only Scan Backward using jobs_succeeded_at" in per_minute, per_minute
        assert "Index Only Scan Backward using jobs_failed_at" in per_minute, per_minute
    else:
        for table, at in (("jobs_succeeded", "succeeded_at"), ("jobs_failed", "failed_at")):
            assert f"COVERING INDEX {table}_queue_time (queue=? AND {at}>?)" in by_queue
            assert f"COVERING INDEX {table}_at ({at}>? AND {at}<?)" in per_minute, per_minute
    # And the counts are right: 900,000 succeeded over 48 h is 312.5 a minute, 3,099 per
    # queue value in the chart's 59.5 minutes; 100,000 failed is 50,000 a day, 8,333 or
    # 8,334 per queue value.
    by_queue_rows = reader.pinned("finished_by_queue", params)
    succeeded = {r["queue"]: r["n"] for r in by_queue_rows if r["outcome"] == "succeeded"}
    failed = {r["queue"]: r["n"] for r in by_queue_rows if r["outcome"] == "failed"}
    assert set(succeeded) == set(failed) == {None, *(f"queue_{n}" for n in range(1, 6))}
    assert all(n in (3098, 3099, 3100) for n in succeeded.values()), succeeded
    assert all(n in (8333, 8334) for n in failed.values()), failed


def pinned_plan(reader: Any, query: str, params: dict[str, Any]) -> str:
    """EXPLAIN of a dashboard statement, run by Reader.pinned itself (its settings, its
    connection): pinned_rows is made to explain the statement instead of running it."""
    if reader.dialect == "sqlite":
        rows = reader.rows(f"EXPLAIN QUERY PLAN {overview_sql(reader, query)}", params)
        return "\n".join(str(row["detail"]) for row in rows)
    from bgjobs.db import postgres_connections

    real = postgres_connections.pinned_rows

    def explaining(conn: Any, sql: str, values: Any, **settings: Any) -> Any:
        return real(conn, f"EXPLAIN {sql}", values, **settings)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(postgres_connections, "pinned_rows", explaining)
        rows = reader.pinned(query, params)
    return "\n".join(row["QUERY PLAN"] for row in rows)
