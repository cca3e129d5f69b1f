"""Enqueue: values stored as given, unique keys, bad input writes nothing, caller transactions."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from datetime import timedelta

import pytest

from bgjobs.db.base import BaseAdapter, lease_of
from bgjobs.errors import ConfigurationError, PayloadError, SchemaError
from bgjobs.jobs import MAX_PAYLOAD_BYTES, JobRequest
from tests.db.support import T0, is_postgres, raw_rows, sqlite_path


def test_enqueue_returns_the_stored_job(adapter: BaseAdapter) -> None:
    request = (
        JobRequest("send_email", {"to": "a@example.com"})
        .available_in(timedelta(minutes=5))
        .on_queue("mail")
        .with_priority(7)
    )
    job = adapter.enqueue(request, now=T0)
    assert job.name == "send_email"
    assert job.payload == {"to": "a@example.com"}
    assert job.attempts == 0
    assert job.created_at == T0
    assert job.available_at == T0 + timedelta(minutes=5)
    assert job.queue == "mail"
    assert job.priority == 7
    assert job.reserved_at is None and job.reserved_by is None
    assert adapter.get_job(job.id) == job


def test_available_at_is_kept_to_the_microsecond(adapter: BaseAdapter) -> None:
    when = T0 + timedelta(days=3, microseconds=123457)
    job = adapter.enqueue(JobRequest("x").available_at(when), now=T0)
    stored = adapter.get_job(job.id)
    assert stored is not None and stored.available_at == when


def test_enqueue_many_keeps_input_order_and_makes_time_ordered_ids(adapter: BaseAdapter) -> None:
    jobs = adapter.enqueue_many([JobRequest("x", n) for n in range(50)], now=T0)
    assert [job.payload for job in jobs] == list(range(50))
    assert [job.id for job in jobs] == sorted(job.id for job in jobs)
    assert len({job.id for job in jobs}) == 50


def test_enqueue_many_of_nothing_writes_nothing(adapter: BaseAdapter) -> None:
    assert adapter.enqueue_many([], now=T0) == []
    assert adapter.count_jobs(now=T0).waiting == 0


def test_payload_is_stored_byte_for_byte_as_compact_json(
    adapter: BaseAdapter, database_url: str
) -> None:
    payload = {"z": 1, "a": ["å", "日本", 1.5, None, True], "nested": {"b": {}}}
    job = adapter.enqueue(JobRequest("x", payload), now=T0)
    [(text,)] = raw_rows(database_url, "SELECT payload FROM jobs WHERE id = ?", [job.id])
    assert text == json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def test_unique_key_returns_the_existing_job(adapter: BaseAdapter) -> None:
    first = adapter.enqueue(JobRequest("report", 1).with_unique_key("daily"), now=T0)
    second = adapter.enqueue(JobRequest("report", 2).with_unique_key("daily"), now=T0)
    assert second == first
    assert adapter.count_jobs(now=T0).waiting == 1


def test_unique_key_duplicates_inside_one_batch(adapter: BaseAdapter) -> None:
    jobs = adapter.enqueue_many(
        [
            JobRequest("r", 1).with_unique_key("k"),
            JobRequest("r", 2),
            JobRequest("r", 3).with_unique_key("k"),
        ],
        now=T0,
    )
    assert jobs[0] == jobs[2]
    assert jobs[0].payload == 1
    assert jobs[1].payload == 2
    assert adapter.count_jobs(now=T0).waiting == 2


def test_unique_key_is_free_again_once_the_job_left_jobs(adapter: BaseAdapter) -> None:
    first = adapter.enqueue(JobRequest("r").with_unique_key("k"), now=T0)
    [claimed] = adapter.reserve_jobs(["r"], queue="q", limit=1, owner="w", now=T0)
    adapter.complete_job(lease_of(claimed), now=T0)
    again = adapter.enqueue(JobRequest("r").with_unique_key("k"), now=T0)
    assert again.id != first.id


@pytest.mark.parametrize(
    "bad_payload",
    [
        {"when": object()},
        {1: "int key"},
        float("nan"),
        "x" * MAX_PAYLOAD_BYTES,  # its JSON encoding has two more bytes: the quotes
        {"s": {1, 2}},
    ],
    ids=["object", "int-key", "nan", "too-large", "set"],
)
def test_a_bad_payload_raises_and_writes_nothing(adapter: BaseAdapter, bad_payload: object) -> None:
    good = [JobRequest("x", n) for n in range(3)]
    with pytest.raises(PayloadError) as caught:
        adapter.enqueue_many([*good, JobRequest("x", bad_payload), *good], now=T0)
    assert "request 3" in str(caught.value)
    with pytest.raises(PayloadError):
        adapter.enqueue(JobRequest("x", bad_payload), now=T0)
    assert adapter.count_jobs(now=T0).waiting == 0


def test_the_largest_allowed_payload_is_accepted(adapter: BaseAdapter) -> None:
    payload = "x" * (MAX_PAYLOAD_BYTES - 2)
    job = adapter.enqueue(JobRequest("x", payload), now=T0)
    stored = adapter.get_job(job.id)
    assert stored is not None and stored.payload == payload


def test_bad_requests_are_refused_clearly(adapter: BaseAdapter) -> None:
    with pytest.raises(TypeError, match="JobRequest"):
        adapter.enqueue("send_email", now=T0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="request 1"):
        adapter.enqueue_many([JobRequest("x"), {"name": "y"}], now=T0)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="NUL"):
        adapter.enqueue(JobRequest("bad\x00name"), now=T0)
    with pytest.raises(ValueError, match="aware"):
        adapter.enqueue(JobRequest("x"), now=T0.replace(tzinfo=None))
    assert adapter.count_jobs(now=T0).waiting == 0


def test_values_are_bound_never_spliced_into_sql(adapter: BaseAdapter) -> None:
    hostile = "x'); DROP TABLE jobs; --"
    job = adapter.enqueue(
        JobRequest(hostile, {"q": hostile}).on_queue(hostile).with_unique_key(hostile), now=T0
    )
    [claimed] = adapter.reserve_jobs([hostile], queue=hostile, limit=5, owner=hostile, now=T0)
    assert claimed.id == job.id and claimed.payload == {"q": hostile}


def test_enqueue_before_migrate_says_to_migrate(database_url: str) -> None:
    from bgjobs.db import adapter_from_url

    fresh = adapter_from_url(database_url)
    try:
        with pytest.raises(SchemaError, match="migrate"):
            fresh.enqueue(JobRequest("x"), now=T0)
    finally:
        fresh.close()


# -- transactional enqueue on the caller's connection ------------------------------------


def _caller_connection(database_url: str) -> object:
    if is_postgres(database_url):
        import psycopg

        return psycopg.connect(database_url)
    # The default isolation level: sqlite3 opens a transaction before the INSERT.
    return sqlite3.connect(sqlite_path(database_url))


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "rollback"])
def test_transactional_enqueue_exists_only_if_the_caller_commits(
    adapter: BaseAdapter, database_url: str, commit: bool
) -> None:
    conn = _caller_connection(database_url)
    try:
        jobs = adapter.enqueue_many(
            [JobRequest("t", 1), JobRequest("t", 2)], connection=conn, now=T0
        )
        # Not visible to anyone else until the caller commits.
        assert adapter.get_job(jobs[0].id) is None
        conn.commit() if commit else conn.rollback()  # type: ignore[attr-defined]
    finally:
        conn.close()  # type: ignore[attr-defined]
    assert (adapter.get_job(jobs[0].id) is not None) is commit
    assert adapter.count_jobs(now=T0).waiting == (2 if commit else 0)


def test_transactional_enqueue_rides_along_with_the_callers_rows(
    adapter: BaseAdapter, database_url: str
) -> None:
    raw_rows(database_url, "CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    conn = _caller_connection(database_url)
    placeholder = "%s" if is_postgres(database_url) else "?"
    try:
        conn.execute(f"INSERT INTO orders (id) VALUES ({placeholder})", [42])  # type: ignore[attr-defined]
        job = adapter.enqueue(JobRequest("ship", {"order": 42}), connection=conn, now=T0)
        conn.rollback()  # type: ignore[attr-defined]
        conn.execute(f"INSERT INTO orders (id) VALUES ({placeholder})", [43])  # type: ignore[attr-defined]
        kept = adapter.enqueue(JobRequest("ship", {"order": 43}), connection=conn, now=T0)
        conn.commit()  # type: ignore[attr-defined]
    finally:
        conn.close()  # type: ignore[attr-defined]
    assert raw_rows(database_url, "SELECT id FROM orders") == [(43,)]
    assert adapter.get_job(job.id) is None
    assert adapter.get_job(kept.id) is not None


def test_a_connection_of_the_wrong_kind_is_refused(adapter: BaseAdapter) -> None:
    with pytest.raises(TypeError, match="connection"):
        adapter.enqueue(JobRequest("x"), connection=object(), now=T0)


def test_sqlite_refuses_a_connection_to_another_file(tmp_path: object) -> None:
    from bgjobs.db import SqliteAdapter

    adapter = SqliteAdapter(f"{tmp_path}/a.db")
    adapter.migrate()
    other = sqlite3.connect(f"{tmp_path}/b.db")
    try:
        with pytest.raises(ConfigurationError, match=r"b\.db"):
            adapter.enqueue(JobRequest("x"), connection=other, now=T0)
    finally:
        other.close()
        adapter.close()


def test_errors_on_the_callers_connection_reach_the_caller(
    adapter: BaseAdapter, database_url: str
) -> None:
    conn = _caller_connection(database_url)
    try:
        raw_rows(database_url, "ALTER TABLE jobs RENAME TO jobs_elsewhere")
        with pytest.raises(SchemaError):
            adapter.enqueue(JobRequest("x"), connection=conn, now=T0)
    finally:
        conn.close()  # type: ignore[attr-defined]


# -- notifications (PostgreSQL) ------------------------------------------------------------


class _Inbox:
    """Collects notify callbacks; `wait_for` blocks until a matching one arrives."""

    def __init__(self) -> None:
        self.items: list[frozenset[str] | None] = []
        self._changed = threading.Condition()

    def __call__(self, names: frozenset[str] | None) -> None:
        with self._changed:
            self.items.append(names)
            self._changed.notify_all()

    def wait_for(self, names: frozenset[str], timeout: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: names in self.items, timeout)


def _listening(adapter: BaseAdapter) -> tuple[_Inbox, object]:
    inbox = _Inbox()
    subscription = adapter.listen(inbox)
    assert subscription is not None
    # LISTEN is in place once our own probe notification comes back.
    adapter.enqueue(JobRequest("probe"), now=T0)
    assert inbox.wait_for(frozenset({"probe"}))
    return inbox, subscription


@pytest.mark.postgres
def test_enqueue_notifies_listeners_of_due_jobs_only(postgres_url: str) -> None:
    from bgjobs.db import PostgresAdapter

    adapter = PostgresAdapter(postgres_url)
    adapter.migrate()
    try:
        inbox, subscription = _listening(adapter)
        adapter.enqueue(JobRequest("later").available_in(timedelta(hours=1)), now=T0)
        adapter.enqueue(JobRequest("quiet"), now=T0, notify=False)
        adapter.enqueue_many([JobRequest("a"), JobRequest("b")], now=T0)
        assert inbox.wait_for(frozenset({"a", "b"}))
        adapter.enqueue_many([JobRequest("bulk", n) for n in range(200)], now=T0)  # via COPY
        assert inbox.wait_for(frozenset({"bulk"}))
        # Notifications arrive in commit order: the two before were never sent.
        assert frozenset({"later"}) not in inbox.items
        assert frozenset({"quiet"}) not in inbox.items
        subscription.close()  # type: ignore[attr-defined]
    finally:
        adapter.close()


@pytest.mark.postgres
def test_a_transactional_enqueue_notifies_on_commit_only(postgres_url: str) -> None:
    import psycopg

    from bgjobs.db import PostgresAdapter

    adapter = PostgresAdapter(postgres_url)
    adapter.migrate()
    try:
        inbox, _ = _listening(adapter)
        with psycopg.connect(postgres_url) as conn:
            adapter.enqueue(JobRequest("rolled_back"), connection=conn, now=T0)
            conn.rollback()
            adapter.enqueue(JobRequest("committed"), connection=conn, now=T0)
            conn.commit()
        assert inbox.wait_for(frozenset({"committed"}))
        assert frozenset({"rolled_back"}) not in inbox.items
    finally:
        adapter.close()


def test_sqlite_listen_calls_back_after_another_connection_commits(tmp_path: object) -> None:
    from bgjobs.db import SqliteAdapter

    path = f"{tmp_path}/a.db"
    worker, web = SqliteAdapter(path), SqliteAdapter(path)  # as two processes would
    worker.migrate()
    woken = threading.Event()
    watch = worker.listen(lambda names: woken.set() if names is None else None)
    try:
        assert worker.supports_notify is True and watch is not None
        time.sleep(0.05)
        assert not woken.is_set()  # nothing committed yet
        web.enqueue(JobRequest("work"), now=T0)
        assert woken.wait(10), "no wake-up after another connection's commit"
    finally:
        assert watch is not None
        watch.close()
        worker.close()
        web.close()
