"""What the dashboard's buttons do. Each action takes job ids (one or a page's selection),
changes them through the adapter, and returns the `verb:done:missing` code its page shows.

Every change is the adapter's own one-transaction move; an id that is gone or
no longer in the right state is counted as missing, never an error page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Final

from bgjobs.dashboard.context import ActionHandler, Dashboard, PageError
from bgjobs.errors import JobNotFound

#: The most jobs one bulk action may touch (a page holds 50).
MAX_IDS: Final = 500


def retry(dash: Dashboard, ids: list[str], fields: Mapping[str, str]) -> str:
    """Move failed jobs back to the jobs table, as plain jobs due now."""
    done = 0
    for job_id in _checked(ids):
        try:
            dash.adapter.retry_failed_job(job_id, now=dash.clock.now())
            done += 1
        except JobNotFound:
            pass
    return f"retried:{done}:{len(ids) - done}"


def delete(dash: Dashboard, ids: list[str], fields: Mapping[str, str]) -> str:
    """Delete jobs from whichever table holds them."""
    done = 0
    for job_id in _checked(ids):
        try:
            dash.adapter.delete_job(job_id)
            done += 1
        except JobNotFound:
            pass
    return f"deleted:{done}:{len(ids) - done}"


def cancel(dash: Dashboard, ids: list[str], fields: Mapping[str, str]) -> str:
    """Cancel jobs: a waiting one moves to jobs_failed at once, a running one is asked to stop."""
    outcomes = Counter(
        dash.adapter.cancel(job_id, now=dash.clock.now()) for job_id in _checked(ids)
    )
    return f"cancelled:{outcomes['cancelled']}:{outcomes['not_found']}:{outcomes['requested']}"


def pause_queue(dash: Dashboard, ids: list[str], fields: Mapping[str, str]) -> str:
    """Pause a queue in every process: no new claims; running jobs finish."""
    name = _required(fields, "queue", "no queue given")
    dash.adapter.pause_queue(name, now=dash.clock.now())
    return f"queue-paused:{name}"


def resume_queue(dash: Dashboard, ids: list[str], fields: Mapping[str, str]) -> str:
    """Let a paused queue claim again."""
    name = _required(fields, "queue", "no queue given")
    dash.adapter.resume_queue(name, now=dash.clock.now())
    return f"queue-resumed:{name}"


def pause_schedule(dash: Dashboard, ids: list[str], fields: Mapping[str, str]) -> str:
    """Stop claiming a schedule's runs (from code or added at runtime) until it is resumed."""
    key = _required(fields, "key", "no schedule key given")
    found = dash.adapter.schedules.pause(key, now=dash.clock.now())
    return f"{'schedule-paused' if found else 'schedule-missing'}:{key}"


def resume_schedule(dash: Dashboard, ids: list[str], fields: Mapping[str, str]) -> str:
    """Run a paused schedule again from its first slot after now (missed slots do not run)."""
    key = _required(fields, "key", "no schedule key given")
    found = dash.adapter.schedules.resume(key, now=dash.clock.now())
    return f"{'schedule-resumed' if found else 'schedule-missing'}:{key}"


def _required(fields: Mapping[str, str], name: str, missing: str) -> str:
    """A form field that must be there and not empty; 400 with `missing` otherwise."""
    value = fields.get(name, "")
    if not value:
        raise PageError(400, missing)
    return value


def _checked(ids: list[str]) -> list[str]:
    if not ids:
        raise PageError(400, "no job selected")
    if len(ids) > MAX_IDS:
        raise PageError(400, f"at most {MAX_IDS} jobs per action (got {len(ids)})")
    return ids


#: URL path under /actions/ -> handler.
ACTIONS: Final[dict[str, ActionHandler]] = {
    "retry": retry,
    "delete": delete,
    "cancel": cancel,
    "pause-queue": pause_queue,
    "resume-queue": resume_queue,
    "pause-schedule": pause_schedule,
    "resume-schedule": resume_schedule,
}
