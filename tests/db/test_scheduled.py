"""The row of a scheduled job: one per key, claimed only by its own runner."""

from __future__ import annotations

from datetime import timedelta

from bgjobs.db import ScheduledNext, Succeeded, lease_of
from bgjobs.db.base import BaseAdapter
from tests.db.support import T0, raw_rows


def test_insert_is_once_per_key(adapter: BaseAdapter) -> None:
    assert adapter.insert_scheduled_job(
        "cleanup", schedule_text="at 03:00", available_at=T0, now=T0
    )
    assert not adapter.insert_scheduled_job(
        "cleanup", schedule_text="every 1 minute", available_at=T0, now=T0
    )
    found = adapter.get_scheduled_job("cleanup")
    assert found is not None
    job, schedule_text = found
    assert schedule_text == "at 03:00"
    assert (job.name, job.scheduled_job, job.payload, job.attempts) == (
        "cleanup",
        "cleanup",
        None,
        0,
    )
    assert job.available_at == T0 and job.created_at == T0
    assert adapter.get_scheduled_job("other") is None


def test_payload_of_a_scheduled_row_is_null(adapter: BaseAdapter, database_url: str) -> None:
    adapter.insert_scheduled_job("cleanup", schedule_text="at 03:00", available_at=T0, now=T0)
    assert raw_rows(database_url, "SELECT payload, schedule FROM jobs") == [(None, "at 03:00")]


def test_the_runner_claims_only_when_due_and_only_once(adapter: BaseAdapter) -> None:
    due = T0 + timedelta(minutes=1)
    adapter.insert_scheduled_job(
        "cleanup", schedule_text="every 1 minute", available_at=due, now=T0
    )
    assert adapter.reserve_scheduled_job("cleanup", owner="w1", now=T0) is None
    run = adapter.reserve_scheduled_job("cleanup", owner="w1", now=due)
    assert run is not None and run.attempts == 1 and run.reserved_by == "w1"
    assert adapter.reserve_scheduled_job("cleanup", owner="w2", now=due) is None
    assert adapter.reserve_scheduled_job("missing", owner="w2", now=due) is None


def test_replace_updates_an_unclaimed_row_only(adapter: BaseAdapter) -> None:
    adapter.insert_scheduled_job("cleanup", schedule_text="at 03:00", available_at=T0, now=T0)
    later = T0 + timedelta(hours=2)
    assert adapter.replace_scheduled_job("cleanup", schedule_text="at 05:00", available_at=later)
    found = adapter.get_scheduled_job("cleanup")
    assert found is not None and found[1] == "at 05:00" and found[0].available_at == later
    run = adapter.reserve_scheduled_job("cleanup", owner="w1", now=later)
    assert run is not None
    assert not adapter.replace_scheduled_job("cleanup", schedule_text="at 06:00", available_at=T0)
    assert not adapter.replace_scheduled_job("missing", schedule_text="at 06:00", available_at=T0)
    adapter.complete_job(lease_of(run), now=later)
    assert adapter.get_scheduled_job("cleanup") is None  # deleted: the runner recreates it


def test_a_finished_scheduled_run_is_kept_like_any_job(adapter: BaseAdapter) -> None:
    adapter.insert_scheduled_job("cleanup", schedule_text="at 03:00", available_at=T0, now=T0)
    run = adapter.reserve_scheduled_job("cleanup", owner="w1", now=T0)
    assert run is not None
    assert adapter.finish_jobs([Succeeded(lease_of(run))], now=T0) == [True]
    assert adapter.count_jobs(now=T0).succeeded == 1


def test_a_keyed_row_runs_as_its_job_name_with_its_payload(
    adapter: BaseAdapter, database_url: str
) -> None:
    adapter.insert_scheduled_job(
        "report-eu",
        schedule_text="every 5 minutes",
        available_at=T0,
        now=T0,
        name="report",
        payload='{"region":"eu"}',
    )
    assert raw_rows(database_url, "SELECT name, scheduled_job, payload FROM jobs") == [
        ("report", "report-eu", '{"region":"eu"}')
    ]
    run = adapter.reserve_scheduled_job("report-eu", owner="w1", now=T0)
    assert run is not None and run.payload == {"region": "eu"} and run.name == "report"
    following = ScheduledNext(
        "report-eu",
        "every 5 minutes",
        T0 + timedelta(minutes=5),
        name="report",
        payload='{"region":"eu"}',
    )
    assert adapter.finish_jobs([Succeeded(lease_of(run), following)], now=T0) == [True]
    found = adapter.get_scheduled_job("report-eu")
    assert found is not None
    nxt, _ = found
    assert (nxt.name, nxt.scheduled_job, nxt.payload) == ("report", "report-eu", {"region": "eu"})
    assert nxt.id != run.id


def test_replace_rewrites_job_name_and_payload(adapter: BaseAdapter, database_url: str) -> None:
    adapter.insert_scheduled_job(
        "report-eu", schedule_text="at 03:00", available_at=T0, now=T0, name="report"
    )
    assert adapter.replace_scheduled_job(
        "report-eu", schedule_text="at 04:00", available_at=T0, name="report2", payload="[1]"
    )
    assert raw_rows(database_url, "SELECT name, payload, schedule FROM jobs") == [
        ("report2", "[1]", "at 04:00")
    ]
