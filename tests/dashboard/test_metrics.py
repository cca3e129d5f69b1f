"""bgjobs.metrics: counters and timings from a real run, queue gauges from the database, and the
/metrics endpoints (dashboard and `bgjobs worker --metrics-port`) read by Prometheus' parser."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

import bgjobs
import bgjobs.metrics
from bgjobs import JobRequest, Queue, Worker
from bgjobs.dashboard import create_app
from bgjobs.ids import new_job_id
from bgjobs.jobs import Job
from bgjobs.metrics import DatabaseGauges, MetricsListener, enqueued_at
from tests.cli.support import cli_env, wait_until
from tests.dashboard.server import fetch, free_port, serve


def ok(job: Job) -> None:
    pass


def broken(job: Job) -> None:
    raise ValueError("always")


def flaky(job: Job) -> None:
    if job.attempts == 1:
        raise ConnectionError("first time")


def run_some_jobs(adapter: Any, listener: Any, suffix: str) -> None:
    """2 successes, 1 job failing for good after 1 retry, 1 job succeeding on its retry."""
    queue = (
        Queue(f"main{suffix}")
        .with_worker(Worker(f"ok{suffix}", ok))
        .with_worker(Worker(f"broken{suffix}", broken))
        .with_worker(Worker(f"flaky{suffix}", flaky))
        .with_max_retries(1)
        .with_retry_backoff(timedelta(0))
    )
    bg = bgjobs.new(adapter).with_queue(queue).with_event_listener(listener).build(start=False)
    names = ["ok", "ok", "broken", "flaky"]
    bg.enqueue_many([JobRequest(f"{name}{suffix}") for name in names])
    assert bg.drain() == 6


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_the_listener_counts_outcomes_and_times_runs(adapter: Any) -> None:
    registry = CollectorRegistry()
    listener = MetricsListener(registry)
    run_some_jobs(adapter, listener, "")

    def value(name: str, job: str, **more: str) -> float | None:
        return registry.get_sample_value(name, {"queue": "main", "name": job, **more})

    assert value("bgjobs_jobs_succeeded_total", "ok") == 2
    assert value("bgjobs_jobs_succeeded_total", "flaky") == 1
    assert value("bgjobs_jobs_retried_total", "flaky") == 1
    assert value("bgjobs_jobs_retried_total", "broken") == 1
    assert value("bgjobs_jobs_failed_total", "broken") == 1
    assert value("bgjobs_jobs_failed_total", "ok") is None
    assert value("bgjobs_job_run_seconds_count", "broken") == 2  # both runs timed
    assert value("bgjobs_job_run_seconds_count", "ok") == 2
    assert value("bgjobs_job_start_delay_seconds_count", "flaky") == 1  # first start only
    assert value("bgjobs_job_run_seconds_bucket", "ok", le="+Inf") == 2
    assert listener._running == {}, "finished jobs are forgotten"


def test_the_enqueue_time_is_read_from_the_uuid7_id() -> None:
    import time

    before = time.time()
    stamp = enqueued_at(new_job_id())
    assert stamp is not None and before - 0.01 <= stamp <= time.time() + 0.01
    assert enqueued_at("not-a-uuid") is None
    assert enqueued_at(str(uuid.uuid4())) is None


def test_the_queue_gauges_are_read_from_the_database_and_cached(adapter: Any) -> None:
    adapter.enqueue_many([JobRequest("a").on_queue("mail") for _ in range(3)])
    adapter.enqueue(JobRequest("a"))
    adapter.reserve_jobs(
        ["a"], queue="mail", limit=1, owner="w", now=bgjobs.clock.SYSTEM_CLOCK.now()
    )
    registry = CollectorRegistry()
    registry.register(DatabaseGauges(adapter, cache_seconds=3600))
    assert registry.get_sample_value("bgjobs_jobs_waiting", {"queue": "mail"}) == 2
    assert registry.get_sample_value("bgjobs_jobs_running", {"queue": "mail"}) == 1
    assert registry.get_sample_value("bgjobs_jobs_waiting", {"queue": ""}) == 1
    adapter.enqueue(JobRequest("a").on_queue("mail"))
    assert registry.get_sample_value("bgjobs_jobs_waiting", {"queue": "mail"}) == 2, "cached"
    fresh = CollectorRegistry()
    fresh.register(DatabaseGauges(adapter, cache_seconds=0))
    assert fresh.get_sample_value("bgjobs_jobs_waiting", {"queue": "mail"}) == 3


def test_the_dashboard_serves_metrics_after_a_run(adapter: Any) -> None:
    suffix = f"_{uuid.uuid4().hex[:8]}"  # the default registry is shared by the whole process
    run_some_jobs(adapter, bgjobs.metrics.listener, suffix)
    adapter.enqueue(JobRequest("later").on_queue("mail"))
    with serve(create_app(adapter)) as url:
        status, headers, body = fetch(url + "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    found = samples(body)
    labels = (("name", f"ok{suffix}"), ("queue", f"main{suffix}"))
    assert found[("bgjobs_jobs_succeeded_total", labels)] == 2
    broken_labels = (("name", f"broken{suffix}"), ("queue", f"main{suffix}"))
    assert found[("bgjobs_jobs_failed_total", broken_labels)] == 1
    assert found[("bgjobs_jobs_retried_total", broken_labels)] == 1
    assert found[("bgjobs_job_run_seconds_count", labels)] == 2
    assert found[("bgjobs_jobs_waiting", (("queue", "mail"),))] == 1


WORKER_APP = """
import time
from datetime import timedelta
import bgjobs
from bgjobs import Queue, Worker
from bgjobs.db import adapter_from_url

def ok(job):
    pass

def broken(job):
    raise ValueError("always")

def flaky(job):
    if job.attempts == 1:
        raise ConnectionError("first time")

def slow(job):
    # Runs until asked to stop (a cancel or its timeout), 60 s at most.
    job.stop_requested.wait(60)

builder = (
    bgjobs.new(adapter_from_url({url!r}))
    .with_queue(
        Queue("main").with_worker(Worker("ok", ok)).with_worker(Worker("broken", broken))
        .with_worker(Worker("flaky", flaky)).with_worker(Worker("slow", slow))
        .with_max_retries(1).with_retry_backoff(timedelta(0))
        .with_poll_interval(timedelta(milliseconds=100))
    )
    .with_queue(
        Queue("timed").with_worker(Worker("sleepy", slow)).with_max_retries(0)
        .with_job_timeout(timedelta(seconds=1), grace=timedelta(seconds=5))
        .with_poll_interval(timedelta(milliseconds=100))
    )
    .with_queue(Queue("quiet").with_worker(Worker("never_sent", ok)))
)
"""

#: The labels each family carries, on both endpoints.
LABELS = {
    "bgjobs_jobs_succeeded_total": {"queue", "name"},
    "bgjobs_jobs_failed_total": {"queue", "name"},
    "bgjobs_jobs_retried_total": {"queue", "name"},
    "bgjobs_jobs_cancelled_total": {"queue", "name"},
    "bgjobs_jobs_timed_out_total": {"queue", "name"},
    "bgjobs_job_run_seconds_count": {"queue", "name"},
    "bgjobs_job_start_delay_seconds_count": {"queue", "name"},
    "bgjobs_jobs_waiting": {"queue"},
    "bgjobs_jobs_due": {"queue"},
    "bgjobs_jobs_running": {"queue"},
}


@pytest.mark.slow
def test_the_worker_serves_metrics_on_its_port(tmp_path: Path, database_url: str) -> None:
    """A real worker process with --metrics-port, scraped as Prometheus would: successes,
    a retry, a failure, a cancel (through the CLI) and a timeout each move their counter;
    the gauges are per queue, 0 for a queue with nothing to do; the dashboard's /metrics
    has the same gauges with the same labels."""
    from bgjobs.db import adapter_from_url
    from tests.cli.support import run_cli

    (tmp_path / "app.py").write_text(textwrap.dedent(WORKER_APP.format(url=database_url)))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgjobs", "worker", "app:builder", "--metrics-port", str(port)],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    adapter = adapter_from_url(database_url)
    try:

        def scrape() -> dict[Any, float]:
            try:
                status, _, body = fetch(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                return {}
            return samples(body) if status == 200 else {}

        def answering() -> bool:
            assert proc.poll() is None, f"the worker exited: {proc.communicate()[1]}"
            return bool(scrape())

        wait_until(answering, 60, "the metrics server to answer")
        adapter.migrate()  # the worker may still be at it: migrating twice is safe
        later = JobRequest("ok").on_queue("main").available_in(timedelta(hours=1))
        jobs = adapter.enqueue_many(
            [JobRequest(name).on_queue("main") for name in ("ok", "ok", "broken", "flaky")]
            + [JobRequest("ok"), later, JobRequest("slow").on_queue("main")]
            + [JobRequest("sleepy").on_queue("timed")]
        )
        slow_id = jobs[6].id
        wait_until(
            lambda: adapter.get_job(slow_id).reserved_by is not None,  # type: ignore[union-attr]
            60,
            "the slow job to start",
        )
        cancelled = run_cli("jobs", "cancel", slow_id, "--db", database_url, cwd=tmp_path)
        assert cancelled.returncode == 0, cancelled.stderr

        def value(name: str, job: str, queue: str = "main") -> float | None:
            return scrape().get((name, (("name", job), ("queue", queue))))

        def counted() -> bool:
            return (
                value("bgjobs_jobs_succeeded_total", "ok") == 3  # the queue-less one too
                and value("bgjobs_jobs_failed_total", "broken") == 1
                and value("bgjobs_jobs_succeeded_total", "flaky") == 1
                and value("bgjobs_jobs_cancelled_total", "slow") == 1
                and value("bgjobs_jobs_timed_out_total", "sleepy", "timed") == 1
                and value("bgjobs_jobs_failed_total", "sleepy", "timed") == 1
            )

        if not wait_for(counted, 60):
            proc.send_signal(signal.SIGTERM)
            raise AssertionError(f"not every outcome counted: {scrape()}\n{proc.communicate()}")
        assert value("bgjobs_jobs_retried_total", "broken") == 1
        assert value("bgjobs_jobs_retried_total", "flaky") == 1
        assert value("bgjobs_jobs_failed_total", "slow") is None, "a cancel is not a failure"
        assert value("bgjobs_job_run_seconds_count", "broken") == 2
        assert value("bgjobs_job_run_seconds_count", "slow") == 1, "a cancelled run is timed"
        timed_out_run = value("bgjobs_job_run_seconds_sum", "sleepy", "timed")
        assert timed_out_run is not None and timed_out_run >= 1.0
        assert value("bgjobs_job_start_delay_seconds_count", "ok") == 3

        def gauge(name: str, queue: str) -> float | None:
            return scrape().get((name, (("queue", queue),)))

        wait_until(  # cached for 5 s: a scrape may show the time before the enqueue, or after
            lambda: (
                (gauge("bgjobs_jobs_waiting", "main"), gauge("bgjobs_jobs_running", "main"))
                == (1, 0)
            ),
            60,
            "the gauges to show the job due in an hour, and none running",
        )
        assert gauge("bgjobs_jobs_due", "main") == 0
        # A queue the worker serves with nothing in it reads 0, not "no sample".
        for name in ("bgjobs_jobs_waiting", "bgjobs_jobs_due", "bgjobs_jobs_running"):
            assert gauge(name, "quiet") == 0, name

        worker_families = label_names(fetch(f"http://127.0.0.1:{port}/metrics")[2])
        with serve(create_app(adapter)) as url:
            dashboard_text = fetch(url + "/metrics")[2]
        dashboard_families = label_names(dashboard_text)
        for family, labels in LABELS.items():
            assert worker_families.get(family) == labels, (family, worker_families)
        for family in ("bgjobs_jobs_waiting", "bgjobs_jobs_due", "bgjobs_jobs_running"):
            assert dashboard_families.get(family) == LABELS[family], family
        dashboard = samples(dashboard_text)
        assert dashboard[("bgjobs_jobs_waiting", (("queue", "main"),))] == 1
        assert dashboard[("bgjobs_jobs_waiting", (("queue", "quiet"),))] == 0
    finally:
        adapter.close()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert f"metrics on http://127.0.0.1:{port}/metrics" in stderr


def wait_for(condition: Any, seconds: float) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def label_names(text: str) -> dict[str, set[str]]:
    """Sample name -> the label names its samples carry (one set per name)."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def test_a_bad_metrics_port_is_one_line(tmp_path: Path, sqlite_url: str) -> None:
    from tests.cli.support import assert_one_line_error, run_cli

    (tmp_path / "app.py").write_text(textwrap.dedent(WORKER_APP.format(url=sqlite_url)))
    result = run_cli("worker", "app:builder", "--metrics-port", "70000", cwd=tmp_path)
    assert "PORT must be a whole number in 1..65535 (got '70000')" in assert_one_line_error(
        result, 2
    )


def test_a_metrics_port_in_use_is_one_line(tmp_path: Path, sqlite_url: str) -> None:
    import socket

    from tests.cli.support import assert_one_line_error, run_cli

    (tmp_path / "app.py").write_text(textwrap.dedent(WORKER_APP.format(url=sqlite_url)))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("worker", "app:builder", "--metrics-port", str(port), cwd=tmp_path)
    line = assert_one_line_error(result, 2)
    assert f"cannot serve metrics on 127.0.0.1:{port}" in line


def test_cancelled_and_timed_out_runs_are_counted() -> None:
    from bgjobs.events import JobCancelled, JobReserved, JobTimedOut

    registry = CollectorRegistry()
    listener = MetricsListener(registry)
    listener(JobReserved(job_id="j1", name="slow", attempts=1, queue="main"))
    listener(JobTimedOut(job_id="j1", name="slow", attempts=1, timeout_seconds=1.0))
    listener(JobCancelled(job_id="j1", name="slow", attempts=1, while_running=True))
    listener(JobCancelled(job_id="j2", name="slow", attempts=0, while_running=False))
    labels = {"queue": "main", "name": "slow"}
    assert registry.get_sample_value("bgjobs_jobs_timed_out_total", labels) == 1
    assert registry.get_sample_value("bgjobs_jobs_cancelled_total", labels) == 1
    unknown = {"queue": "", "name": "slow"}
    assert registry.get_sample_value("bgjobs_jobs_cancelled_total", unknown) == 1


def test_a_retry_reported_after_its_next_claim_keeps_the_queue() -> None:
    """A retried run's outcome is reported when it commits, which can be after the next
    attempt was claimed: the next attempt's outcome must still carry its queue."""
    from bgjobs.events import JobReserved, JobRetried, JobStarted, JobSucceeded

    registry = CollectorRegistry()
    listener = MetricsListener(registry)
    later = bgjobs.clock.SYSTEM_CLOCK.now()
    listener(JobReserved(job_id="j", name="flaky", attempts=1, queue="main"))
    listener(JobStarted(job_id="j", name="flaky", attempts=1))
    listener(JobReserved(job_id="j", name="flaky", attempts=2, queue="main"))
    listener(JobRetried(job_id="j", name="flaky", attempts=1, available_at=later, error="E"))
    listener(JobStarted(job_id="j", name="flaky", attempts=2))
    listener(JobSucceeded(job_id="j", name="flaky", attempts=2, duration_seconds=0.5))
    labels = {"queue": "main", "name": "flaky"}
    assert registry.get_sample_value("bgjobs_jobs_retried_total", labels) == 1
    assert registry.get_sample_value("bgjobs_jobs_succeeded_total", labels) == 1
    assert registry.get_sample_value("bgjobs_job_run_seconds_count", labels) == 2
    assert registry.get_sample_value("bgjobs_jobs_succeeded_total", {**labels, "queue": ""}) is None
    assert listener._running == {}


def test_a_run_cancelled_while_running_is_timed() -> None:
    from bgjobs.events import JobCancelled, JobReserved, JobStarted

    registry = CollectorRegistry()
    listener = MetricsListener(registry)
    listener(JobReserved(job_id="j", name="slow", attempts=1, queue="main"))
    listener(JobStarted(job_id="j", name="slow", attempts=1))
    listener(JobCancelled(job_id="j", name="slow", attempts=1, while_running=True))
    labels = {"queue": "main", "name": "slow"}
    assert registry.get_sample_value("bgjobs_job_run_seconds_count", labels) == 1
    assert registry.get_sample_value("bgjobs_jobs_cancelled_total", labels) == 1
    # A run whose claim this listener did not see is still timed, under queue "".
    listener(JobStarted(job_id="k", name="slow", attempts=1))
    listener(JobCancelled(job_id="k", name="slow", attempts=1, while_running=True))
    unseen = {"queue": "", "name": "slow"}
    assert registry.get_sample_value("bgjobs_job_run_seconds_count", unseen) == 1
    assert listener._running == {}


def test_docs_list_every_metric_and_only_those(adapter: Any) -> None:
    """docs/metrics.md's table against what bgjobs.metrics registers, with their types."""
    import re

    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    listed = dict(re.findall(r"^\| `(bgjobs_\w+)` \| (\w+) \|", doc, re.MULTILINE))
    registry = CollectorRegistry()
    MetricsListener(registry)
    registry.register(DatabaseGauges(adapter))
    exported = {}
    for family in registry.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        exported[name] = family.type
    assert listed == exported


def test_gauges_registered_by_the_process_are_not_served_twice(adapter: Any) -> None:
    """An app that registers the queue gauges itself and mounts the dashboard: /metrics has
    each family once (Prometheus rejects a scrape that repeats one)."""
    from prometheus_client import REGISTRY

    adapter.enqueue(JobRequest("a").on_queue("mail"))
    collector = bgjobs.metrics.register_database_gauges(adapter, cache_seconds=0)
    try:
        with serve(create_app(adapter)) as url:
            body = fetch(url + "/metrics")[2]
    finally:
        REGISTRY.unregister(collector)
    assert body.count("# TYPE bgjobs_jobs_waiting gauge") == 1, body
    assert samples(body)[("bgjobs_jobs_waiting", (("queue", "mail"),))] == 1
    with serve(create_app(adapter)) as url:  # and without them, the dashboard adds its own
        body = fetch(url + "/metrics")[2]
    assert body.count("# TYPE bgjobs_jobs_waiting gauge") == 1, body
