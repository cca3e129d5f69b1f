"""How values read on the pages: times, durations, JSON and the message after an action."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Final

from bgjobs.clock import SYSTEM_CLOCK

#: Verbs an action reports, as the message after its redirect.
DONE_VERBS: Final = {
    "retried": "Retried",
    "deleted": "Deleted",
    "cancelled": "Cancelled",
    "paused": "Paused",
    "resumed": "Resumed",
}


def when(moment: datetime | None) -> str:
    """A time in UTC to the second: '2026-11-29 21:40:03 UTC'."""
    return "—" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """'12 s ago', '3 min ago', 'in 2 h'."""
    if moment is None:
        return ""
    seconds = ((now or SYSTEM_CLOCK.now()) - moment).total_seconds()
    amount = abs(seconds)
    if amount < 90:
        text = f"{amount:.0f} s"
    elif amount < 5400:
        text = f"{amount / 60:.0f} min"
    elif amount < 172800:
        text = f"{amount / 3600:.0f} h"
    else:
        text = f"{amount / 86400:.0f} d"
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def pretty_json(value: Any) -> str:
    """A JSON value indented for reading."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def queue_label(queue: str | None) -> str:
    """A queue value; NULL means any queue handling the job name may claim it."""
    return "(any queue)" if queue is None else queue


def number(value: int) -> str:
    return f"{value:,}"


#: What a schedule action did, by its `done=verb:key` code.
SCHEDULE_DONE: Final = {
    "schedule-paused": "Paused schedule {key}.",
    "schedule-resumed": "Resumed schedule {key}.",
    "schedule-missing": "No schedule {key} (removed meanwhile, or its schedule ended).",
}


def done_message(code: str) -> str:
    """The message for `done=verb:count[:missing[:requested]]`, or '' for anything else."""
    verb, _, queue = code.partition(":")
    if verb in ("queue-paused", "queue-resumed") and queue:
        return f"{'Paused' if verb == 'queue-paused' else 'Resumed'} queue {queue}."
    if verb in SCHEDULE_DONE and queue:  # here `queue` is the schedule's key
        return SCHEDULE_DONE[verb].format(key=queue)
    parts = code.split(":")
    if len(parts) not in (2, 3, 4) or parts[0] not in DONE_VERBS:
        return ""
    try:
        counts = [int(part) for part in parts[1:]]
    except ValueError:
        return ""
    requested = counts[2] if len(counts) == 3 else 0
    pieces = []
    if counts[0] or not requested:
        pieces.append(f"{DONE_VERBS[parts[0]]} {_jobs(counts[0])}.")
    if requested:
        pieces.append(f"Asked the processes running {_jobs(requested)} to stop.")
    if len(counts) >= 2 and counts[1]:
        pieces.append(f"{counts[1]} could not be (gone or changed meanwhile).")
    return " ".join(pieces)


def _jobs(count: int) -> str:
    return f"{count} job{'s' if count != 1 else ''}"


FILTERS: Final = {
    "when": when,
    "ago": ago,
    "pretty_json": pretty_json,
    "queue_label": queue_label,
    "number": number,
}
