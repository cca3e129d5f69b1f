"""Details of the pages an operator reads at a glance, over real HTTP: the chart's time axis,
a late worker, the queue table's failed link, a finished job's relative time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from bgjobs import JobRequest
from bgjobs.dashboard import create_app
from bgjobs.db import Failed, lease_of
from tests.dashboard.seed import Seeded
from tests.dashboard.server import fetch, serve


def page(adapter: Any, path: str) -> str:
    with serve(create_app(adapter)) as url:
        status, _, body = fetch(url + path)
    assert status == 200, body
    return body


def test_the_chart_has_a_time_axis_of_the_last_hour(adapter: Any, seeded: Seeded) -> None:
    body = page(adapter, "/")
    axis = re.search(r'<p class="axis"><span>(\d\d:\d\d)</span><span>(\d\d:\d\d) UTC</span>', body)
    assert axis is not None, body
    first, last = (datetime.strptime(text, "%H:%M") for text in axis.groups())
    assert (last - first) % timedelta(days=1) == timedelta(minutes=59)


def test_a_worker_without_a_recent_heartbeat_is_marked_late(adapter: Any, seeded: Seeded) -> None:
    now = datetime.now(UTC)
    adapter.register_worker("quiet", hostname="gone-host", pid=7, now=now - timedelta(minutes=5))
    body = page(adapter, "/workers")
    rows = {
        worker: row
        for worker, row in re.findall(r'<tr data-worker="([^"]+)">(.*?)</tr>', body, re.S)
    }
    assert "(late)" in rows["quiet"] and 'class="heartbeat late"' in rows["quiet"]
    fresh = [row for worker, row in rows.items() if worker != "quiet"]
    assert fresh and all("(late)" not in row for row in fresh)


def test_failed_counts_link_only_where_the_failed_page_can_filter(
    adapter: Any, seeded: Seeded
) -> None:
    now = datetime.now(UTC)
    adapter.enqueue(JobRequest("tidy", {}), now=now)  # no queue: any queue may run it
    [job] = adapter.reserve_jobs(["tidy"], queue="default", limit=1, owner="w", now=now)
    assert adapter.finish_jobs([Failed(lease_of(job), "OSError: disk", "tb")], now=now) == [True]
    body = page(adapter, "/queues")
    rows = dict(re.findall(r'<tr data-queue="([^"]*)">(.*?)</tr>', body, re.S))
    assert 'href="/failed?queue=images"' in rows["images"]
    # Jobs without a queue: the failed page has no filter for them, so no link that
    # would show every queue's failures under this row's count.
    assert "/failed" not in rows[""] and '<td class="failed">1</td>' in rows[""]


def test_a_finished_job_says_how_long_ago_it_finished(adapter: Any, seeded: Seeded) -> None:
    body = page(adapter, f"/jobs/{seeded.failed[0]}")
    assert re.search(r"<dt>Failed</dt><dd>[^<]* UTC \([^)]*ago\)</dd>", body), body
