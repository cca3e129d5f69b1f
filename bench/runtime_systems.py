"""The job systems bench/runtime.py compares, each behind the same small interface.

Every system runs the same workload: a job named "noop" whose payload is a
small JSON object, handled by a plain function, with 4 concurrent workers in
one process. The handler calls `on_start(payload)` first (latency is
measured there) and sleeps if the payload asks it to (the job killed in the
rescue scenario). `on_done()` is called when the system counts the job as
done: for bgjobs after the completion is committed (JobSucceeded), for the
peers when the handler returns (huey deletes a task when it dequeues it;
pgqueuer and procrastinate record completion afterwards).

    bgjobs        SqliteAdapter / PostgresAdapter, Queue with max_concurrent_jobs(4),
                  everything else default (poll interval 1 s)
    huey          SqliteHuey, consumer with workers=4, worker_type="thread"; its
                  default synchronous=FULL (an fsync per commit)
    huey-fsync-off  the same with fsync=False (synchronous=OFF): like bgjobs'
                  synchronous=NORMAL it survives a process crash, not a power
                  loss, so this is the like-for-like comparison
    pgqueuer      QueueManager on its own connection (psycopg or asyncpg driver),
                  an async handler, run() with its defaults: batch_size=10 and no
                  cap on jobs in flight. (Capping it at 4 in flight needs
                  batch_size=2, max_concurrent_tasks=4, and drains about 6x
                  slower: the defaults are the fairer and harder comparison.)
    procrastinate PsycopgConnector, run_worker_async(concurrency=4), a sync task

Rescue settings (`rescue=True`) shorten each system's crash detection so the
kill -9 scenario ends in seconds: bgjobs heartbeat every 1 s with a 3 s
lease; pgqueuer heartbeat_timeout 3 s; procrastinate heartbeat every 1 s,
stalled after 3 s; pgqueuer and procrastinate also poll every 1 s (bgjobs'
default). huey has no such setting: it deletes a task when it takes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

Payload = dict[str, Any]
OnStart = Callable[[Payload], None]
OnDone = Callable[[], None]

CONCURRENCY = 4
RESCUE_HEARTBEAT = timedelta(seconds=1)
RESCUE_LEASE = timedelta(seconds=3)
RESCUE_POLL = timedelta(seconds=1)  # bgjobs' default poll interval


class System(Protocol):
    """What the benchmark needs from a job system."""

    def setup(self) -> None:
        """Create the tables (idempotent)."""

    def enqueue(self, payloads: Sequence[Payload]) -> None:
        """Enqueue one "noop" job per payload, in as few round trips as the system allows."""

    def start(self, on_start: OnStart, on_done: OnDone) -> None:
        """Start 4 workers in this process."""

    def enqueue_here(self, payload: Payload) -> None:
        """Enqueue one job through the running workers' own handle (in-process latency)."""

    def stop(self) -> None:
        """Stop the workers and close connections."""


def run_payload(payload: Payload, on_start: OnStart) -> None:
    """The shared handler body: report the start, then sleep if asked (the rescue job)."""
    on_start(payload)
    if payload.get("sleep"):
        time.sleep(float(payload["sleep"]))


# -- bgjobs ------------------------------------------------------------------------------------


class BgJobsSystem:
    def __init__(self, target: Target, *, rescue: bool = False, use_async: bool = False) -> None:
        from bgjobs.db import PostgresAdapter, SqliteAdapter

        self._rescue = rescue
        self._async = use_async
        self._adapter = (
            SqliteAdapter(target.sqlite_path)
            if target.sqlite_path is not None
            else PostgresAdapter(target.postgres_url_in_schema())
        )
        self._runtime: Any = None

    def setup(self) -> None:
        self._adapter.migrate()

    def enqueue(self, payloads: Sequence[Payload]) -> None:
        from bgjobs import JobRequest

        self._adapter.enqueue_many([JobRequest("noop", payload) for payload in payloads])

    def start(self, on_start: OnStart, on_done: OnDone) -> None:
        import bgjobs
        from bgjobs import Job, Queue, Worker
        from bgjobs.events import Event, JobSucceeded

        def noop(job: Job) -> None:
            run_payload(job.payload or {}, on_start)

        async def async_noop(job: Job) -> None:
            # The same work, as an async handler on the runtime's event loop.
            run_payload(job.payload or {}, on_start)

        def count_done(event: Event) -> None:
            if isinstance(event, JobSucceeded):
                on_done()

        queue = Queue("default").with_worker(Worker("noop", async_noop if self._async else noop))
        builder = bgjobs.new(self._adapter).with_event_listener(count_done)
        if self._rescue:
            builder = builder.with_heartbeat(every=RESCUE_HEARTBEAT, lease=RESCUE_LEASE)
        # BGJOBS_BENCH_PREFETCH measures Queue.with_prefetch; unset, the default applies.
        prefetch = os.environ.get("BGJOBS_BENCH_PREFETCH")
        if prefetch is not None:
            queue = queue.with_prefetch(int(prefetch))
        builder = builder.with_queue(queue.with_max_concurrent_jobs(CONCURRENCY))
        self._runtime = builder.build()

    def enqueue_here(self, payload: Payload) -> None:
        from bgjobs import JobRequest

        self._runtime.enqueue(JobRequest("noop", payload))

    def stop(self) -> None:
        if self._runtime is not None:
            self._runtime.stop(timeout=5)
        self._adapter.close()


# -- huey ------------------------------------------------------------------------------------


class HueySystem:
    """`fsync=None` keeps SqliteHuey's default (synchronous=FULL); False turns syncing off."""

    def __init__(self, target: Target, *, fsync: bool | None, rescue: bool = False) -> None:
        from huey import SqliteHuey

        if target.sqlite_path is None:
            raise ValueError("huey runs on SQLite only")
        options = {} if fsync is None else {"fsync": fsync}
        self._huey = SqliteHuey(name="bench", filename=target.sqlite_path, **options)
        self._on_start: OnStart = lambda payload: None
        self._on_done: OnDone = lambda: None

        @self._huey.task(name="noop")
        def noop(payload: Payload) -> None:
            run_payload(payload, self._on_start)
            self._on_done()

        self._task = noop
        self._consumer: Any = None

    def setup(self) -> None:
        pass  # SqliteHuey creates its tables when it connects

    def enqueue(self, payloads: Sequence[Payload]) -> None:
        for payload in payloads:  # huey has no batch enqueue
            self._task(payload)

    def start(self, on_start: OnStart, on_done: OnDone) -> None:
        self._on_start, self._on_done = on_start, on_done
        self._consumer = self._huey.create_consumer(workers=CONCURRENCY, worker_type="thread")
        self._consumer.start()  # must run on the main thread: it installs signal handlers

    def enqueue_here(self, payload: Payload) -> None:
        self._task(payload)

    def stop(self) -> None:
        if self._consumer is not None:
            self._consumer.stop(graceful=True)


# -- asyncio peers -----------------------------------------------------------------------------


class _LoopThread:
    """An asyncio loop on a daemon thread, so async peers fit the same threaded harness."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float | None = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class PgQueuerSystem:
    """pgqueuer's QueueManager; `driver` is "psycopg" or "asyncpg"."""

    def __init__(self, target: Target, *, driver: str, rescue: bool = False) -> None:
        self._url = target.require_postgres()
        self._schema = target.schema
        self._driver = driver
        self._rescue = rescue
        self._loop = _LoopThread()
        self._queries: Any = self._loop.run(self._connect())  # for enqueueing
        self._manager: Any = None
        self._running: Any = None

    async def _connect(self) -> Any:
        from pgqueuer import AsyncpgDriver, PsycopgDriver, Queries

        if self._driver == "asyncpg":
            import asyncpg

            conn = await asyncpg.connect(self._url, server_settings={"search_path": self._schema})
            return Queries(AsyncpgDriver(conn))
        import psycopg

        conn = await psycopg.AsyncConnection.connect(
            self._url, autocommit=True, options=f"-c search_path={self._schema}"
        )
        return Queries(PsycopgDriver(conn))

    def setup(self) -> None:
        async def install() -> None:
            if not await self._queries.schema_is_installed():
                await self._queries.install(create_schema=False)

        self._loop.run(install())

    def enqueue(self, payloads: Sequence[Payload]) -> None:
        data = [json.dumps(payload).encode() for payload in payloads]
        self._loop.run(self._queries.enqueue(["noop"] * len(data), data, [0] * len(data)))

    def start(self, on_start: OnStart, on_done: OnDone) -> None:
        from pgqueuer import QueueManager

        manager = QueueManager(self._loop.run(self._connect()))

        @manager.entrypoint("noop")
        async def noop(job: Any) -> None:
            payload = json.loads(job.payload) if job.payload else {}
            on_start(payload)
            if payload.get("sleep"):
                await asyncio.sleep(float(payload["sleep"]))
            on_done()

        options: dict[str, Any] = {}  # its defaults: batch_size=10, no cap on jobs in flight
        if self._rescue:
            options.update(heartbeat_timeout=RESCUE_LEASE, dequeue_timeout=RESCUE_POLL)
        self._manager = manager
        self._running = self._loop.spawn(manager.run(**options))

    def enqueue_here(self, payload: Payload) -> None:
        self.enqueue([payload])

    def stop(self) -> None:
        if self._manager is not None:
            self._loop.loop.call_soon_threadsafe(self._manager.shutdown.set)
            self._running.result(10)
        self._loop.close()


class ProcrastinateSystem:
    def __init__(self, target: Target, *, rescue: bool = False) -> None:
        import procrastinate

        self._rescue = rescue
        self._loop = _LoopThread()
        self._app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=target.require_postgres(),
                kwargs={"options": f"-c search_path={target.schema}"},
            )
        )
        self._on_start: OnStart = lambda payload: None
        self._on_done: OnDone = lambda: None

        @self._app.task(name="noop")
        def noop(p: Payload) -> None:
            run_payload(p, self._on_start)
            self._on_done()

        self._task = noop

        async def open_app() -> None:
            await self._app.open_async()

        self._loop.run(open_app())
        self._worker: Any = None

    def setup(self) -> None:
        self._loop.run(self._app.schema_manager.apply_schema_async())

    def enqueue(self, payloads: Sequence[Payload]) -> None:
        self._loop.run(self._task.batch_defer_async(*[{"p": payload} for payload in payloads]))

    def start(self, on_start: OnStart, on_done: OnDone) -> None:
        self._on_start, self._on_done = on_start, on_done
        options: dict[str, Any] = {
            "concurrency": CONCURRENCY,
            "wait": True,
            "install_signal_handlers": False,
        }
        if self._rescue:
            options.update(
                update_heartbeat_interval=RESCUE_HEARTBEAT.total_seconds(),
                stalled_worker_timeout=RESCUE_LEASE.total_seconds(),
                fetch_job_polling_interval=RESCUE_POLL.total_seconds(),
            )
        self._worker = self._loop.spawn(self._app.run_worker_async(**options))

    def enqueue_here(self, payload: Payload) -> None:
        self.enqueue([payload])

    def stop(self) -> None:
        if self._worker is not None:
            self._loop.loop.call_soon_threadsafe(self._worker.cancel)
            # Cancelling is how an embedded procrastinate worker stops.
            with contextlib.suppress(BaseException):
                self._worker.result(10)
        self._loop.run(self._app.close_async())
        self._loop.close()


# -- choosing one ------------------------------------------------------------------------------

#: Name -> the database it runs on.
SYSTEMS = {
    "bgjobs-sqlite": "sqlite",
    "huey": "sqlite",
    "huey-fsync-off": "sqlite",
    "bgjobs-sqlite-async": "sqlite",  # the same workload through an async handler
    "bgjobs-postgres": "postgres",
    "pgqueuer-psycopg": "postgres",
    "pgqueuer-asyncpg": "postgres",
    "procrastinate": "postgres",
    "bgjobs-postgres-async": "postgres",
}


@dataclass(frozen=True, slots=True)
class Target:
    """Where one run keeps its jobs: a SQLite file, or a fresh schema of a PostgreSQL database."""

    sqlite_path: str | None = None
    postgres_url: str | None = None
    schema: str | None = None

    def require_postgres(self) -> str:
        if self.postgres_url is None or self.schema is None:
            raise ValueError("this system runs on PostgreSQL only")
        return self.postgres_url

    def postgres_url_in_schema(self) -> str:
        from tests.conftest import with_search_path

        return with_search_path(self.require_postgres(), str(self.schema))


def make_system(name: str, target: Target, *, rescue: bool = False) -> System:
    """The system called `name`, keeping its jobs in `target`."""
    if name in ("bgjobs-sqlite", "bgjobs-postgres"):
        return BgJobsSystem(target, rescue=rescue)
    if name in ("bgjobs-sqlite-async", "bgjobs-postgres-async"):
        return BgJobsSystem(target, rescue=rescue, use_async=True)
    if name == "huey":
        return HueySystem(target, fsync=None, rescue=rescue)
    if name == "huey-fsync-off":
        return HueySystem(target, fsync=False, rescue=rescue)
    if name.startswith("pgqueuer-"):
        return PgQueuerSystem(target, driver=name.removeprefix("pgqueuer-"), rescue=rescue)
    if name == "procrastinate":
        return ProcrastinateSystem(target, rescue=rescue)
    raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
