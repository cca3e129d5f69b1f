"""`bgjobs demo` as a subprocess: it tells the whole story and ends by itself (SPEC 4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.cli.support import run_cli

#: SPEC 4: the demo ends by itself within a minute.
DEMO_SECONDS = 60


@pytest.mark.slow
def test_the_demo_shows_every_outcome_and_ends_by_itself(tmp_path: Path) -> None:
    # Without --path the demo makes a temporary directory: keep it inside tmp_path.
    result = run_cli("demo", env={"TMPDIR": str(tmp_path)}, timeout=DEMO_SECONDS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    for word in ("enqueued", "retrying", "failed", "succeeded"):
        assert word in out, word
    assert "succeeded  heartbeat" in out  # the scheduled job fired
    assert "scheduled  heartbeat (every 2 seconds)" in out
    [path] = tmp_path.glob("bgjobs-demo-*/demo.db")
    assert str(path) in out


@pytest.mark.slow
def test_path_puts_the_database_where_asked(tmp_path: Path) -> None:
    path = tmp_path / "tour" / "demo.db"
    path.parent.mkdir()
    result = run_cli("demo", "--path", str(path), timeout=DEMO_SECONDS)
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(path) as conn:
        succeeded = conn.execute("SELECT name, attempts FROM jobs_succeeded").fetchall()
        failed = conn.execute("SELECT name, attempts, exception FROM jobs_failed").fetchall()
    names = {name for name, _ in succeeded}
    assert {"send_welcome_email", "build_report", "heartbeat"} <= names
    assert ("build_report", 2) in succeeded  # succeeded on its retry
    [(name, attempts, exception)] = failed
    assert (name, attempts) == ("import_rows", 3)
    assert exception.startswith("ValueError: ")


def test_a_path_that_cannot_be_opened_is_one_line(tmp_path: Path) -> None:
    result = run_cli("demo", "--path", str(tmp_path / "missing" / "demo.db"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
