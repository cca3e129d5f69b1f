"""A running process's row in jobs_workers says how it beats, for whoever judges its silence."""

from __future__ import annotations

from datetime import timedelta

from bgjobs.db.adapter import Adapter
from tests.runtime.test_runtime import builder_for, quick_queue


def test_a_runtime_records_its_heartbeat_interval_and_lease(adapter: Adapter) -> None:
    bg = (
        builder_for(adapter)
        .with_heartbeat(every=timedelta(milliseconds=250), lease=timedelta(seconds=3))
        .with_queue(quick_queue(work=lambda job: None))
        .build()
    )
    try:
        [row] = adapter.list_workers()
        assert (row.heartbeat_every, row.lease) == (
            timedelta(milliseconds=250),
            timedelta(seconds=3),
        )
    finally:
        bg.stop()
