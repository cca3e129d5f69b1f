"""Connection errors: what waiting cannot fix fails fast and clearly; the rest is retried.

A bad password, an unknown database, role or host, or a bad option fails
build(), enqueue and the CLI at once as ConfigurationError with one line.
A refused connection is retried, and when it gives up it says "refused".
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

import bgjobs
from bgjobs import JobRequest, Queue, Worker
from bgjobs.errors import ConfigurationError, DatabaseError

pytestmark = pytest.mark.postgres

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def with_query(url: str, query: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def bad_urls(server_url: str) -> dict[str, str]:
    parts = urlsplit(server_url)
    return {
        "unknown database": urlunsplit(parts._replace(path="/no_such_database")),
        "unknown role": server_url.replace("postgres@", "no_such_role@", 1),
        "unknown host": f"postgresql://postgres@no-such-host.invalid:{parts.port}/x",
        "bad server option": with_query(server_url, "options=-cno_such_setting%3D1"),
        "ssl demanded, none offered": with_query(server_url, "sslmode=require"),
        "bad port": f"postgresql://postgres@127.0.0.1:99999{parts.path}",
    }


@pytest.fixture(params=sorted(bad_urls("postgresql://u@h:1/d")))
def bad_url(request: pytest.FixtureRequest, postgres_server_url: str) -> str:
    return bad_urls(postgres_server_url)[request.param]


def timed(call: object) -> float:
    started = time.monotonic()
    with pytest.raises(ConfigurationError, match=r"cannot connect to PostgreSQL at") as caught:
        call()  # type: ignore[operator]
    assert "\n" not in str(caught.value)
    return time.monotonic() - started


def test_build_enqueue_and_migrate_fail_as_configuration_errors(bad_url: str) -> None:
    from bgjobs.db import PostgresAdapter

    adapter = PostgresAdapter(bad_url)
    queue = Queue("default").with_worker(Worker("w", print))
    try:
        times = [
            timed(adapter.migrate),
            timed(lambda: adapter.enqueue(JobRequest("w"))),
            timed(bgjobs.new(adapter).with_queue(queue).build),
        ]
    finally:
        adapter.close()
    print(f"failed after {', '.join(f'{t:.2f}' for t in times)} s")


def test_the_cli_says_so_in_one_line_and_exits_2(bad_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bgjobs", "stats", "--db", bad_url],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ConfigurationError: cannot connect")


@pytest.mark.parametrize(
    ("query", "problem"),
    [("sslmode=bogus", "sslmode"), ("connect_timeout=abc", "connect_timeout")],
)
def test_a_bad_sslmode_or_connect_timeout_is_refused_by_the_constructor(
    postgres_server_url: str, query: str, problem: str
) -> None:
    from bgjobs.db import PostgresAdapter

    with pytest.raises(ConfigurationError, match=f"bad PostgreSQL {problem}"):
        PostgresAdapter(with_query(postgres_server_url, query))
    result = subprocess.run(
        [sys.executable, "-m", "bgjobs", "stats", "--db", with_query(postgres_server_url, query)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 2 and problem in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_refused_connection_is_retried_and_the_error_names_the_cause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bgjobs.db import PostgresAdapter

    adapter = PostgresAdapter("postgresql://postgres@127.0.0.1:1/x", reconnect_timeout=2)
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(DatabaseError) as caught:
            adapter.count_jobs(now=bgjobs.SystemClock().now())
    finally:
        adapter.close()
    message = str(caught.value)
    assert "stayed unreachable for 2 s" in message and "refused" in message.lower(), message
    assert "couldn't get a connection" not in message
    assert "\n" not in message
    retrying = [r for r in caplog.records if "retrying until it is back" in r.getMessage()]
    assert len(retrying) == 1
    assert not any(r.getMessage().startswith("bgjobs:") for r in caplog.records)


def test_the_cli_names_the_cause_of_an_unreachable_server() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bgjobs", "stats", "--db", "postgresql://postgres@127.0.0.1:1/x"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 1
    assert "refused" in result.stderr.lower(), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
