"""The wheel works on its own (SPEC 1): built from this tree, installed into a fresh venv,
used from a directory outside the source tree.

This proves that the data files ship: grammar/schedule.lark (mapped to
bgjobs/grammar/schedule.lark) and the SQL under bgjobs/db/sql. Dependencies come
from the package index.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def run(command: list[str], cwd: Path, timeout: float = 600) -> str:
    # No PYTHONPATH: nothing from the source tree may leak into the venv's interpreter.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.pop("BGJOBS_DATABASE_URL", None)
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], cwd=ROOT)
    [built] = dist.glob("bgjobs-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(venv)], cwd=venv)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], cwd=venv)
    return bin_dir


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory that is not the source tree (and has no bgjobs/ or grammar/)."""
    assert not tmp_path.is_relative_to(ROOT)
    return tmp_path


def test_the_wheel_holds_the_grammar_the_sql_and_py_typed(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bgjobs/grammar/schedule.lark" in names
    assert "bgjobs/py.typed" in names
    for database in ("sqlite", "postgres"):
        assert f"bgjobs/db/sql/{database}/queries.sql" in names
        assert any(name.startswith(f"bgjobs/db/sql/{database}/migrations/") for name in names)
    assert not any(name.startswith(("tests/", "bench/", "grammar/")) for name in names)
    grammar = zipfile.ZipFile(wheel).read("bgjobs/grammar/schedule.lark").decode()
    assert grammar == (ROOT / "grammar" / "schedule.lark").read_text()


def test_the_installed_package_parses_from_outside_the_tree(venv_bin: Path, outside: Path) -> None:
    code = (
        "import bgjobs; from bgjobs.schedule import parse; "
        "print(bgjobs.__file__); print(parse('at 08:30 on weekdays'))"
    )
    location, text = run([str(venv_bin / "python"), "-c", code], cwd=outside).splitlines()
    assert Path(location).is_relative_to(venv_bin.parent)  # the installed copy, not ours
    assert text == "second 0 minute 30 hour 8 on monday-friday"


def test_the_console_script_previews_a_schedule(venv_bin: Path, outside: Path) -> None:
    out = run(
        [
            str(venv_bin / "bgjobs"),
            "next-runs",
            "at 08:30 on weekdays",
            "--after",
            "2026-01-02T09:00:00Z",
            "-n",
            "2",
        ],
        cwd=outside,
    )
    lines = out.splitlines()
    assert lines[0] == "second 0 minute 30 hour 8 on monday-friday"
    # 2026-01-02 is a Friday, past 08:30: next come Monday the 5th and Tuesday the 6th.
    assert lines[2:] == ["2026-01-05T08:30:00+00:00", "2026-01-06T08:30:00+00:00"]


def test_the_installed_package_migrates_sqlite(venv_bin: Path, outside: Path) -> None:
    code = (
        "from bgjobs.db import SqliteAdapter; a = SqliteAdapter('jobs.db'); "
        "print(a.migrate()); a.close()"
    )
    version = int(run([str(venv_bin / "python"), "-c", code], cwd=outside))
    assert version >= 1
    out = run([str(venv_bin / "bgjobs"), "stats", "--db", "sqlite:///jobs.db"], cwd=outside)
    assert out.startswith("waiting 0  running 0  succeeded 0  failed 0")
