"""bgjobs behind a real PgBouncer in transaction pooling mode.

Each transaction may land on a different server connection, so nothing may
keep session state there (no prepared statement outliving its transaction,
no session SET, no session advisory lock). LISTEN needs a session of its own:
it goes to a direct `listen_url`, or queues poll.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

import bgjobs
from bgjobs import Job, JobRequest, Queue, Worker
from tests.pg_server import SERVER_USER

pytestmark = pytest.mark.postgres

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if os.path.exists("/usr/sbin/pgbouncer") else None
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def pooled(postgres_server_url: str) -> Iterator[tuple[str, str]]:
    """(URL through a fresh PgBouncer in transaction mode, direct URL), one new database."""
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (apt-get install pgbouncer; .ci/run does)")
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    server = conninfo_to_dict(postgres_server_url)
    database = f"pooled_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    folder = Path(tempfile.mkdtemp(prefix="bgjobs-pgbouncer-"))
    port = _free_port()
    config = folder / "pgbouncer.ini"
    config.write_text(
        f"""[databases]
pooled = host={server.get("host", "127.0.0.1")} port={server.get("port", 5432)} \
dbname={database} user={server.get("user", "postgres")}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 2
max_client_conn = 200
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""
    )
    command = [PGBOUNCER, str(config)]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        shutil.chown(folder, SERVER_USER)
        command = ["runuser", "-u", SERVER_USER, "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    direct = postgres_server_url.rsplit("/", 1)[0] + f"/{database}"
    url = f"postgresql://postgres@127.0.0.1:{port}/pooled"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                break
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (folder / "pgbouncer.log").read_text() if folder.exists() else ""
                    pytest.fail(f"pgbouncer did not start: {process.stdout.read()!r} {log}")  # type: ignore[union-attr]
                time.sleep(0.1)
        yield url, direct
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))


def _run_jobs(url: str, direct: str | None, poll: timedelta) -> None:
    from bgjobs.db import PostgresAdapter

    worker_side = PostgresAdapter(url, pooled=True, listen_url=direct, max_connections=6)
    web_side = PostgresAdapter(url, pooled=True, max_connections=3)
    done: list[str] = []
    lock = threading.Lock()

    def handle(job: Job) -> None:
        with lock:
            done.append(job.id)

    queue = Queue("default").with_worker(Worker("work", handle)).with_poll_interval(poll)
    runtime = bgjobs.new(worker_side).with_queue(queue).build()
    try:
        ids: list[str] = []
        # Many rounds of the same statements: with prepared statements kept on
        # the server connection, a later round would fail on another one.
        for round_ in range(20):
            jobs = web_side.enqueue_many([JobRequest("work", {"n": n}) for n in range(10)])
            ids += [job.id for job in jobs]
            if round_ % 5 == 0:
                time.sleep(0.05)
        deadline = time.monotonic() + 60
        while len(done) < len(ids):
            assert time.monotonic() < deadline, f"{len(done)} of {len(ids)} jobs ran in 60 s"
            time.sleep(0.02)
        # Their outcomes commit a moment after the handlers return.
        while web_side.count_jobs(now=bgjobs.SystemClock().now()).succeeded < len(ids):
            assert time.monotonic() < deadline, "outcomes not committed in 60 s"
            time.sleep(0.02)
        assert sorted(done) == sorted(ids)  # each exactly once
        counts = web_side.count_jobs(now=bgjobs.SystemClock().now())
        assert (counts.succeeded, counts.waiting, counts.running) == (len(ids), 0, 0)
    finally:
        runtime.stop()
        worker_side.close()
        web_side.close()


@pytest.mark.slow
def test_jobs_run_through_pgbouncer_woken_by_listen_on_a_direct_connection(
    pooled: tuple[str, str],
) -> None:
    url, direct = pooled
    # Queues poll once a minute: only LISTEN on the direct connection can wake them in time.
    _run_jobs(url, direct, poll=timedelta(minutes=1))


@pytest.mark.slow
def test_without_a_direct_url_a_pooled_adapter_polls(pooled: tuple[str, str]) -> None:
    from bgjobs.db import PostgresAdapter

    url, _ = pooled
    adapter = PostgresAdapter(url, pooled=True)
    try:
        assert adapter.supports_notify is False
        assert adapter.listen(lambda names: None) is None
    finally:
        adapter.close()
    _run_jobs(url, None, poll=timedelta(milliseconds=50))
