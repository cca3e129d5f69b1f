"""The operator CLI of flow control and administration, as subprocesses on both databases:
`bgjobs queues|workers|enqueue`, `jobs retry --all-failed`, filters, wrapping, progress bars,
`--version`, help, `--db` before the command and `--app`."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bgjobs.cli import build_parser
from bgjobs.db import Failed, adapter_from_url, lease_of
from bgjobs.db.base import BaseAdapter
from bgjobs.jobs import JobRequest
from tests.cli.support import assert_one_line_error, cli_env, run_cli

OWNER = "01900000-0000-7000-8000-0000000000bb"


@pytest.fixture
def db(database_url: str) -> Iterator[BaseAdapter]:
    adapter = adapter_from_url(database_url)
    adapter.migrate()
    yield adapter
    adapter.close()


def ok(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = run_cli(*args, cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def as_json(*args: str, cwd: Path | None = None) -> Any:
    return json.loads(ok(*args, "--json", cwd=cwd))


def fail_jobs(db: BaseAdapter, requests: list[JobRequest], exception: str = "E: boom") -> None:
    now = datetime.now(UTC)
    db.enqueue_many(requests, now=now)
    names = sorted({request.name for request in requests})
    for queue in sorted({request.queue or "default" for request in requests}):
        while jobs := db.reserve_jobs(names, queue=queue, limit=1000, owner=OWNER, now=now):
            outcomes = [Failed(lease_of(job), exception, "Traceback ...") for job in jobs]
            db.finish_jobs(outcomes, now=now)


# -- the parser itself -------------------------------------------------------------------------


def _all_parsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield parser.prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _all_parsers(child)


def test_every_command_and_option_has_a_description() -> None:
    for prog, parser in _all_parsers(build_parser()):
        assert parser.description, f"`{prog}` has no description"
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    assert choice.help, f"`{prog} {choice.dest}` has no help line"
            else:
                assert action.help, f"`{prog}` option {action.option_strings or action.dest}"


def test_no_arguments_prints_help_and_version_prints_the_version() -> None:
    help_text = ok()
    assert help_text.startswith("usage: bgjobs")
    for command in ("queues", "workers", "enqueue", "jobs", "worker"):
        assert command in help_text
    assert ok("--version").startswith("bgjobs ")


# -- queues ------------------------------------------------------------------------------------


def test_queues_pause_list_resume(database_url: str, db: BaseAdapter) -> None:
    db.register_queues(["default"], now=datetime.now(UTC))
    paused = as_json("queues", "pause", "emails", "--db", database_url)
    assert paused["name"] == "emails" and paused["paused"] is True
    assert db.paused_queues() == ["emails"]
    listed = as_json("queues", "list", "--db", database_url)
    assert [(row["name"], row["paused"]) for row in listed] == [
        ("default", False),
        ("emails", True),
    ]
    text = ok("queues", "list", "--db", database_url)
    assert text.splitlines()[0].split() == ["name", "state", "paused_at", "updated_at"]
    assert "paused" in text.splitlines()[2]
    assert "is resumed" in ok("queues", "resume", "emails", "--db", database_url)
    assert db.paused_queues() == []
    again = as_json("queues", "resume", "emails", "--db", database_url)
    assert again["resumed"] is False


def test_queues_pause_needs_a_name(sqlite_url: str, db: BaseAdapter) -> None:
    assert_one_line_error(run_cli("queues", "pause", "--db", sqlite_url), 2)
    assert "NAME" in assert_one_line_error(run_cli("queues", "pause", " ", "--db", sqlite_url), 2)


# -- workers -----------------------------------------------------------------------------------


def test_workers_lists_processes_with_heartbeat_age_and_running_jobs(
    database_url: str, db: BaseAdapter
) -> None:
    now = datetime.now(UTC)
    db.register_worker(
        OWNER,
        hostname="host-a",
        pid=4242,
        now=now - timedelta(seconds=3),
        queues=["mail", "default"],
        job_names=["work"],
    )
    db.enqueue_many([JobRequest("work"), JobRequest("work")], now=now)
    db.reserve_jobs(["work"], queue="default", limit=2, owner=OWNER, now=now)
    [record] = as_json("workers", "--db", database_url)
    assert (record["id"], record["hostname"], record["pid"]) == (OWNER, "host-a", 4242)
    assert record["running_jobs"] == 2
    assert 2.5 < record["heartbeat_age_seconds"] < 300
    assert record["queues"] == ["default", "mail"]
    lines = ok("workers", "--db", database_url).splitlines()
    assert lines[0].split()[:3] == ["id", "hostname", "pid"]
    assert OWNER in lines[1] and "host-a" in lines[1] and "default,mail" in lines[1]


# -- enqueue -----------------------------------------------------------------------------------


def test_enqueue_with_every_option(database_url: str, db: BaseAdapter) -> None:
    before = datetime.now(UTC)
    record = as_json(
        "enqueue",
        "send_email",
        "--payload",
        '{"to": "a@example.com"}',
        "--queue",
        "emails",
        "--in",
        "10m",
        "--priority",
        "7",
        "--db",
        database_url,
    )
    job = db.get_job(record["id"])
    assert job is not None
    assert (job.name, job.payload, job.queue, job.priority) == (
        "send_email",
        {"to": "a@example.com"},
        "emails",
        7,
    )
    assert timedelta(minutes=9) < job.available_at - before < timedelta(minutes=11)
    text = ok("enqueue", "plain", "--db", database_url)
    assert text.startswith("enqueued job ") and "(plain)" in text


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--payload", "{not json"], "--payload"),
        (["--in", "soon"], "--in"),
        (["--priority", "high"], "--priority"),
        (["--priority", str(2**40)], "--priority"),
        (["--queue", ""], "queue"),
    ],
)
def test_enqueue_refuses_bad_input_in_one_line(
    sqlite_url: str, db: BaseAdapter, args: list[str], mentions: str
) -> None:
    line = assert_one_line_error(run_cli("enqueue", "work", *args, "--db", sqlite_url), 2)
    assert mentions in line
    assert db.count_listed("jobs") == 0


# -- jobs: filters, wrapping, retry --all-failed -----------------------------------------------


def test_listings_filter_and_say_how_many_are_shown(database_url: str, db: BaseAdapter) -> None:
    db.enqueue_many(
        [JobRequest("a", n) for n in range(5)] + [JobRequest("b").on_queue("x")],
        now=datetime.now(UTC),
    )
    assert len(as_json("jobs", "list", "--name", "a", "--db", database_url)) == 5
    assert [
        row["name"] for row in as_json("jobs", "list", "--queue", "x", "--db", database_url)
    ] == ["b"]
    lines = ok("jobs", "list", "--name", "a", "--limit", "2", "--db", database_url).splitlines()
    assert len(lines) == 4
    assert lines[-1].startswith("2 of 5 shown with name a")
    assert (
        ok("jobs", "failed", "--name", "a", "--db", database_url) == "no failed jobs with name a\n"
    )


def test_jobs_failed_shows_the_whole_exception_wrapped(database_url: str, db: BaseAdapter) -> None:
    words = " ".join(f"word{n:03d}" for n in range(60))
    fail_jobs(db, [JobRequest("a")], exception=f"ValueError: {words}\nsecond line")
    out = ok("jobs", "failed", "--db", database_url, env={"COLUMNS": "100"})
    lines = out.splitlines()
    assert all(len(line) <= 100 for line in lines), out
    assert len(lines) > 3
    text = " ".join(line.split("  ")[-1].strip() for line in lines[1:])
    assert f"ValueError: {words}" in " ".join(text.split()) and "second line" in text


def test_retry_all_failed_with_filters(database_url: str, db: BaseAdapter) -> None:
    fail_jobs(db, [JobRequest("a", n) for n in range(4)] + [JobRequest("b").on_queue("x")])
    result = as_json("jobs", "retry", "--all-failed", "--name", "a", "--db", database_url)
    assert result["retried"] == 4 and len(set(result["ids"])) == 4
    assert db.count_listed("failed") == 1
    text = ok("jobs", "retry", "--all-failed", "--queue", "x", "--db", database_url)
    assert text == "re-enqueued 1 failed job with queue x\n"
    assert db.count_listed("failed") == 0 and db.count_listed("jobs") == 5


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["some-id", "--all-failed"], "not both"),
        ([], "--all-failed"),
        (["some-id", "--name", "a"], "--name"),
    ],
)
def test_retry_refuses_a_confused_request(
    sqlite_url: str, db: BaseAdapter, args: list[str], mentions: str
) -> None:
    assert mentions in assert_one_line_error(run_cli("jobs", "retry", *args, "--db", sqlite_url), 2)


def test_a_progress_bar_on_a_terminal_and_silence_when_piped(
    database_url: str, db: BaseAdapter
) -> None:
    fail_jobs(db, [JobRequest("a", n) for n in range(1200)])
    piped = run_cli("jobs", "retry", "--all-failed", "--db", database_url)
    assert piped.returncode == 0 and piped.stderr == ""
    assert piped.stdout == "re-enqueued 1200 failed jobs\n"
    fail_jobs(db, [JobRequest("c", n) for n in range(3)])
    shown = _run_on_terminal("jobs", "retry", "--all-failed", "--db", database_url)
    assert "retrying failed jobs" in shown and "re-enqueued 3 failed jobs" in shown


def _run_on_terminal(*args: str) -> str:
    """Run the CLI with a pseudo-terminal as stdout and stderr; returns all it wrote."""
    leader, follower = pty.openpty()
    # A new pseudo-terminal is 0x0; a real one has a size.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bgjobs", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=cli_env(),
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


# -- --db before the command, --app ------------------------------------------------------------


def test_db_may_come_before_the_command(database_url: str, db: BaseAdapter) -> None:
    db.enqueue(JobRequest("work"))
    assert len(as_json("--db", database_url, "jobs", "list")) == 1
    line = assert_one_line_error(
        run_cli("--db", database_url, "jobs", "list", "--db", "sqlite:///elsewhere.db"), 2
    )
    assert "--db" in line


def test_app_points_admin_commands_at_the_apps_database(
    database_url: str, db: BaseAdapter, tmp_path: Path
) -> None:
    (tmp_path / "myapp.py").write_text(
        textwrap.dedent(
            f"""
            import bgjobs
            from bgjobs import Queue, Worker
            from bgjobs.db import adapter_from_url

            builder = bgjobs.new(adapter_from_url({database_url!r})).with_queue(
                Queue("mail").with_worker(Worker("send", print))
            )
            """
        )
    )
    record = as_json("enqueue", "send", "--app", "myapp:builder", cwd=tmp_path)
    assert db.get_job(record["id"]) is not None
    assert [
        row["id"] for row in as_json("--app", "myapp:builder", "jobs", "list", cwd=tmp_path)
    ] == [record["id"]]
    unknown = run_cli("enqueue", "nope", "--app", "myapp:builder", cwd=tmp_path)
    assert "known jobs: send" in assert_one_line_error(unknown, 2)
    both = run_cli("jobs", "list", "--app", "myapp:builder", "--db", database_url, cwd=tmp_path)
    assert "not both" in assert_one_line_error(both, 2)
    missing = run_cli("jobs", "list", "--app", "nosuchmodule:builder", cwd=tmp_path)
    assert "nosuchmodule" in assert_one_line_error(missing, 2)
