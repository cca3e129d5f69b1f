"""Workers on two "hosts" (network namespaces) share one PostgreSQL; one host is cut off.

Each namespace reaches the server over its own veth pair. The link of host A
is cut for longer than the lease while A holds jobs: host B rescues and runs
them, A's late completions change nothing, and A goes on working once its
link is back. Needs root and `ip netns`; skipped, with the reason, where the
kernel or the container refuses them.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bgjobs import JobRequest
from bgjobs.db import PostgresAdapter
from tests.pg_server import PostgresServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Host:
    namespace: str
    host_side: str  # the veth end outside the namespace: down = link cut
    server_address: str  # the server's address as this host sees it

    def cut(self) -> None:
        _ip("link", "set", self.host_side, "down")

    def restore(self) -> None:
        _ip("link", "set", self.host_side, "up")


@pytest.fixture
def hosts() -> Iterator[list[Host]]:
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.skip("needs root and the `ip` command (iproute2) for network namespaces")
    tag = uuid.uuid4().hex[:6]
    subnet = random.randint(1, 250)
    made: list[Host] = []
    try:
        for index in range(2):
            namespace, outside, inside = (
                f"bgj{tag}{index}",
                f"bgj{tag}o{index}",
                f"bgj{tag}i{index}",
            )
            try:
                _ip("netns", "add", namespace)
            except subprocess.CalledProcessError as exc:
                pytest.skip(f"the kernel refuses `ip netns add`: {exc.stderr.strip()}")
            host = Host(namespace, outside, f"10.213.{subnet}.{4 * index + 1}")
            made.append(host)
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", namespace)
            _ip("addr", "add", f"{host.server_address}/30", "dev", outside)
            _ip("link", "set", outside, "up")
            within = ["netns", "exec", namespace, "ip"]
            _ip(*within, "addr", "add", f"10.213.{subnet}.{4 * index + 2}/30", "dev", inside)
            _ip(*within, "link", "set", inside, "up")
            _ip(*within, "link", "set", "lo", "up")
        yield made
    finally:
        for host in made:
            subprocess.run(["ip", "link", "del", host.host_side], capture_output=True)
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    started = PostgresServer.start_new(trust_from="10.213.0.0/16")
    try:
        yield started
    finally:
        started.stop()


class HostWorker:
    """tests/runtime/host_worker.py running inside a namespace."""

    def __init__(self, host: Host, port: int, runs: Path) -> None:
        url = f"postgresql://postgres@{host.server_address}:{port}/postgres"
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, sys.executable, "-m",
             "tests.runtime.host_worker", url, str(runs)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.worker_id = self.process.stdout.readline().strip()
        assert self.worker_id, f"worker did not start: {self._stderr()}"

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _stderr(self) -> str:
        self.process.kill()
        return self.process.communicate()[1][-3000:]


def _wait(condition: Callable[[], Any], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


def _runs(path: Path) -> list[tuple[str, str, str, int]]:
    if not path.exists():
        return []
    lines = [line.split() for line in path.read_text().splitlines() if line]
    return [(what, job_id, owner, int(attempts)) for what, job_id, owner, attempts in lines]


def test_a_host_cut_off_longer_than_the_lease(
    hosts: list[Host], server: PostgresServer, tmp_path: Path
) -> None:
    cut_off, other = hosts
    url = server.url()
    adapter = PostgresAdapter(url)
    adapter.migrate()
    runs = tmp_path / "runs"
    a = HostWorker(cut_off, server.port, runs)
    b: HostWorker | None = None
    try:
        # Host A alone takes the slow jobs (15 s on a first attempt, 0.5 s after)...
        slow = adapter.enqueue_many(
            [JobRequest("slow", {"first": 15, "again": 0.5}) for _ in range(4)]
        )
        ids = {job.id for job in slow}
        _wait(
            lambda: {r[1] for r in _runs(runs) if r[0] == "start" and r[2] == a.worker_id} == ids,
            "host A starting the slow jobs",
        )
        b = HostWorker(other, server.port, runs)
        # ...and is cut off while running them, for well over the lease (3 s).
        cut_off.cut()
        cut_at = time.monotonic()
        assert not [r for r in _runs(runs) if r[0] == "end"], "A finished before the cut"
        _wait(
            lambda: {j.id for j in adapter.list_jobs("succeeded") if j.id in ids} == ids,  # type: ignore[union-attr]
            "host B rescuing and finishing host A's jobs",
        )
        assert {r[1] for r in _runs(runs) if r[0] == "end" and r[2] == b.worker_id} == ids
        finished = {
            job.id: (job.attempts, job.finished_at)  # type: ignore[union-attr]
            for job in adapter.list_jobs("succeeded")
        }
        assert all(attempts == 2 for attempts, _ in finished.values()), finished
        time.sleep(max(0.0, 10 - (time.monotonic() - cut_at)))
        cut_off.restore()

        # Back on the network, A reports its four late outcomes: they change nothing.
        # Then A goes on working: B stops, and new jobs can only be run by A.
        b.stop()
        quick = adapter.enqueue_many(
            [JobRequest("quick", {"first": 0.1, "again": 0.1}) for _ in range(6)]
        )
        quick_ids = {job.id for job in quick}
        _wait(
            lambda: quick_ids <= {j.id for j in adapter.list_jobs("succeeded")},  # type: ignore[union-attr]
            "host A running new jobs once its link is back",
        )
        ran_quick = {r[2] for r in _runs(runs) if r[0] == "end" and r[1] in quick_ids}
        assert ran_quick == {a.worker_id}
        # A finished its first runs of the slow jobs (they end before it hears back).
        assert {r[1] for r in _runs(runs) if r[0] == "end" and r[2] == a.worker_id} >= ids
        after = {
            job.id: (job.attempts, job.finished_at)  # type: ignore[union-attr]
            for job in adapter.list_jobs("succeeded")
            if job.id in ids
        }
        assert after == {job_id: finished[job_id] for job_id in ids}
        counts = adapter.count_jobs(now=slow[0].created_at)
        assert (counts.succeeded, counts.failed, counts.waiting, counts.running) == (10, 0, 0, 0)
    finally:
        cut_off.restore()
        for worker in (a, b):
            if worker is not None:
                worker.stop()
        adapter.close()
