"""Pausing any schedule by key, from code or added at runtime, through adapter.schedules."""

from __future__ import annotations

from datetime import timedelta

from bgjobs.db import adapter_from_url
from bgjobs.db.base import BaseAdapter
from bgjobs.db.migrations import load_migrations
from tests.db.support import T0, is_postgres, raw_rows

MINUTE = timedelta(minutes=1)


def code_schedule(adapter: BaseAdapter, key: str = "nightly", text: str = "*/10 * * * *") -> None:
    """The row build() creates for a ScheduledJob: no jobs_schedules entry, only the row."""
    assert adapter.insert_scheduled_job(
        key, schedule_text=text, available_at=T0 + 10 * MINUTE, now=T0, name="report"
    )


def listed(adapter: BaseAdapter) -> dict[str, bool]:
    return {row.key: row.paused for row in adapter.schedules.list()}


def test_a_schedule_from_code_pauses_and_resumes(adapter: BaseAdapter) -> None:
    code_schedule(adapter)
    assert listed(adapter) == {"nightly": False}
    assert adapter.schedules.pause("nightly", now=T0 + MINUTE)
    [row] = adapter.schedules.list()
    assert row.paused and row.paused_at == T0 + MINUTE
    # Paused: its row is never claimed, however late.
    assert adapter.reserve_scheduled_job("nightly", owner="w1", now=T0 + 45 * MINUTE) is None
    # Resumed at 00:45: the first slot after now (00:50), the missed ones are not caught up.
    assert adapter.schedules.resume("nightly", now=T0 + 45 * MINUTE)
    [row] = adapter.schedules.list()
    assert not row.paused and row.paused_at is None and row.next_fire == T0 + 50 * MINUTE
    assert adapter.reserve_scheduled_job("nightly", owner="w1", now=T0 + 49 * MINUTE) is None
    run = adapter.reserve_scheduled_job("nightly", owner="w1", now=T0 + 50 * MINUTE)
    assert run is not None and run.available_at == T0 + 50 * MINUTE


def test_pausing_twice_keeps_the_first_time_and_resuming_an_active_one_changes_nothing(
    adapter: BaseAdapter,
) -> None:
    code_schedule(adapter)
    assert adapter.schedules.resume("nightly", now=T0 + 30 * MINUTE)  # it exists: True
    [row] = adapter.schedules.list()
    assert row.next_fire == T0 + 10 * MINUTE  # not moved: it was not paused
    assert adapter.schedules.pause("nightly", now=T0 + MINUTE)
    assert adapter.schedules.pause("nightly", now=T0 + 2 * MINUTE)
    assert adapter.schedules.list()[0].paused_at == T0 + MINUTE


def test_resuming_before_the_row_is_due_keeps_its_time(adapter: BaseAdapter) -> None:
    code_schedule(adapter, text="every 10 minutes")
    assert adapter.schedules.pause("nightly", now=T0)
    assert adapter.schedules.resume("nightly", now=T0 + 5 * MINUTE)
    [row] = adapter.schedules.list()
    assert row.next_fire == T0 + 10 * MINUTE  # it missed nothing, so it was not moved


def test_a_pause_survives_a_sync_of_code_schedules_and_a_new_process(
    adapter: BaseAdapter, database_url: str
) -> None:
    code_schedule(adapter)
    assert adapter.schedules.pause("nightly", now=T0)
    # build() at the next start: the row exists, or the deploy changed the schedule.
    assert not adapter.insert_scheduled_job(
        "nightly", schedule_text="*/10 * * * *", available_at=T0, now=T0, name="report"
    )
    assert adapter.replace_scheduled_job(
        "nightly", schedule_text="*/5 * * * *", available_at=T0 + 5 * MINUTE, name="report"
    )
    restarted = adapter_from_url(database_url)
    try:
        assert listed(restarted) == {"nightly": True}
        assert restarted.reserve_scheduled_job("nightly", owner="w2", now=T0 + MINUTE * 60) is None
    finally:
        restarted.close()


def test_what_cannot_be_paused_or_removed(adapter: BaseAdapter) -> None:
    code_schedule(adapter)
    assert not adapter.schedules.pause("missing") and not adapter.schedules.resume("missing")
    # A schedule from code is not removed here: the next worker start would bring it back.
    assert not adapter.schedules.remove("nightly")
    assert listed(adapter) == {"nightly": False}
    # A removed runtime schedule whose last run still holds its row is gone for pause too.
    adapter.schedules.add("eu", "every 5 minutes", "report", now=T0)
    assert adapter.reserve_scheduled_job("eu", owner="w1", now=T0 + 5 * MINUTE) is not None
    assert adapter.schedules.remove("eu")
    assert adapter.get_scheduled_job("eu") is not None  # the run is still going
    assert not adapter.schedules.pause("eu", now=T0)
    assert listed(adapter) == {"eu": False, "nightly": False}


def test_runtime_schedules_pause_in_the_same_place(adapter: BaseAdapter) -> None:
    adapter.schedules.add("eu", "every 5 minutes", "report", now=T0)
    assert adapter.schedules.pause("eu", now=T0)
    [stored] = adapter.schedules.added()
    assert stored.paused and listed(adapter) == {"eu": True}
    # Removed and added again, the key starts active.
    assert adapter.schedules.remove("eu")
    adapter.schedules.add("eu", "every 5 minutes", "report", now=T0)
    [stored] = adapter.schedules.added()
    assert not stored.paused and listed(adapter) == {"eu": False}
    assert adapter.reserve_scheduled_job("eu", owner="w1", now=T0 + 5 * MINUTE) is not None


def test_a_runtime_schedule_paused_before_version_7_stays_paused(database_url: str) -> None:
    dialect = "postgres" if is_postgres(database_url) else "sqlite"
    for migration in load_migrations(dialect):
        if migration.version > 6:
            break
        for statement in migration.statements:
            raw_rows(database_url, statement)
        raw_rows(database_url, f"INSERT INTO jobs_schema (version) VALUES ({migration.version})")
    stamp = "2030-01-01 12:00:00.000000" if dialect == "sqlite" else "2030-01-01T12:00:00Z"
    for key, paused in (("eu", True), ("us", False)):
        raw_rows(
            database_url,
            "INSERT INTO jobs_schedules (key, job_name, schedule, misfire, grace_ms, paused, "
            "created_at) VALUES (?, 'report', 'every 5 minutes', 'once', 0, ?, ?)",
            (key, paused, stamp),
        )
    adapter = adapter_from_url(database_url)
    try:
        adapter.migrate()
        assert {s.key: s.paused for s in adapter.schedules.added()} == {"eu": True, "us": False}
        # The previous version's claim still reads jobs_schedules.paused: during a rolling
        # deploy its processes run against this schema, so the column stays.
        previous_claim_check = "SELECT key FROM jobs_schedules WHERE paused ORDER BY key"
        assert [row[0] for row in raw_rows(database_url, previous_claim_check)] == ["eu"]
        # Pauses and resumes made now reach those processes too.
        assert adapter.schedules.pause("us", now=T0) and adapter.schedules.resume("eu", now=T0)
        assert [row[0] for row in raw_rows(database_url, previous_claim_check)] == ["us"]
        assert {s.key: s.paused for s in adapter.schedules.added()} == {"eu": False, "us": True}
    finally:
        adapter.close()
