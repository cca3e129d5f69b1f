"""Job lists by keyset paging: each page starts after the last row of the one before.

A page never uses OFFSET, so page 1,000 costs what page 1 costs: the query
walks an index in list order from the cursor and stops after one page. The
statements are put together here from fixed pieces (table, order, filters),
and every value is a bound parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, get_args

from bgjobs.dashboard.reader import Reader, Row

ListState = Literal["waiting", "running", "succeeded", "failed"]
LIST_STATES: Final[tuple[ListState, ...]] = get_args(ListState)

#: Rows per page.
PAGE_SIZE: Final = 50
#: How much of a payload or error a list shows (characters); the job page shows all of it.
PREVIEW_CHARS: Final = 160


class CursorError(ValueError):
    """A page cursor that this module did not write."""


@dataclass(frozen=True, slots=True)
class Filters:
    """What a job list shows: one state, optionally one job name and one queue."""

    state: ListState = "waiting"
    name: str | None = None
    queue: str | None = None


@dataclass(frozen=True, slots=True)
class ListedJob:
    """One row of a job list."""

    id: str
    name: str
    queue: str | None
    priority: int
    attempts: int
    created_at: datetime
    at: datetime  # available_at (waiting), reserved_at (running), finished_at (finished)
    payload_preview: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list and the cursor of the next one (None on the last page)."""

    jobs: list[ListedJob]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class _Shape:
    table: str
    where: str  # the rows of this state
    at: str  # the time column shown and paged by
    order: str
    error: str  # the column holding the error text


_SHAPES: Final[dict[ListState, _Shape]] = {
    "waiting": _Shape(
        "jobs",
        "reserved_by IS NULL AND scheduled_job IS NULL",
        "available_at",
        "priority DESC, available_at, id",
        "last_error",
    ),
    "running": _Shape(
        "jobs", "reserved_by IS NOT NULL", "reserved_at", "reserved_at, id", "last_error"
    ),
    "succeeded": _Shape(
        "jobs_succeeded", "1 = 1", "succeeded_at", "succeeded_at DESC, id DESC", "NULL"
    ),
    "failed": _Shape("jobs_failed", "1 = 1", "failed_at", "failed_at DESC, id DESC", "exception"),
}


def list_jobs(reader: Reader, filters: Filters, cursor: str | None) -> Page:
    """One page of jobs in `filters.state`, after `cursor` (CursorError if it is not ours)."""
    sql, params = _statement(reader, filters, cursor)
    # Pinned: on never-analyzed PostgreSQL tables a name+queue filter was planned as a bitmap
    # of every matching row plus a sort (0.3 s at a million rows) instead of an index walk.
    rows = reader.pinned_rows(sql, params)
    jobs = [_listed(reader, row) for row in rows[:PAGE_SIZE]]
    more = len(rows) > PAGE_SIZE
    return Page(jobs, _cursor_of(filters.state, jobs[-1]) if more and jobs else None)


def _statement(reader: Reader, filters: Filters, cursor: str | None) -> tuple[str, dict[str, Any]]:
    shape = _SHAPES[filters.state]
    p = reader.placeholder
    params: dict[str, Any] = {"limit": PAGE_SIZE + 1, "preview": PREVIEW_CHARS}
    conditions = [shape.where]
    if filters.name is not None:
        conditions.append(f"name = {p('name')}")
        params["name"] = filters.name
    if filters.queue is not None:
        conditions.append(f"queue = {p('queue')}")
        params["queue"] = filters.queue
    if cursor is not None:
        conditions.append(_after(reader, filters.state, cursor, params))
    sql = (
        f"SELECT id, name, queue, priority, attempts, created_at, {shape.at} AS at, "
        f"substr(payload, 1, {p('preview')}) AS payload_preview, "
        f"substr({shape.error}, 1, {p('preview')}) AS error "
        f"FROM {shape.table} WHERE {' AND '.join(conditions)} "
        f"ORDER BY {shape.order} LIMIT {p('limit')}"
    )
    return sql, params


def _after(reader: Reader, state: ListState, cursor: str, params: dict[str, Any]) -> str:
    """The condition 'after the row the cursor names', in the list's order."""
    p = reader.placeholder
    parts = cursor.split("~")
    try:
        if state == "waiting":
            priority, at, job_id = parts
            params["after_priority"] = int(priority)
        else:
            at, job_id = parts
        params["after_at"] = reader.bind_time(datetime.fromisoformat(at))
    except ValueError:
        raise CursorError(f"not a page cursor of the {state} list: {cursor!r}") from None
    params["after_id"] = job_id
    at_, id_ = p("after_at"), p("after_id")
    if state == "waiting":
        pr = p("after_priority")
        return (
            f"(priority < {pr} OR (priority = {pr} AND (available_at > {at_} "
            f"OR (available_at = {at_} AND id > {id_}))))"
        )
    if state == "running":
        return f"(reserved_at > {at_} OR (reserved_at = {at_} AND id > {id_}))"
    column = _SHAPES[state].at
    # Written as a range plus a tie-break so both databases walk the time index.
    return f"{column} <= {at_} AND ({column} < {at_} OR id < {id_})"


def _cursor_of(state: ListState, last: ListedJob) -> str:
    stamp = last.at.isoformat()
    return f"{last.priority}~{stamp}~{last.id}" if state == "waiting" else f"{stamp}~{last.id}"


def _listed(reader: Reader, row: Row) -> ListedJob:
    return ListedJob(
        id=row["id"],
        name=row["name"],
        queue=row["queue"],
        priority=int(row["priority"]),
        attempts=int(row["attempts"]),
        created_at=reader.read_time(row["created_at"]),
        at=reader.read_time(row["at"]),
        payload_preview=row["payload_preview"],
        error=row["error"],
    )
