"""Every code block of README.md and docs/*.md runs (or says why it cannot).

Each document's Python blocks run in order in one fresh process, in a fresh
temporary directory (a SQLite file they name lands there); BGJOBS_DATABASE_URL
points at a fresh schema of the suite's PostgreSQL server for the blocks that
need PostgreSQL. Shell blocks run their `bgjobs` and `python` commands.
Schedule blocks must parse line by line.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bgjobs.db import FinishedJob, SqliteAdapter
from bgjobs.jobs import JobRequest
from bgjobs.schedule import parse
from tests.cli.support import cli_env, wait_until
from tests.docs.blocks import (
    PYTHON,
    ROOT,
    SCHEDULE,
    SHELL,
    TEXT,
    Block,
    documents,
    indented_code_lines,
    read_blocks,
)

RUNNER = Path(__file__).with_name("run_blocks.py")
DOCUMENT_SECONDS = 300

DOCUMENTS = documents()
IDS = [str(path.relative_to(ROOT)) for path in DOCUMENTS]


def runnable(path: Path) -> list[Block]:
    return [
        block
        for block in read_blocks(path)
        if block.not_runnable is None and block.language in PYTHON | SHELL
    ]


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_every_block_says_how_it_runs(path: Path) -> None:
    problems = [
        f"{line}: an indented code block: fence it with a language (```python, ```sh, ...)"
        for line in indented_code_lines(path)
    ]
    known = PYTHON | SHELL | SCHEDULE | TEXT
    for block in read_blocks(path):
        if block.not_runnable == "":
            problems.append(f"{block.line}: `<!-- not-runnable: reason -->` needs a reason")
        elif not block.language:
            problems.append(f"{block.line}: a fenced block without a language")
        elif block.language not in known:
            problems.append(f"{block.line}: unknown block language {block.language!r}")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_schedule_blocks_parse(path: Path) -> None:
    for block in read_blocks(path):
        if block.language in SCHEDULE and block.not_runnable is None:
            for offset, line in enumerate(block.source.splitlines()):
                if line.strip():
                    try:
                        parse(line.strip())
                    except Exception as exc:
                        pytest.fail(f"{block.where}+{offset}: {line.strip()!r}: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("path", DOCUMENTS, ids=IDS)
def test_the_blocks_run(path: Path, tmp_path: Path, postgres_url: str) -> None:
    blocks = runnable(path)
    if not blocks:
        pytest.skip(f"{path.name} has no runnable blocks")
    records = [
        {
            "where": block.where,
            "path": str(block.path),
            "line": block.line,
            "language": block.language,
            "kind": "python" if block.language in PYTHON else "shell",
            "source": block.source,
            "file": block.file_name,
        }
        for block in blocks
    ]
    (tmp_path / "blocks.json").write_text(json.dumps(records))
    result = subprocess.run(
        [sys.executable, str(RUNNER), str(tmp_path / "blocks.json")],
        cwd=tmp_path,
        env=cli_env({"BGJOBS_DATABASE_URL": postgres_url}),
        capture_output=True,
        text=True,
        timeout=DOCUMENT_SECONDS,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"


@pytest.mark.slow
def test_the_readme_example_runs_as_a_program_and_as_a_worker_target(tmp_path: Path) -> None:
    blocks = read_blocks(ROOT / "README.md")
    (index, program) = next((i, b) for i, b in enumerate(blocks) if b.file_name == "readme_app.py")
    shown = blocks[index + 1]
    assert shown.language in TEXT, "the README shows what the example prints"
    (tmp_path / "readme_app.py").write_text(program.source)

    # As a program: it waits for its job and prints what the README says it prints.
    result = subprocess.run(
        [sys.executable, "readme_app.py"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == shown.source

    # Imported, it starts nothing: that is what `bgjobs worker readme_app:builder` does.
    imported = subprocess.run(
        [sys.executable, "-c", "import readme_app"],
        cwd=tmp_path,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (imported.returncode, imported.stdout, imported.stderr) == (0, "", "")

    # As a worker target: a job enqueued by another process runs in the worker.
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "bgjobs", "worker", "readme_app:builder"],
            cwd=tmp_path,
            env=cli_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        adapter = SqliteAdapter(str(tmp_path / "jobs.db"))
        job = adapter.enqueue(JobRequest("send_email", {"to": "b@example.com"}))
        wait_until(
            lambda: isinstance(adapter.get_job(job.id), FinishedJob), 60, "the worker to run it"
        )
        finished = adapter.get_job(job.id)
        adapter.close()
        assert isinstance(finished, FinishedJob) and finished.state == "succeeded"
        worker.send_signal(signal.SIGINT)
        assert worker.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    output = log_path.read_text()
    assert "sending to b@example.com" in output
    assert "running readme_app:builder" in output


def test_the_demo_length_is_stated_alike_everywhere() -> None:
    """README, `bgjobs --help` and `bgjobs demo --help` give one figure, measured by hand
    (a test must not time it)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"ends by itself in about (\d+) seconds", readme)
    assert stated is not None, "README.md says how long the demo takes"
    result = subprocess.run(
        [sys.executable, "-m", "bgjobs", "--help"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"a {stated.group(1)}-second tour" in result.stdout, result.stdout
    demo_help = subprocess.run(
        [sys.executable, "-m", "bgjobs", "demo", "--help"],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"in about {stated.group(1)} seconds" in " ".join(demo_help.stdout.split())
