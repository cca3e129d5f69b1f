"""The dashboard's pages: each reads what it shows and names its template."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from starlette.requests import Request

from bgjobs.dashboard.chart import throughput_chart
from bgjobs.dashboard.context import Dashboard, PageError, View
from bgjobs.dashboard.listing import LIST_STATES, CursorError, Filters, ListState, list_jobs
from bgjobs.dashboard.summaries import queue_summaries, scheduled_rows, throughput
from bgjobs.db.adapter import FinishedJob, WorkerRow
from bgjobs.db.schedule_records import ScheduleRun
from bgjobs.db.schedules import Schedules
from bgjobs.runtime.config import HeartbeatSettings

#: How many of each schedule's last runs the scheduled page shows.
RECENT_RUNS_SHOWN = 3
#: How many runs a schedule's own page shows.
HISTORY_SHOWN = 50

#: The heartbeat settings of a worker row that did not record its own.
DEFAULT_HEARTBEAT = HeartbeatSettings()

#: Longest job name or queue name a filter accepts.
MAX_FILTER_CHARS = 200

#: What a job list offers per state: (action, button label, question asked first or "").
LIST_ACTIONS: dict[str, list[tuple[str, str, str]]] = {
    "waiting": [("cancel", "Cancel", "Cancel this job?"), ("delete", "Delete", "Delete this job?")],
    "running": [("cancel", "Cancel", "Ask the process running this job to stop?")],
    "succeeded": [("delete", "Delete", "Delete this job?")],
    "failed": [("retry", "Retry", ""), ("delete", "Delete", "Delete this job?")],
}


def overview(dash: Dashboard, request: Request) -> View:
    now = dash.clock.now()
    return View(
        "overview.html",
        {
            "queues": queue_summaries(dash.reader, now, _configured_queues(dash)),
            "chart": throughput_chart(throughput(dash.reader, now)),
        },
    )


def jobs(dash: Dashboard, request: Request) -> View:
    state = request.query_params.get("state", "waiting")
    if state not in LIST_STATES:
        raise PageError(400, f"state must be one of {', '.join(LIST_STATES)} (got {state!r})")
    return _listing(dash, request, state, "jobs.html")


def failed(dash: Dashboard, request: Request) -> View:
    return _listing(dash, request, "failed", "failed.html")


def _listing(dash: Dashboard, request: Request, state: str, template: str) -> View:
    filters = Filters(cast(ListState, state), _filter(request, "name"), _filter(request, "queue"))
    try:
        page = list_jobs(dash.reader, filters, request.query_params.get("after") or None)
    except CursorError as exc:
        raise PageError(400, str(exc)) from None
    actions = [] if dash.read_only else LIST_ACTIONS[state]
    return View(
        template, {"filters": filters, "page": page, "states": LIST_STATES, "actions": actions}
    )


def _filter(request: Request, key: str) -> str | None:
    value = request.query_params.get(key, "").strip()
    if len(value) > MAX_FILTER_CHARS:
        raise PageError(400, f"{key} filter longer than {MAX_FILTER_CHARS} characters")
    return value or None


def job(dash: Dashboard, request: Request) -> View:
    job_id = request.path_params["job_id"]
    found = dash.adapter.get_job(job_id)
    if found is None:
        raise PageError(404, f"no job with id {job_id} (it may have been deleted or pruned)")
    state: str
    if isinstance(found, FinishedJob):
        state = found.state
    else:
        state = "running" if found.reserved_by is not None else "waiting"
        if found.scheduled_job is not None:
            state = "scheduled (running)" if found.reserved_by is not None else "scheduled"
    return View(
        "job.html", {"job": found, "state": state, "finished": isinstance(found, FinishedJob)}
    )


def scheduled(dash: Dashboard, request: Request) -> View:
    schedules: Schedules = dash.adapter.schedules

    def recent(key: str) -> list[ScheduleRun]:
        return schedules.history(key, limit=RECENT_RUNS_SHOWN)

    rows = scheduled_rows(dash.reader, dash.clock.now(), recent)
    return View("scheduled.html", {"rows": rows})


def schedule(dash: Dashboard, request: Request) -> View:
    """One schedule: what the scheduled page shows of it, and its last HISTORY_SHOWN runs.
    A schedule that has ended or was removed still shows its history."""
    key = request.path_params["key"]
    rows = [row for row in scheduled_rows(dash.reader, dash.clock.now()) if row.key == key]
    runs = dash.adapter.schedules.history(key, limit=HISTORY_SHOWN)
    if not rows and not runs:
        raise PageError(404, f"no schedule with key {key!r} and no history for it")
    row = rows[0] if rows else None
    return View(
        "schedule.html", {"key": key, "row": row, "runs": runs, "history_shown": HISTORY_SHOWN}
    )


def queues(dash: Dashboard, request: Request) -> View:
    summaries = queue_summaries(dash.reader, dash.clock.now(), _configured_queues(dash))
    return View("queues.html", {"queues": summaries})


def _configured_queues(dash: Dashboard) -> dict[str, bool]:
    """The queues named in jobs_queues (registered by workers, or paused by an operator) and
    whether each is paused; any other named queue is active and can be paused too."""
    return {row.name: row.paused for row in dash.adapter.list_queues()}


def workers(dash: Dashboard, request: Request) -> View:
    now = dash.clock.now()
    listed = dash.adapter.list_workers()
    return View(
        "workers.html",
        {"workers": listed, "beats": {w.id: heartbeat_state(w, now) for w in listed}},
    )


def heartbeat_state(worker: WorkerRow, now: datetime) -> tuple[str, str]:
    """("", "") for a process beating on time; else ("late" or "expired", why), judged by
    its own heartbeat settings (the defaults for a row that did not record them)."""
    every = worker.heartbeat_every or DEFAULT_HEARTBEAT.every
    lease = worker.lease or DEFAULT_HEARTBEAT.lease
    silent = now - worker.heartbeat_at
    if silent > lease:
        return "expired", (
            f"no heartbeat for longer than its lease ({_seconds(lease)}): the process is "
            "likely gone or cut off; other processes rescue its jobs once its silence "
            "passes their own lease"
        )
    if silent > 2 * every:
        return "late", (
            f"it beats every {_seconds(every)} but missed the last beats; other "
            "processes rescue its jobs if its silence passes their lease"
        )
    return "", ""


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():g} s"


def login(dash: Dashboard, request: Request) -> View:
    if not dash.guard.has_login:
        raise PageError(404, "this dashboard has no login: it was started without a token")
    return View("login.html", {"failed": request.query_params.get("failed") == "1"})
