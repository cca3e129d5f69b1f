"""Runtime benchmark: bgjobs against huey, pgqueuer and procrastinate, measured in the same run.

    python bench/runtime.py              # SQLite and PostgreSQL (starts a throwaway server)
    python bench/runtime.py --quick      # 2,000 jobs, fewer samples: about four minutes
    python bench/runtime.py --db sqlite  # or --db postgres; --postgres-url URL (or
                                         # $BGJOBS_BENCH_DATABASE_URL) uses an existing server

The workload is the peers' harness: a no-op job, 4 workers in a process
(bench/runtime_systems.py says how each system is set up). Every system runs
in child processes of this script, one scenario at a time, each on fresh
tables (a new SQLite file, or a new PostgreSQL schema):

- burn-down: enqueue N jobs first, then time from starting the workers until
  all N are done; with 1 process and with 4 (the 1-process figure is the
  best of --repeat runs, interleaved with the peers');
- steady state: starting from fresh, empty tables that are never analyzed, a
  producer process enqueues batches of 10 as fast as it can for 10 s while
  one worker process runs; jobs completed per second after a 1 s warm-up,
  beside jobs enqueued per second (a system that keeps up does about as many);
- enqueue-to-start latency (p50/p95): single jobs enqueued every 20-30 ms
  into idle workers, through the runtime's own handle in the same process,
  and from a producer process;
- rescue after kill -9: a worker process is killed in the middle of a job;
  a fresh worker process starts right away; the time until it starts the job
  again (crash detection shortened for every system: see runtime_systems.py).

A burn-down still running after 25 s (12 s with --quick) is cut and rated
on the jobs done by then. On PostgreSQL the tables filled for a burn-down are
ANALYZEd first, as autovacuum would soon do (--no-analyze skips it).

The PostgreSQL server this script starts keeps its durable defaults (fsync
and synchronous_commit on): every commit waits for the disk, as in
production. --unsafe-fast runs the PostgreSQL scenarios a second time on a
server with fsync, synchronous_commit and full_page_writes off and prints
those figures after the durable ones.

Ratios are bgjobs / peer: above 1 is better for throughput, below 1 for
latency and rescue time. Results depend on the machine's load: the load
average is printed before and after. docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtime_systems import SYSTEMS, Payload, Target, make_system  # noqa: E402

FILL_BATCH = 1000
PROGRESS_EVERY = 0.05  # seconds between a worker child's progress lines
STEADY_BATCH = 10
LATENCY_GAP = (0.020, 0.030)  # seconds between single enqueues, drawn uniformly
RESCUE_WAIT = 20.0  # give up on a rescue after this many seconds
SLOW_JOB_SECONDS = 60.0

#: Throughput goals: (database, scenario, bgjobs system, peer, least ratio bgjobs / peer).
THROUGHPUT_GOALS = (
    ("sqlite", "burn1", "bgjobs-sqlite", "huey", 2.0),
    ("sqlite", "burn1", "bgjobs-sqlite", "huey-fsync-off", 2.0),
    ("postgres", "burn1", "bgjobs-postgres", "pgqueuer-asyncpg", 1.0),
    ("postgres", "steady", "bgjobs-postgres", "pgqueuer-asyncpg", 0.95),
)
#: Keeping up: in the steady state, bgjobs must finish this share of what is enqueued.
KEEP_UP = 0.95
#: 4 SQLite worker processes together must do this share of one process's throughput.
SQLITE_PROCESSES_SHARE = 0.8
#: Latency goals: (database, scenario, bgjobs system, p50 must be under this many ms).
LATENCY_GOALS = (
    ("sqlite", "latency_here", "bgjobs-sqlite", 2.0),
    ("postgres", "latency_here", "bgjobs-postgres", 5.0),
    ("postgres", "latency_across", "bgjobs-postgres", 5.0),
)


# ============================================================================================
# Child processes: one system, one role, talking JSON lines over stdin/stdout.
# ============================================================================================


def emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}) + "\n")
    sys.stdout.flush()


class _Commands:
    """Lines the parent sends on stdin ("go", "stop {...}"), read on a thread."""

    def __init__(self) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in sys.stdin:
            self._lines.put(line.strip())
        self._lines.put("eof")

    def expect(self, word: str) -> dict[str, Any]:
        while True:
            line = self._lines.get()
            if line == "eof":
                raise SystemExit(0)
            name, _, rest = line.partition(" ")
            if name == word:
                return json.loads(rest) if rest else {}


class Recorder:
    """What the handler and the done-callback see: start latencies and done times."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.done_at: list[float] = []  # list.append is atomic: no lock needed

    def on_start(self, payload: Payload) -> None:
        now = time.time()
        if "t" in payload:
            self.latencies.append(now - float(payload["t"]))
        if payload.get("sleep"):
            emit("started", at=now, pid=os.getpid())

    def on_done(self) -> None:
        self.done_at.append(time.time())

    def report_progress(self, stop: threading.Event) -> None:
        while not stop.wait(PROGRESS_EVERY):
            emit("progress", done=len(self.done_at))


def child_main(config: dict[str, Any]) -> None:
    target = Target(**config["target"])
    system = make_system(config["system"], target, rescue=config.get("rescue", False))
    role = config["role"]
    if role == "fill":
        system.setup()
        payloads: list[Payload] = config.get("payloads") or [{} for _ in range(config["jobs"])]
        started = time.time()
        for i in range(0, len(payloads), FILL_BATCH):
            system.enqueue(payloads[i : i + FILL_BATCH])
        system.stop()
        emit("result", seconds=time.time() - started)
        return
    commands = _Commands()
    recorder = Recorder()
    emit("ready")
    commands.expect("go")
    if role == "produce":
        emit("result", **_produce(system, config))
        system.stop()
        return
    t_go = time.time()
    system.start(recorder.on_start, recorder.on_done)
    if role == "here":
        _enqueue_paced(system.enqueue_here, config["samples"])
        _wait_until(lambda: len(recorder.done_at) >= config["samples"], timeout=30)
        system.stop()
        emit("result", t_go=t_go, done=len(recorder.done_at), latencies=recorder.latencies)
        return
    stop_progress = threading.Event()
    threading.Thread(target=recorder.report_progress, args=(stop_progress,), daemon=True).start()
    request = commands.expect("stop")
    stop_progress.set()
    done_at = list(recorder.done_at)
    window = request.get("window")
    in_window = sum(window[0] <= t <= window[1] for t in done_at) if window else None
    emit(
        "result",
        t_go=t_go,
        done=len(done_at),
        last_done=max(done_at, default=None),
        in_window=in_window,
        latencies=recorder.latencies,
    )
    system.stop()


def _produce(system: Any, config: dict[str, Any]) -> dict[str, Any]:
    started = time.time()
    count = 0
    if config["mode"] == "flood":
        deadline = started + config["seconds"]
        while time.time() < deadline:
            system.enqueue([{} for _ in range(STEADY_BATCH)])
            count += STEADY_BATCH
    else:
        count = _enqueue_paced(lambda payload: system.enqueue([payload]), config["samples"])
    return {"t_start": started, "t_end": time.time(), "count": count}


def _enqueue_paced(enqueue: Callable[[Payload], None], samples: int) -> int:
    """Enqueue `samples` single jobs stamped with their enqueue time, 20-30 ms apart."""
    time.sleep(0.5)  # let the workers go idle first
    for _ in range(samples):
        enqueue({"t": time.time()})
        time.sleep(random.uniform(*LATENCY_GAP))
    return samples


def _wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# ============================================================================================
# The parent: scenarios, children, fresh tables, the report.
# ============================================================================================


class ChildFailed(RuntimeError):
    """A child process exited or went quiet; the message ends with its stderr."""


class Child:
    """One child process of this script running one system in one role."""

    def __init__(self, system: str, role: str, target: Target, logs: Path, **options: Any):
        config = {"system": system, "role": role, "target": asdict(target), **options}
        self.name = f"{system}-{role}"
        self._log = (logs / f"{self.name}-{uuid.uuid4().hex[:6]}.log").open("w+")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "bench")])}
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--child", json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self._events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.done = 0  # from the latest progress line
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a peer printing to stdout
            if event.get("event") == "progress":
                self.done = event["done"]
            else:
                self._events.put(event)
        self._events.put({"event": "exit"})

    def expect(self, name: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ChildFailed(f"{self.name}: no {name!r} within {timeout:.0f} s") from None
            if event["event"] == name:
                return event
            if event["event"] == "exit":
                self._proc.wait()
                raise ChildFailed(
                    f"{self.name} exited ({self._proc.returncode}) before {name!r}:\n"
                    + self._stderr_tail()
                )

    def send(self, command: str, **fields: Any) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{command} {json.dumps(fields)}\n")
        self._proc.stdin.flush()

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def kill(self) -> None:
        if self.alive:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def close(self, timeout: float = 15) -> None:
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.kill()
        self._log.close()

    def _stderr_tail(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return "\n".join(self._log.read().splitlines()[-15:])


@contextmanager
def children(*items: Child) -> Iterator[tuple[Child, ...]]:
    try:
        yield items
    finally:
        for child in items:
            child.close()


@dataclass
class Bench:
    """Settings of this run, and where fresh tables come from."""

    jobs: int
    repeat: int
    burn_cap: float  # seconds a burn-down may take before it is cut short
    steady_seconds: float
    samples: int
    logs: Path
    sqlite_folder: Path
    postgres_url: str | None = None
    schemas: list[str] = field(default_factory=list)
    failures: int = 0
    analyze: bool = True  # ANALYZE PostgreSQL tables after a burn-down's fill

    def fresh_target(self, system: str) -> Target:
        if SYSTEMS[system] == "sqlite":
            return Target(sqlite_path=str(self.sqlite_folder / f"{uuid.uuid4().hex}.db"))
        import psycopg
        from psycopg import sql

        assert self.postgres_url is not None
        schema = f"bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        self.schemas.append(schema)
        return Target(postgres_url=self.postgres_url, schema=schema)

    def fill(self, system: str, target: Target, jobs: int = 0, payloads: Any = None) -> None:
        """Create the system's tables in `target` and enqueue `jobs` no-op jobs (or `payloads`)."""
        child = Child(system, "fill", target, self.logs, jobs=jobs, payloads=payloads)
        with children(child):
            child.expect("result", timeout=180)
        if jobs and target.schema is not None and self.analyze:
            self._analyze(target.schema)

    def _analyze(self, schema: str) -> None:
        """ANALYZE the schema's tables, as autovacuum would within its first minute.

        A table bulk-filled from empty has no statistics until autovacuum's
        first pass (autovacuum_naptime, 60 s by default), and a planner without
        them may pick plans that no long-running system would see.
        """
        import psycopg
        from psycopg import sql

        assert self.postgres_url is not None
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", [schema]
            ).fetchall()
            for (table,) in tables:
                conn.execute(
                    sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
                )

    def child(self, system: str, role: str, target: Target, **options: Any) -> Child:
        return Child(system, role, target, self.logs, **options)


# -- scenarios: each returns a dict of figures for one system ---------------------------------


def burn_down(bench: Bench, system: str, processes: int) -> dict[str, Any]:
    target = bench.fresh_target(system)
    bench.fill(system, target, jobs=bench.jobs)
    workers = [bench.child(system, "work", target) for _ in range(processes)]
    with children(*workers):
        for worker in workers:
            worker.expect("ready", timeout=60)
        for worker in workers:
            worker.send("go")
        # A slow system is stopped at the cap and rated on the jobs it did by then.
        _wait_until(
            lambda: sum(w.done for w in workers) >= bench.jobs or not all(w.alive for w in workers),
            timeout=bench.burn_cap,
        )
        results = []
        for worker in workers:
            worker.send("stop")
            results.append(worker.expect("result", timeout=30))
    done = sum(r["done"] for r in results)
    if done == 0:
        return {"error": "no job done"}
    started = min(r["t_go"] for r in results)
    ended = max(r["last_done"] for r in results if r["last_done"] is not None)
    return {
        "rate": done / (ended - started),
        "seconds": ended - started,
        "partial": done < bench.jobs,
        "busy": sum(1 for r in results if r["done"] > 0),
    }


def steady_state(bench: Bench, system: str) -> dict[str, Any]:
    target = bench.fresh_target(system)
    bench.fill(system, target)
    worker = bench.child(system, "work", target)
    producer = bench.child(system, "produce", target, mode="flood", seconds=bench.steady_seconds)
    with children(worker, producer):
        worker.expect("ready", timeout=60)
        producer.expect("ready", timeout=60)
        worker.send("go")
        producer.send("go")
        produced = producer.expect("result", timeout=bench.steady_seconds + 60)
        window = (produced["t_start"] + 1.0, produced["t_end"])
        worker.send("stop", window=window)
        result = worker.expect("result", timeout=30)
    seconds = window[1] - window[0]
    return {
        "rate": result["in_window"] / seconds,
        "enqueued": produced["count"] / (produced["t_end"] - produced["t_start"]),
        "backlog": produced["count"] - result["done"],
    }


def latency_here(bench: Bench, system: str) -> dict[str, Any]:
    target = bench.fresh_target(system)
    bench.fill(system, target)
    with children(bench.child(system, "here", target, samples=bench.samples)) as (child,):
        child.expect("ready", timeout=60)
        child.send("go")
        result = child.expect("result", timeout=bench.samples * 0.05 + 60)
    return _latency_figures(result["latencies"], bench.samples)


def latency_across(bench: Bench, system: str) -> dict[str, Any]:
    target = bench.fresh_target(system)
    bench.fill(system, target)
    worker = bench.child(system, "work", target)
    producer = bench.child(system, "produce", target, mode="paced", samples=bench.samples)
    with children(worker, producer):
        worker.expect("ready", timeout=60)
        producer.expect("ready", timeout=60)
        worker.send("go")
        time.sleep(0.5)
        producer.send("go")
        producer.expect("result", timeout=bench.samples * 0.05 + 60)
        _wait_until(lambda: worker.done >= bench.samples, timeout=30)
        worker.send("stop")
        result = worker.expect("result", timeout=30)
    return _latency_figures(result["latencies"], bench.samples)


def rescue(bench: Bench, system: str) -> dict[str, Any]:
    target = bench.fresh_target(system)
    bench.fill(system, target, payloads=[{"sleep": SLOW_JOB_SECONDS}])
    victim = bench.child(system, "work", target, rescue=True)
    rescuer = bench.child(system, "work", target, rescue=True)
    with children(victim, rescuer):
        victim.expect("ready", timeout=60)
        victim.send("go")
        victim.expect("started", timeout=60)
        rescuer.expect("ready", timeout=60)
        victim.kill()
        killed_at = time.time()
        rescuer.send("go")
        try:
            started = rescuer.expect("started", timeout=RESCUE_WAIT)
        except ChildFailed:
            started = None
        rescuer.kill()  # its job sleeps for a minute: no graceful stop
    if started is None:
        return {"lost": True}
    return {"seconds": started["at"] - killed_at}


def _latency_figures(latencies: list[float], expected: int) -> dict[str, Any]:
    if not latencies:
        return {"error": "no job started"}
    ms = sorted(1000 * value for value in latencies)
    return {
        "p50": statistics.median(ms),
        "p95": ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))],
        "missing": expected - len(ms),
    }


# -- running the lot ----------------------------------------------------------------------------

SCENARIOS: dict[str, tuple[str, Callable[..., dict[str, Any]]]] = {
    "burn1": ("burn-down, 1 process x 4 (jobs/s)", lambda b, s: burn_down(b, s, 1)),
    "burn4": ("burn-down, 4 processes x 4 (jobs/s)", lambda b, s: burn_down(b, s, 4)),
    "steady": ("steady state with enqueue (done/s)", steady_state),
    "latency_here": ("enqueue->start, same process (ms)", latency_here),
    "latency_across": ("enqueue->start, across processes (ms)", latency_across),
    "rescue": ("rescue after kill -9 (s)", rescue),
}

Results = dict[str, dict[str, list[dict[str, Any]]]]  # scenario -> system -> runs


def run_all(bench: Bench, databases: list[str], scenarios: list[str], chosen: list[str]) -> Results:
    results: Results = {}
    for database in databases:
        systems = [name for name, db in SYSTEMS.items() if db == database and name in chosen]
        for scenario in scenarios:
            measure = SCENARIOS[scenario][1]
            rounds = bench.repeat if scenario == "burn1" else 1
            for round_ in range(rounds):
                for system in systems:  # interleaved, so load changes hit every system alike
                    started = time.monotonic()
                    try:
                        figures = measure(bench, system)
                    except ChildFailed as exc:
                        figures = {"error": str(exc).splitlines()[0]}
                        print(f"   {exc}", file=sys.stderr)
                    bench.failures += "error" in figures
                    results.setdefault(scenario, {}).setdefault(system, []).append(figures)
                    took = time.monotonic() - started
                    print(
                        f"  {database:8} {scenario:14} {system:17} {_cell(scenario, figures):>22}"
                        f"   ({took:.0f} s{f', round {round_ + 1}' if rounds > 1 else ''})",
                        flush=True,
                    )
    return results


def _best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [run for run in runs if "rate" in run]
    return max(good, key=lambda run: run["rate"]) if good else runs[-1]


def _ratio(results: Results, scenario: str, ours: str, peer: str) -> float | None:
    runs = results.get(scenario, {})
    if ours not in runs or peer not in runs:
        return None
    mine, theirs = _best(runs[ours]), _best(runs[peer])
    for key in ("rate", "p50", "seconds"):
        if key in mine and key in theirs and theirs[key]:
            return float(mine[key]) / float(theirs[key])
    return None


def _cell(scenario: str, figures: dict[str, Any]) -> str:
    if "error" in figures:
        return "failed"
    if figures.get("lost"):
        return f"not in {RESCUE_WAIT:.0f} s"
    if "p50" in figures:
        missing = f" ({figures['missing']} lost)" if figures.get("missing") else ""
        return f"{figures['p50']:.1f} / {figures['p95']:.1f}{missing}"
    if scenario == "rescue":
        return f"{figures['seconds']:.1f}"
    if scenario == "steady":
        return f"{figures['rate']:,.0f} (in {figures['enqueued']:,.0f})"
    return f"{figures['rate']:,.0f}{'*' if figures.get('partial') else ''}"


def print_report(results: Results, databases: list[str], burn_cap: float, title: str = "") -> None:
    for database in databases:
        ran = {system for runs in results.values() for system in runs}
        systems = [name for name, db in SYSTEMS.items() if db == database and name in ran]
        if not systems:
            continue
        ours, peers = systems[0], systems[1:]  # bgjobs comes first in SYSTEMS
        width = 27
        print(f"\n{'SQLite' if database == 'sqlite' else 'PostgreSQL'}{title}")
        header = f"  {'':40}{ours:>{width}}" + "".join(f"{p:>{width}}" for p in peers)
        print(header)
        for scenario, (label, _) in SCENARIOS.items():
            runs = results.get(scenario, {})
            if ours not in runs:
                continue
            row = f"  {label:40}{_cell(scenario, _best(runs[ours])):>{width}}"
            for peer in peers:
                cell = _cell(scenario, _best(runs[peer])) if peer in runs else "-"
                ratio = _ratio(results, scenario, ours, peer)
                if ratio is not None and not _best(runs[peer]).get("lost"):
                    cell += f" [{ratio:.2f}x]"
                row += f"{cell:>{width}}"
            print(row)
        print(
            "  [ratio] = bgjobs / peer; latency: p50 / p95; steady: done/s (enqueued/s);\n"
            f"  * = burn-down cut at {burn_cap:g} s, rated on the jobs done by then"
        )
        burn = results.get("burn1", {})
        for system in systems:
            if len(burn.get(system, [])) > 1:
                rounds = ", ".join(_cell("burn1", run) for run in burn[system])
                print(f"  burn-down rounds, {system}: {rounds}")
    print(f"\nGoals{title}")
    for database, scenario, ours, peer, least in THROUGHPUT_GOALS:
        ratio = _ratio(results, scenario, ours, peer)
        if database in databases and ratio is not None:
            label = f"{scenario} >= {least:g}x {peer}"
            verdict = "met" if ratio >= least else "MISSED"
            print(f"  {database:8} {label:40} {ratio:>7.2f}x  {verdict}")
    for database, scenario, ours, limit in LATENCY_GOALS:
        p50 = _best(results.get(scenario, {}).get(ours, [{}])).get("p50")
        if database in databases and p50 is not None:
            label = f"{scenario} p50 < {limit:g} ms"
            verdict = "met" if p50 < limit else "MISSED"
            print(f"  {database:8} {label:40} {p50:>5.1f} ms  {verdict}")
    # Keeping up is the PostgreSQL goal (a web tier feeding workers on a server);
    # SQLite's figure is printed for information.
    for database in databases:
        ours = f"bgjobs-{database}"
        steady = _best(results.get("steady", {}).get(ours, [{}]))
        if "rate" in steady and steady.get("enqueued"):
            share = steady["rate"] / steady["enqueued"]
            label = f"steady done/s >= {KEEP_UP:g}x enqueued/s"
            verdict = "met" if share >= KEEP_UP else "MISSED"
            if database == "sqlite":
                label, verdict = "steady done/s / enqueued/s", "(information)"
            print(f"  {database:8} {label:40} {share:>7.2f}x  {verdict}")
    one = _best(results.get("burn1", {}).get("bgjobs-sqlite", [{}])).get("rate")
    four = _best(results.get("burn4", {}).get("bgjobs-sqlite", [{}])).get("rate")
    if "sqlite" in databases and one and four:
        share = four / one
        label = f"4 processes >= {SQLITE_PROCESSES_SHARE:g}x 1 process"
        verdict = "met" if share >= SQLITE_PROCESSES_SHARE else "MISSED"
        print(f"  {'sqlite':8} {label:40} {share:>7.2f}x  {verdict}")


@contextmanager
def postgres(url: str | None, *, durable: bool = True) -> Iterator[str]:
    server = None
    if url is None:
        from tests.pg_server import PostgresServer

        server = PostgresServer.start_new(durable=durable)
        url = server.create_database("bgjobs_bench")
    try:
        yield url
    finally:
        if server is not None:
            server.stop()


def _drop_schemas(url: str, schemas: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 jobs, fewer samples")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--postgres-url", default=os.environ.get("BGJOBS_BENCH_DATABASE_URL"))
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS), help="run these scenarios")
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), help="run these systems")
    parser.add_argument("--jobs", type=int, help="jobs per burn-down (default 10,000)")
    parser.add_argument("--repeat", type=int, help="rounds of the 1-process burn-down")
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="don't ANALYZE PostgreSQL tables after filling them for a burn-down",
    )
    parser.add_argument(
        "--unsafe-fast",
        action="store_true",
        help="also run the PostgreSQL scenarios with fsync off, printed after the durable ones",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(json.loads(args.child))
        return
    databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    scenarios = args.only or list(SCENARIOS)
    chosen = args.systems or list(SYSTEMS)
    folder = Path(tempfile.mkdtemp(prefix="bgjobs-bench-"))
    (folder / "logs").mkdir()
    (folder / "db").mkdir()
    bench = Bench(
        jobs=args.jobs or (2_000 if args.quick else 10_000),
        repeat=args.repeat or (1 if args.quick else 2),
        burn_cap=12.0 if args.quick else 25.0,
        steady_seconds=3.0 if args.quick else 10.0,
        samples=60 if args.quick else 200,
        logs=folder / "logs",
        sqlite_folder=folder / "db",
        analyze=not args.no_analyze,
    )
    load = os.getloadavg()
    print(
        f"bench/runtime.py: {bench.jobs:,} jobs per burn-down, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
        flush=True,
    )
    started = time.monotonic()
    unsafe: Results = {}
    try:
        if "postgres" in databases:
            with postgres(args.postgres_url) as url:
                bench.postgres_url = url
                try:
                    results = run_all(bench, databases, scenarios, chosen)
                finally:
                    _drop_schemas(url, bench.schemas)
            if args.unsafe_fast and args.postgres_url is None:
                print("PostgreSQL again, fsync off (unsafe: not a production setting)", flush=True)
                with postgres(None, durable=False) as url:
                    bench.postgres_url, bench.schemas = url, []
                    unsafe = run_all(bench, ["postgres"], scenarios, chosen)
        else:
            results = run_all(bench, databases, scenarios, chosen)
    finally:
        shutil.rmtree(folder / "db", ignore_errors=True)
        if bench.failures:
            print(
                f"\n{bench.failures} run(s) failed; the children's stderr is in {folder / 'logs'}"
            )
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print_report(results, databases, bench.burn_cap)
    if unsafe:
        print_report(unsafe, ["postgres"], bench.burn_cap, title=", fsync off (unsafe)")
    load = os.getloadavg()
    print(
        f"\n{time.monotonic() - started:.0f} s in all; load average now "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )


if __name__ == "__main__":
    main()
