"""A schedule added from a process without a runtime, run by three worker processes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from bgjobs.db import adapter_from_url
from tests.cli.support import run_cli
from tests.runtime.test_processes import Workers, read_log, wait_until, workers_factory

pytestmark = pytest.mark.slow

__all__ = ["workers_factory"]  # the fixture, imported for its name


def test_added_schedule_fires_once_per_slot_in_three_processes_and_stops_when_removed(
    database_url: str, workers_factory: Callable[..., Workers]
) -> None:
    workers = workers_factory(database_url, POLL_MS="200")
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    workers.start(3)
    try:
        wait_until(lambda: len(adapter.list_workers()) == 3, 60, "three workers registered")
        # This process has no runtime: the adapter stores the schedule, the workers run it.
        adapter.schedules.add("every-second", "every second", "noop", payload=7)

        def runs() -> list[float]:
            return [r.due for r in read_log(workers.log) if r.name == "noop"]

        wait_until(lambda: len(runs()) >= 6, 60, "six runs of the added schedule")
        removed = run_cli("schedules", "remove", "every-second", "--db", database_url)
        assert removed.returncode == 0, removed.stderr
        at_removal = len(runs())
        time.sleep(3)  # a removed schedule stops within a second; watch three
        after = runs()
    finally:
        codes = workers.stop_all()
    assert codes == [0, 0, 0], workers.stderr_text()
    dues = [round(due) for due in after]
    assert len(dues) == len(set(dues)), "a slot ran twice"
    assert sorted(dues) == list(range(min(dues), max(dues) + 1)), "a slot was missed"
    # At most the run that was going when the schedule was removed finishes after it.
    assert len(after) - at_removal <= 1
    history = adapter.schedules.history("every-second", limit=100)
    assert len(history) == len(after) and {r.outcome for r in history} == {"succeeded"}
    assert len({r.pid for r in read_log(workers.log)}) >= 1
    assert adapter.schedules.added() == [] and adapter.get_scheduled_job("every-second") is None
    adapter.close()
