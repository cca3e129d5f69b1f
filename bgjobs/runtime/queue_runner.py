"""One queue: claim due jobs up to free capacity, run them on daemon threads, report outcomes.

The loop is `tick()` plus a wait: `tick()` claims one batch and hands it to
the handler threads; the wait lasts until a slot frees, an enqueue or a
notification wakes the queue, the earliest known available_at arrives, or
the poll interval passes.
"""

from __future__ import annotations

import queue as stdlib_queue
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from bgjobs.db.adapter import Outcome, Released, RetryLater
from bgjobs.events import Event, JobReleased, JobReserved, PollingStarted, PollingStopped
from bgjobs.jobs import Handler, Job
from bgjobs.runtime.completer import Completer
from bgjobs.runtime.config import Queue
from bgjobs.runtime.context import RuntimeContext
from bgjobs.runtime.executor import Executor, Ran, RunPolicy
from bgjobs.runtime.outcomes import lease_of, needs_solo_run

#: After an in-process enqueue inside the caller's (maybe uncommitted) transaction,
#: look again after these delays in case the first look came before the commit.
RELOOK_DELAYS = (0.005, 0.020, 0.100)

#: How long a busy queue waits for half its slots to free before claiming again.
GATHER_SECONDS = 0.002

#: drain() claims at most this many jobs per round trip.
DRAIN_BATCH = 100

#: By default a queue claims ahead (prefetch) only while its jobs take less than this
#: on average: a job claimed ahead then waits a few milliseconds at most, while with
#: long jobs it would sit reserved here while another process has a free worker.
QUICK_JOB_SECONDS = 0.050
#: ...and then up to this many times max_concurrent_jobs ahead. Each claim is a
#: commit: on a durable PostgreSQL server, claiming 12 instead of 4 at a time
#: nearly doubled the burn-down (docs/performance.md).
AUTO_PREFETCH_FACTOR = 2


class QueueRunner:
    """Claims and runs the jobs of one Queue in this process."""

    def __init__(
        self, queue: Queue, context: RuntimeContext, completer: Completer, executor: Executor
    ) -> None:
        self.queue = queue
        self.name = queue.name
        self._context = context
        self._completer = completer
        self._executor = executor
        self._policy = RunPolicy(
            source=queue.name,
            max_retries=queue.max_retries,
            retry_backoff=queue.retry_backoff,
            listeners=queue.listeners,
            job_timeout=queue.job_timeout,
            grace=queue.timeout_grace,
        )
        self._names = tuple(sorted(queue.job_names))
        self._handlers = {worker.job_name: worker.handler for worker in queue.workers}
        self._async_names = frozenset(
            worker.job_name for worker in queue.workers if executor.is_async(worker.handler)
        )
        self._listeners = queue.listeners
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._slot_freed = threading.Condition(self._lock)
        self._in_use = 0  # claimed and not yet finished (unstarted + running)
        self._mean_duration = 1.0  # moving average of run times (seconds): see _capacity
        # Async jobs claimed ahead wait here (ids; the jobs are in _unstarted) until one of
        # the queue's max_concurrent_jobs async slots frees: no thread of their own to wait on.
        self._async_waiting: deque[str] = deque()
        self._async_running = 0
        # One thread at a time starts waiting async jobs; a call meanwhile (another
        # run ending, or a refused job's outcome inside the start) asks it to look again.
        self._pumping = False
        self._repump = False
        self._unstarted: dict[str, Job] = {}  # claimed, not yet taken by a handler thread
        self._running: dict[str, Job] = {}  # being run (on a handler thread or the event loop)
        self._next_due: datetime | None = None  # earliest available_at we know of
        # A suspect job waiting to run alone, running alone, or finished and waiting for
        # its outcome to commit: nothing else is claimed until it has.
        self._solo: Job | None = None
        self._solo_dispatched = False
        self._relook_at: list[float] = []  # monotonic times to look again
        self._tasks: stdlib_queue.SimpleQueue[Job | None] = stdlib_queue.SimpleQueue()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------
    def start_handlers(self) -> None:
        for _ in range(self.queue.max_concurrent_jobs):
            self._start_handler_thread()

    def _start_handler_thread(self) -> None:
        with self._lock:
            index = len(self._threads)
            thread = threading.Thread(
                target=self._handler_loop, name=f"bgjobs-{self.name}-{index}", daemon=True
            )
            self._threads.append(thread)
        thread.start()

    def run(self) -> None:
        """The claim loop; returns when the runtime stops. Crashes propagate to the supervisor."""
        context = self._context
        self._emit(PollingStarted(queue=self.name))
        try:
            while not context.stopping.is_set():
                self._wake.clear()
                if self._solo is not None:
                    # A rescued job waits to run alone: a finishing handler wakes us.
                    self._dispatch_solo_when_alone()
                    self._wait(self.queue.poll_interval.total_seconds())
                    continue
                self._start_waiting_async()
                free_before = self._free()
                claimed = self.tick()
                if claimed and claimed == free_before:
                    # Full batch: more may be due; go on as soon as slots free.
                    self._wait(self.queue.poll_interval.total_seconds())
                    self._gather_slots()
                elif not claimed or claimed < free_before:
                    self._wait(self._idle_timeout(claimed == 0))
        finally:
            self._emit(PollingStopped(queue=self.name))

    def _gather_slots(self) -> None:
        """Under load, let a few more slots free before claiming again.

        One claim of several jobs costs about what a claim of one does, so
        waiting a moment for half the slots turns many one-job claims into a
        few batched ones. An idle queue (all slots free) never waits here.
        This moment is real time, not the runtime clock's: it batches work,
        it schedules nothing a test would want to step.
        """
        capacity = self._capacity()
        half = max(1, capacity // 2)
        with self._lock:
            self._slot_freed.wait_for(
                lambda: capacity - self._in_use >= half,
                timeout=GATHER_SECONDS,
            )

    def tick(self) -> int:
        """Claim up to free capacity and hand the jobs to handler threads; returns how many."""
        if self._solo is not None:
            self._dispatch_solo_when_alone()
            return 0
        free = self._free()
        if free <= 0 or not self._names:
            return 0
        context = self._context
        jobs = context.with_db_retry("reserve_jobs", lambda: self._claim(free))
        if context.stopping.is_set():
            self._release(jobs)  # stop() began while we claimed: give them back at once
            return 0
        runnable: list[Job] = []
        for job in jobs:
            self._emit(
                JobReserved(job_id=job.id, name=job.name, attempts=job.attempts, queue=self.name)
            )
            refused = self._executor.refuse(job, self._policy)
            if refused is not None:
                self._completer.submit(refused.outcome, self._on_committed(refused))
            else:
                runnable.append(job)
        solo = next(
            (j for j in runnable if needs_solo_run(j, max_retries=self.queue.max_retries)), None
        )
        if solo is not None:
            self._start_solo(solo, [job for job in runnable if job is not solo])
            return len(jobs)
        on_loop = [job for job in runnable if job.name in self._async_names]
        on_threads = [job for job in runnable if job.name not in self._async_names]
        with self._lock:
            self._in_use += len(runnable)
            for job in runnable:
                self._unstarted[job.id] = job
            self._async_waiting.extend(job.id for job in on_loop)
        for job in on_threads:
            self._tasks.put(job)
        if on_loop:
            self._start_waiting_async()
        return len(jobs)

    def _start_waiting_async(self) -> None:
        """Start waiting async jobs on the event loop while async slots are free.

        Async handlers need no thread of their own: the jobs start together and each
        outcome is handed over from the loop. Jobs claimed ahead wait for a slot here,
        so no more than max_concurrent_jobs async handlers run at once; an ending run
        starts the next at once. A refused job's outcome comes back into here from
        inside the start: it asks the running call to look again instead of nesting,
        so any number of refusals in a row is a loop, not a deeper stack.
        """
        if not self._async_names:
            return  # the claim loop calls this every turn: no locks for a sync-only queue
        with self._lock:
            if self._pumping:
                self._repump = True
                return
            self._pumping = True
        try:
            while self._start_some_async():
                pass
        finally:
            with self._lock:
                self._pumping = False

    def _start_some_async(self) -> bool:
        """One round of starts; True when another round is needed."""
        starting: list[Job] = []
        with self._lock:
            self._repump = False
            if self._context.stopping.is_set():
                return False  # a graceful stop gives unstarted jobs back (release_unstarted)
            room = self.queue.max_concurrent_jobs - self._async_running
            while room > 0 and self._async_waiting:
                job = self._unstarted.pop(self._async_waiting.popleft(), None)
                if job is None:
                    continue  # released meanwhile (restart or stop)
                self._running[job.id] = job
                starting.append(job)
                room -= 1
            self._async_running += len(starting)
        if starting:
            self._executor.start_async(
                starting, self._handler_of, self._policy, self._on_async_done
            )
        with self._lock:
            return self._repump

    def _claim(self, limit: int) -> list[Job]:
        """One claim: the plain one, or the limited one when the queue has global limits."""
        context = self._context
        limits = self.queue.limits
        if limits.any:
            return context.adapter.reserve_limited_jobs(
                self._names,
                queue=self.name,
                limit=limit,
                owner=context.owner,
                now=context.clock.now(),
                limits=limits,
            )
        return context.adapter.reserve_jobs(
            self._names, queue=self.name, limit=limit, owner=context.owner, now=context.clock.now()
        )

    def _handler_of(self, job: Job) -> Handler:
        return self._handlers[job.name]

    def _on_async_done(self, ran: Ran) -> None:
        self._completer.submit(ran.outcome, self._on_committed(ran))
        with self._lock:
            self._async_running -= 1
        # Its run time counts like a thread's: quick async jobs are claimed ahead too.
        self._free_slot(ran.job, ran_for=ran.duration)
        self._start_waiting_async()

    def _start_solo(self, solo: Job, others: list[Job]) -> None:
        """Give back the rest of the batch and run `solo` once nothing else of ours runs."""
        with self._lock:
            self._in_use += 1 + len(others)
            for job in (solo, *others):
                self._unstarted[job.id] = job
            self._solo = solo
        self._release([job for job in others if self._forget_unstarted(job)])
        self._dispatch_solo_when_alone()

    def _dispatch_solo_when_alone(self) -> None:
        with self._lock:
            solo = self._solo
            if solo is None or solo.id not in self._unstarted or self._in_use != 1:
                return
            if self._solo_dispatched:
                return
            self._solo_dispatched = True
        self._tasks.put(solo)

    def _forget_unstarted(self, job: Job) -> bool:
        with self._lock:
            if self._unstarted.pop(job.id, None) is None:
                return False
            self._in_use -= 1
            self._slot_freed.notify_all()
            return True

    def wake(self, available_at: datetime | None = None, *, uncommitted: bool = False) -> None:
        """An enqueue in this process: claim now, or remember when the job becomes due."""
        if available_at is not None and available_at > self._context.clock.now():
            with self._lock:
                if self._next_due is None or available_at < self._next_due:
                    self._next_due = available_at
        elif uncommitted:
            now = self._context.clock.monotonic()
            with self._lock:
                self._relook_at.extend(now + delay for delay in RELOOK_DELAYS)
        self._wake.set()

    def notify(self) -> None:
        """Another process announced work: look now, unless every slot is taken.

        A full queue looks anyway as soon as a slot frees; waking it for each
        of the other processes' commits (SQLite's watcher sees them all) would
        only add claims that find no room.
        """
        if self._free() > 0:
            self._wake.set()

    def release_unstarted(self) -> list[Job]:
        """Give back jobs claimed but never handed to a handler (after a crash or at stop)."""
        with self._lock:
            jobs = list(self._unstarted.values())
            self._unstarted.clear()
            self._async_waiting.clear()
            self._in_use -= len(jobs)
            self._solo = None
            self._solo_dispatched = False
            self._slot_freed.notify_all()
        self._release(jobs)
        return jobs

    def _release(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        context = self._context
        outcomes: list[Outcome] = [Released(lease=lease_of(job)) for job in jobs]
        results = context.with_db_retry(
            "release_jobs",
            lambda: context.adapter.finish_jobs(outcomes, now=context.clock.now()),
        )
        for job, applied in zip(jobs, results, strict=True):
            if applied:
                self._emit(JobReleased(job_id=job.id, name=job.name))

    def request_stop_of_running(self) -> None:
        """Set stop_requested on every running job so cooperative handlers finish early."""
        with self._lock:
            running = list(self._running)
        for job_id in running:
            self._executor.stop_running(job_id, "shutdown")

    def wait_idle(self, deadline: float) -> bool:
        """Wait until no job of this queue is running, or the monotonic deadline passes."""
        with self._lock:
            return self._slot_freed.wait_for(
                lambda: self._in_use == 0, timeout=max(0.0, deadline - time.monotonic())
            )

    def end_handlers(self) -> None:
        for _ in range(self.queue.max_concurrent_jobs):
            self._tasks.put(None)

    @property
    def running_jobs(self) -> list[Job]:
        with self._lock:
            return list(self._running.values())

    def held_job_ids(self) -> list[str]:
        """The jobs this runner holds: claimed and not yet finished (unstarted or running)."""
        with self._lock:
            return [*self._unstarted, *self._running]

    # -- internals -------------------------------------------------------
    def _capacity(self) -> int:
        """Jobs this queue may hold at once: one per worker, plus those claimed ahead."""
        workers, prefetch = self.queue.max_concurrent_jobs, self.queue.prefetch
        if self.queue.limits.any:
            # A job claimed ahead would hold a global slot (or a start in the
            # rate window) while it waits here and another process idles.
            return workers
        if prefetch is None:
            quick = self._mean_duration < QUICK_JOB_SECONDS
            prefetch = AUTO_PREFETCH_FACTOR * workers if quick else 0
        return workers + prefetch

    def _free(self) -> int:
        with self._lock:
            return self._capacity() - self._in_use

    def _idle_timeout(self, found_nothing: bool) -> float:
        if self.queue.limits.any:
            return self._limited_timeout()
        context = self._context
        timeout = self.queue.poll_interval.total_seconds()
        now_mono = context.clock.monotonic()
        with self._lock:
            self._relook_at = [at for at in self._relook_at if at > now_mono]
            if self._relook_at:
                timeout = min(timeout, min(self._relook_at) - now_mono)
            if found_nothing:
                # Whatever we knew was due has been claimed; ask the database below.
                self._next_due = None
            next_due = self._next_due
        if found_nothing and self._free() > 0:
            next_due = context.with_db_retry(
                "next_available_at",
                lambda: context.adapter.next_available_at(self._names, queue=self.name),
            )
            if next_due is not None:
                with self._lock:
                    if self._next_due is None or next_due < self._next_due:
                        self._next_due = next_due
                    next_due = self._next_due
        if next_due is not None:
            until = (next_due - context.clock.now()).total_seconds()
            timeout = min(timeout, max(until, 0.0))
        return max(timeout, 0.0)

    def _limited_timeout(self) -> float:
        """How long a limited queue waits after a claim that took less than it asked for.

        Due jobs may be held back by the limits, so "when is the next job due?"
        cannot tell when to look again (it would say "now" and the loop would
        spin). A job of ours finishing or an enqueue wakes the queue at once;
        otherwise it looks again after the poll interval, or sooner with a rate
        limit: after the average gap between starts the limit allows.
        """
        timeout = self.queue.poll_interval.total_seconds()
        limits = self.queue.limits
        if limits.rate is not None and limits.per is not None:
            timeout = min(timeout, limits.per.total_seconds() / limits.rate)
        with self._lock:
            next_due = self._next_due
        if next_due is not None:
            until = (next_due - self._context.clock.now()).total_seconds()
            if until > 0:
                timeout = min(timeout, until)
        return timeout

    def _wait(self, timeout: float) -> None:
        if timeout > 0:
            self._context.clock.wait(self._wake, timeout)

    def _take(self, job: Job) -> bool:
        with self._lock:
            if self._context.stopping.is_set():
                return False  # a graceful stop gives unstarted jobs back (release_unstarted)
            if self._unstarted.pop(job.id, None) is None:
                return False  # released meanwhile (restart or stop)
            self._running[job.id] = job
            return True

    def _handler_loop(self) -> None:
        while True:
            job = self._tasks.get()
            if job is None:
                return
            if self._take(job) and not self._execute(job):
                return  # this thread was abandoned and replaced: it ends here

    def _execute(self, job: Job) -> bool:
        """Run one job and hand its outcome over; False if the run was abandoned."""
        abandoned = False
        started = self._context.clock.monotonic()
        try:
            ran = self._executor.run(
                job, self._handlers[job.name], self._policy, on_abandon=self._on_abandoned
            )
            if ran is None:
                # The slot was freed when the run was abandoned; the job may even be
                # ours again by now, under a new claim that this thread must not touch.
                abandoned = True
                return False
            self._completer.submit(ran.outcome, self._on_committed(ran))
        finally:
            if not abandoned:
                self._free_slot(job, ran_for=self._context.clock.monotonic() - started)
        return True

    def _on_abandoned(self, ran: Ran) -> None:
        """A run still going `grace` after its timeout or cancel: commit its outcome now,
        free its slot and start a thread in place of the one it holds."""
        self._completer.submit(ran.outcome, self._on_committed(ran))
        self._free_slot(ran.job)
        self._start_handler_thread()

    def _free_slot(self, job: Job, ran_for: float | None = None) -> None:
        # Whatever happened, the slot comes back: a slot lost here would shrink
        # the queue for the life of the process. A solo job's turn ends only
        # when its outcome has committed (see _on_committed).
        with self._lock:
            if ran_for is not None:
                self._mean_duration += 0.2 * (ran_for - self._mean_duration)
            if self._running.pop(job.id, None) is None:
                return
            self._in_use -= 1
            self._slot_freed.notify_all()
        self._wake.set()

    def drain_once(self) -> int:
        """Claim every due job of this queue and run it on the calling thread (drain())."""
        jobs = self._claim(DRAIN_BATCH)
        for job in jobs:
            self._emit(
                JobReserved(job_id=job.id, name=job.name, attempts=job.attempts, queue=self.name)
            )
            ran = self._executor.run(job, self._handlers[job.name], self._policy)
            assert ran is not None, "a run without on_abandon is never abandoned"
            self._executor.report(ran, self._completer.commit_now(ran.outcome))
        return len(jobs)

    def _on_committed(self, ran: Ran) -> Callable[[bool], None]:
        def committed(applied: bool) -> None:
            self._executor.report(ran, applied)
            outcome = ran.outcome
            due_again = outcome.available_at if isinstance(outcome, RetryLater | Released) else None
            if applied and due_again is not None:  # retried or snoozed: wake up when it is due
                self.wake(due_again)
            self._end_solo(ran.job)

        return committed

    def _end_solo(self, job: Job) -> None:
        with self._lock:
            if self._solo is None or self._solo.id != job.id:
                return
            self._solo = None
            self._solo_dispatched = False
            self._slot_freed.notify_all()
        self._wake.set()

    def recover(self) -> None:
        """After a crash of the claim loop: give back only the jobs no handler started."""
        self.release_unstarted()

    def _emit(self, event: Event) -> None:
        self._context.emit(event, self._listeners)
