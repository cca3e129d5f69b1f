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


def test_workers_are_judged_by_their_own_heartbeat_settings(adapter: Any, seeded: Seeded) -> None:
    now = datetime.now(UTC)
    second = timedelta(seconds=1)

    def worker(name: str, silent: timedelta, every: timedelta | None, lease: timedelta | None):  # type: ignore[no-untyped-def]
        adapter.register_worker(
            name, hostname="h", pid=7, now=now - silent, heartbeat_every=every, lease=lease
        )

    worker("slow-beater", 70 * second, every=60 * second, lease=300 * second)  # between beats
    worker("missed-beats", 5 * second, every=1 * second, lease=10 * second)
    worker("gone", 5 * 60 * second, every=None, lease=None)  # an older bgjobs: the defaults
    body = page(adapter, "/workers")
    rows = dict(re.findall(r'<tr data-worker="([^"]+)">(.*?)</tr>', body, re.S))
    assert "(late)" not in rows["slow-beater"] and "(expired)" not in rows["slow-beater"]
    assert 'class="heartbeat late"' in rows["missed-beats"] and "(late)" in rows["missed-beats"]
    assert 'class="heartbeat expired"' in rows["gone"] and "lease (30 s)" in rows["gone"]
    fresh = [row for name, row in rows.items() if name not in ("missed-beats", "gone")]
    assert all("(late)" not in row and "(expired)" not in row for row in fresh)


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
