"""Input that cannot be stored is refused cleanly at enqueue, and nothing is written."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bgjobs.db import SqliteAdapter
from bgjobs.db.base import BaseAdapter
from bgjobs.errors import ConfigurationError, PayloadError
from bgjobs.jobs import (
    MAX_NAME_BYTES,
    MAX_UNIQUE_KEY_BYTES,
    JobRequest,
    Worker,
)
from tests.db.support import T0, ids_by_table

PROJECT_ROOT = Path(__file__).resolve().parents[2]

LONE_SURROGATE = "bad \ud800 text"


def assert_nothing_written(database_url: str) -> None:
    assert ids_by_table(database_url) == {"jobs": [], "jobs_succeeded": [], "jobs_failed": []}


@pytest.mark.parametrize(
    "payload",
    [LONE_SURROGATE, {"key": ["x", LONE_SURROGATE]}, {LONE_SURROGATE: 1}],
    ids=["string", "nested", "dict-key"],
)
def test_a_payload_with_a_lone_surrogate_is_a_payload_error(
    adapter: BaseAdapter, database_url: str, payload: object
) -> None:
    good = JobRequest("work", 1)
    with pytest.raises(PayloadError, match=r"request 1 .*not valid UTF-8.*\\ud800"):
        adapter.enqueue_many([good, JobRequest("work", payload)], now=T0)
    assert_nothing_written(database_url)


def test_invalid_utf8_bytes_are_refused_as_payload_names_and_keys(
    adapter: BaseAdapter, database_url: str
) -> None:
    with pytest.raises(PayloadError, match="bytes, which is not a JSON value"):
        adapter.enqueue(JobRequest("work", b"\xff\xfe"), now=T0)
    with pytest.raises(ValueError, match="job name must be a non-empty string"):
        JobRequest(b"\xff")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique key must be a non-empty string"):
        adapter.enqueue(JobRequest("work", unique_key=b"\xff"), now=T0)  # type: ignore[arg-type]
    assert_nothing_written(database_url)


def test_names_queues_and_keys_with_a_lone_surrogate_are_refused(
    adapter: BaseAdapter, database_url: str
) -> None:
    with pytest.raises(ValueError, match=r"job name .*not valid UTF-8"):
        JobRequest(LONE_SURROGATE)
    with pytest.raises(ValueError, match=r"queue .*not valid UTF-8"):
        JobRequest("work").on_queue(LONE_SURROGATE)
    with pytest.raises(ValueError, match=r"unique key .*not valid UTF-8"):
        JobRequest("work").with_unique_key(LONE_SURROGATE)
    with pytest.raises(ValueError, match=r"job_name .*not valid UTF-8"):
        Worker(LONE_SURROGATE, print)
    # Requests built without the checking methods are refused by the adapter.
    sneaky = JobRequest("work", unique_key=LONE_SURROGATE)
    with pytest.raises(ValueError, match=r"request 0: unique key .*not valid UTF-8"):
        adapter.enqueue(sneaky, now=T0)
    assert_nothing_written(database_url)


def test_names_queues_and_keys_have_a_length_limit(adapter: BaseAdapter, database_url: str) -> None:
    assert adapter.enqueue(
        JobRequest("n" * MAX_NAME_BYTES)
        .on_queue("q" * MAX_NAME_BYTES)
        .with_unique_key("é" * (MAX_UNIQUE_KEY_BYTES // 2)),
        now=T0,
    )
    with pytest.raises(ValueError, match=r"job name is 256 bytes .* at most 255"):
        JobRequest("n" * (MAX_NAME_BYTES + 1))
    with pytest.raises(ValueError, match=r"queue is 256 bytes"):
        JobRequest("work").on_queue("q" * (MAX_NAME_BYTES + 1))
    with pytest.raises(ValueError, match=r"unique key is 1000000 bytes .* at most 1024"):
        JobRequest("work").with_unique_key("k" * 1_000_000)
    with pytest.raises(ValueError, match=r"request 0: unique key is 1026 bytes"):
        adapter.enqueue(JobRequest("work", unique_key="é" * 513), now=T0)
    assert len(ids_by_table(database_url)["jobs"]) == 1


def test_a_nul_byte_in_a_sqlite_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="NUL"):
        SqliteAdapter(str(tmp_path / "a\x00b.db"))
    result = subprocess.run(
        [sys.executable, "-m", "bgjobs", "stats", "--db", f"sqlite:///{tmp_path}/a%00b.db"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "NUL" in result.stderr and "Traceback" not in result.stderr


def test_new_sqlite_files_are_private_to_their_owner(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    old_umask = os.umask(0o022)
    try:
        adapter = SqliteAdapter(path)
        adapter.migrate()
        adapter.enqueue(JobRequest("work", {"secret": "s"}))
        files = [p for p in tmp_path.iterdir() if p.name.startswith("jobs.db")]
        assert {p.name for p in files} >= {"jobs.db", "jobs.db-wal", "jobs.db-shm"}
        for file in files:
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
        adapter.close()
    finally:
        os.umask(old_umask)


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    adapter = SqliteAdapter(path)
    adapter.migrate()
    adapter.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
