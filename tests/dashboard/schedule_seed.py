"""Schedules with a history, written through the adapters' own paths: a schedule from code
(its row, as build() makes it) whose runs succeed, fail and skip a missed slot, and a
schedule added at runtime, paused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bgjobs.db import Failed, ScheduledNext, Succeeded, lease_of

OWNER = "worker-schedules-1"
EVERY = timedelta(minutes=10)
ERROR = "ValueError: <b>no data</b> for the slot"
NOTE = "misfire (skip): 2 slots missed, skipped to the next slot"


def seed_schedules(adapter: Any, *, now: datetime | None = None) -> list[str]:
    """ "nightly" (from code, every 10 minutes) ran four slots in the last hour, newest
    last: succeeded, failed, skipped, succeeded; "eu-report" was added at runtime and
    paused. Returns the history's outcomes, newest first."""
    now = now or datetime.now(UTC)
    start = now - timedelta(minutes=35)  # the four slots passed; the next is in 5 minutes
    text = "every 10 minutes"
    assert adapter.insert_scheduled_job(
        "nightly", schedule_text=text, available_at=start, now=start, name="report"
    )
    for outcome in ("succeeded", "failed", "skipped", "succeeded"):
        found = adapter.get_scheduled_job("nightly")
        assert found is not None
        slot = found[0].available_at
        run = adapter.reserve_scheduled_job("nightly", owner=OWNER, now=slot)
        assert run is not None
        if outcome == "skipped":
            assert adapter.skip_scheduled_slot(
                lease_of(run), key="nightly", resume_at=slot + EVERY, note=NOTE, now=slot
            )
            continue
        following = ScheduledNext(
            "nightly", text, slot + EVERY, name="report", slot=slot, started_at=run.reserved_at
        )
        if outcome == "succeeded":
            finished: Any = Succeeded(lease_of(run), following)
        else:
            finished = Failed(lease_of(run), ERROR, "Traceback ...\nValueError", following)
        assert adapter.finish_jobs([finished], now=slot + timedelta(seconds=3)) == [True]
    adapter.schedules.add("eu-report", "every 1 hour", "report", payload={"region": "eu"})
    assert adapter.schedules.pause("eu-report")
    return ["succeeded", "skipped", "failed", "succeeded"]
