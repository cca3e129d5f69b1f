"""A process killed by SIGKILL while it moves jobs leaves each job in exactly one table."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bgjobs.db.base import BaseAdapter
from tests.db.support import T0, enqueue_plain, ids_by_table, is_postgres, raw_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_sigkill_mid_run_leaves_every_job_in_exactly_one_table(
    adapter: BaseAdapter, database_url: str
) -> None:
    jobs = enqueue_plain(adapter, 12_000)
    rng = random.Random(7)
    cut_short = 0
    for round_number in range(3):
        owner = f"doomed-{round_number}"
        adapter.reserve_jobs(["work"], queue="q", limit=4_000, owner=owner, now=T0)
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.db.worker_process", "finish", database_url, owner],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # it has started finishing jobs
        assert first.startswith("done"), child.stderr.read() if child.stderr else first
        time.sleep(rng.uniform(0, 0.05))  # land somewhere inside a transaction, or not
        child.send_signal(signal.SIGKILL)
        child.communicate()
        still_reserved = raw_rows(
            database_url, "SELECT count(*) FROM jobs WHERE reserved_by = ?", [owner]
        )[0][0]
        cut_short += still_reserved > 0

    tables = ids_by_table(database_url)
    everywhere = Counter(job_id for ids in tables.values() for job_id in ids)
    assert set(everywhere) == {job.id for job in jobs}
    assert max(everywhere.values()) == 1
    assert cut_short >= 1  # the kills did land in the middle of the runs
    if not is_postgres(database_url):
        assert raw_rows(database_url, "PRAGMA integrity_check") == [("ok",)]
