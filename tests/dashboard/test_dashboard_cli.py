"""`bgjobs dashboard` as a subprocess: where it may listen, what it needs, and that it serves."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgjobs.db import adapter_from_url
from tests.cli.support import assert_one_line_error, cli_env, run_cli, wait_until
from tests.dashboard.seed import seed
from tests.dashboard.server import fetch, free_port


@pytest.fixture
def seeded_url(database_url: str) -> str:
    adapter = adapter_from_url(database_url)
    try:
        adapter.migrate()
        seed(adapter)
    finally:
        adapter.close()
    return database_url


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(
    started: list[subprocess.Popen[str]], *args: str, env: dict[str, str] | None = None
) -> Any:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgjobs", "dashboard", *args],
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started.append(proc)
    return proc


def wait_serving(proc: Any, port: int) -> None:
    def serving() -> bool:
        assert proc.poll() is None, f"the dashboard exited: {proc.communicate()}"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    wait_until(serving, 60, "the dashboard to listen")


def stop(proc: Any) -> str:
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    return str(stderr)


def test_another_address_without_a_token_is_refused(sqlite_url: str) -> None:
    result = run_cli("dashboard", "--db", sqlite_url, "--host", "0.0.0.0")
    line = assert_one_line_error(result, 2)
    assert "refusing to listen on 0.0.0.0 without a token" in line
    assert "BGJOBS_DASHBOARD_TOKEN" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--port", "0"], "PORT must be in 1..65535 (got 0)"),
        (["--port", "http"], "PORT must be a whole number (got 'http')"),
    ],
)
def test_bad_arguments_get_one_line(args: list[str], expected: str) -> None:
    assert expected in assert_one_line_error(run_cli("dashboard", *args), 2)


def test_a_missing_sqlite_file_is_one_line(tmp_path: Path) -> None:
    result = run_cli("dashboard", "--db", f"sqlite:///{tmp_path}/none.db")
    assert "no SQLite database at" in assert_one_line_error(result, 2)
    assert not (tmp_path / "none.db").exists()


def test_a_port_in_use_is_one_line(seeded_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("dashboard", "--db", seeded_url, "--port", str(port))
    assert f"cannot listen on 127.0.0.1:{port}" in assert_one_line_error(result, 2)


@pytest.mark.slow
def test_serves_on_loopback_without_login(seeded_url: str, started: list[Any]) -> None:
    port = free_port()
    proc = start(started, "--db", seeded_url, "--port", str(port), "--read-only")
    wait_serving(proc, port)
    status, _, body = fetch(f"http://127.0.0.1:{port}/failed")
    assert status == 200 and "resize" in body and "/actions/" not in body  # read-only
    assert f"bgjobs dashboard on http://127.0.0.1:{port}/ (read-only, no login)" in stop(proc)


@pytest.mark.slow
def test_any_address_with_a_token_from_the_environment(seeded_url: str, started: list[Any]) -> None:
    port = free_port()
    env = {"BGJOBS_DASHBOARD_TOKEN": "tok-123"}
    proc = start(started, "--db", seeded_url, "--host", "0.0.0.0", "--port", str(port), env=env)
    wait_serving(proc, port)
    status, headers, _ = fetch(f"http://127.0.0.1:{port}/", headers={"accept": "text/html"})
    assert status == 303 and headers["location"] == "/login"
    bearer = {"authorization": "Bearer tok-123"}
    status, _, body = fetch(f"http://127.0.0.1:{port}/failed", headers=bearer)
    assert status == 200 and 'action="/actions/retry"' in body
    assert "token required" in stop(proc)
