"""Runs the schedules added at runtime (`schedules.add`) whose job this process handles.

One service per process polls `jobs_schedules` twice a second: that is what
makes a schedule added, paused or removed from any process take effect within a
second. Each due schedule is claimed by key like a schedule from code (the
claim refuses paused ones, and the single row per key lets only one process
claim each slot), and run by a ScheduledRunner made from the stored values, on
a thread of its own: a long run of one schedule never delays another's slot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from bgjobs.db.schedule_records import StoredSchedule
from bgjobs.events import Listener
from bgjobs.jobs import Job, Worker
from bgjobs.misfire import MisfirePolicy
from bgjobs.retry import Backoff
from bgjobs.runtime.completer import Completer
from bgjobs.runtime.context import RuntimeContext
from bgjobs.runtime.executor import Executor
from bgjobs.runtime.scheduler import ResolvedScheduledJob, ScheduledRunner
from bgjobs.schedule import parse

logger = logging.getLogger("bgjobs")

#: How often the stored schedules are read: a change takes effect within this.
POLL_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class Handling:
    """How this process runs a job name: its worker and the retry and timeout settings of
    the Queue (or ScheduledJob) that declared it."""

    worker: Worker
    max_retries: int
    retry_backoff: Backoff
    listeners: tuple[Listener, ...]
    job_timeout: timedelta | None = None
    #: How many runtime-schedule runs may go at once in this process for the declaring
    #: Queue (shared by all its job names) or ScheduledJob: its max_concurrent_jobs, 1
    #: for a ScheduledJob. `limit_group` names what shares the limit.
    max_concurrent: int = 1
    limit_group: str = ""


class AddedSchedules:
    """Claims and runs due runtime schedules for the job names this process handles."""

    name = "added-schedules"

    def __init__(
        self,
        context: RuntimeContext,
        completer: Completer,
        executor: Executor,
        handling: dict[str, Handling],
    ) -> None:
        self._context = context
        self._completer = completer
        self._executor = executor
        self._handling = handling
        self._runners: dict[str, tuple[StoredSchedule, ScheduledRunner]] = {}
        self._runs: dict[str, threading.Thread] = {}  # key -> the thread running its slot
        self._going: Counter[str] = Counter()  # limit group -> runs going in this process
        self._lock = threading.Lock()
        self._wake = threading.Event()

    def run(self) -> None:
        context = self._context
        try:
            while not context.stopping.is_set():
                self.run_due()
                context.clock.wait(self._wake, POLL_SECONDS)
                self._wake.clear()
        finally:
            # The runtime's stop waits for this service: it must not return while a
            # run is still going, or its outcome would race the shutdown. (After a crash
            # the supervisor restarts the service at once; the runs go on meanwhile.)
            if context.stopping.is_set():
                for thread in self._run_threads():
                    thread.join()

    def run_due(self, *, draining: bool = False) -> int:
        """Claim and run every due schedule this process handles; returns how many ran."""
        if not self._handling:
            return 0
        context = self._context
        stored = context.with_db_retry("stored_schedules", context.adapter.stored_schedules)
        now = context.clock.now()
        ran = 0
        for schedule in stored:
            if context.stopping.is_set() and not draining:
                break
            due = schedule.next_fire
            if schedule.paused or schedule.running or due is None or due > now:
                continue
            runner = self._runner_for(schedule)
            if runner is None:
                continue
            if draining:
                ran += runner.drain_row()
            else:
                ran += self._start_run(schedule, runner)
        return ran

    def _start_run(self, schedule: StoredSchedule, runner: ScheduledRunner) -> int:
        """Claim and run a due slot on a thread of its own, unless the key's previous run
        is still going or its job name already has as many runs going as its queue allows
        (then the slot is left for another process, or for this one's next poll)."""
        key = schedule.key
        handling = self._handling[schedule.job_name]
        group = handling.limit_group
        with self._lock:
            going = self._runs.get(key)
            if going is not None and going.is_alive():
                return 0
            if self._going[group] >= handling.max_concurrent:
                return 0
            thread = threading.Thread(
                target=self._run_slot, args=(key, group, runner), name=f"bgjobs-schedule:{key}"
            )
            thread.daemon = True
            thread.start()
            self._runs[key] = thread
            self._going[group] += 1
        return 1

    def wait_runs(self, deadline: float) -> None:
        """Wait (until the monotonic `deadline`) for the runs going now to end: the
        runtime's stop calls it, whether this service ended normally or died."""
        for thread in self._run_threads():
            thread.join(max(0.0, deadline - time.monotonic()))

    def _run_slot(self, key: str, group: str, runner: ScheduledRunner) -> None:
        try:
            runner.tick()
        except Exception:
            # The row stays claimed by this process; the monitor's rescue makes it
            # runnable again once its lease runs out, as after a crash.
            logger.exception("runtime schedule %r: the run failed outside its handler", key)
        finally:
            with self._lock:
                self._going[group] -= 1
                if self._runs.get(key) is threading.current_thread():
                    del self._runs[key]

    def _run_threads(self) -> list[threading.Thread]:
        with self._lock:
            return list(self._runs.values())

    def running_jobs(self) -> list[Job]:
        """The runs going now, for the stop's report of jobs left reserved."""
        return [job for runner in self._all_runners() if (job := runner.running_job) is not None]

    def _runner_for(self, schedule: StoredSchedule) -> ScheduledRunner | None:
        handling = self._handling.get(schedule.job_name)
        if handling is None:
            return None
        with self._lock:
            cached = self._runners.get(schedule.key)
        if cached is not None and _same(cached[0], schedule):
            return cached[1]
        try:
            policy = parse(schedule.schedule_text)
        except Exception:
            logger.exception("stored schedule %r cannot be read", schedule.key)
            return None
        resolved = ResolvedScheduledJob(
            key=schedule.key,
            worker=handling.worker,
            policy=policy,
            payload_text=schedule.payload_text,
            misfire=MisfirePolicy(schedule.misfire, schedule.grace),
            max_retries=handling.max_retries,
            retry_backoff=handling.retry_backoff,
            poll_interval_seconds=POLL_SECONDS,
            listeners=handling.listeners,
            job_timeout=handling.job_timeout,
        )
        runner = ScheduledRunner(resolved, self._context, self._completer, self._executor)
        with self._lock:
            self._runners[schedule.key] = (schedule, runner)
        return runner

    def wake(self) -> None:
        self._wake.set()

    def request_stop_of_running(self) -> None:
        for runner in self._all_runners():
            runner.request_stop_of_running()

    def held_job_ids(self) -> list[str]:
        return [job_id for runner in self._all_runners() for job_id in runner.held_job_ids()]

    def _all_runners(self) -> list[ScheduledRunner]:
        with self._lock:
            return [runner for _, runner in self._runners.values()]


def _same(cached: StoredSchedule, current: StoredSchedule) -> bool:
    """Whether a cached runner still fits: the stored values it was made from are unchanged
    (a key removed and added again may run another job with another schedule)."""
    return (
        cached.job_name,
        cached.schedule_text,
        cached.payload_text,
        cached.misfire,
        cached.grace,
    ) == (
        current.job_name,
        current.schedule_text,
        current.payload_text,
        current.misfire,
        current.grace,
    )
