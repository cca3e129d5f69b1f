"""`bgjobs workers`: the processes running jobs, from jobs_workers."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bgjobs.cli.common import format_time, print_json
from bgjobs.cli.db_commands import admin_adapter, db_options, json_option, print_table
from bgjobs.clock import SYSTEM_CLOCK
from bgjobs.db.adapter import WorkerRow


def register(subparsers: Any) -> None:
    workers = subparsers.add_parser(
        "workers",
        help="list the worker processes and what they run",
        description=(
            "List the processes in jobs_workers: id, host, pid, queues, seconds since the "
            "last heartbeat and how many jobs each holds reserved. A process whose heartbeat "
            "is older than the lease is dead; the next sweep removes it."
        ),
    )
    db_options(workers)
    json_option(workers, "print a JSON list")
    workers.set_defaults(run=run)


def _queues(row: WorkerRow) -> list[str] | None:
    """The queue names the process registered (a column older schemas do not have)."""
    value = getattr(row, "queues", None)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return [str(name) for name in value] if isinstance(value, list | tuple) else None


def run(args: argparse.Namespace) -> int:
    with admin_adapter(args) as adapter:
        rows = adapter.list_workers()
        running = adapter.running_by_owner()
    now = SYSTEM_CLOCK.now()
    records: list[dict[str, Any]] = [
        {
            "id": row.id,
            "hostname": row.hostname,
            "pid": row.pid,
            "queues": _queues(row),
            "started_at": row.started_at.isoformat(),
            "heartbeat_at": row.heartbeat_at.isoformat(),
            "heartbeat_age_seconds": round((now - row.heartbeat_at).total_seconds(), 3),
            "running_jobs": running.get(row.id, 0),
        }
        for row in rows
    ]
    if args.json:
        print_json(records)
        return 0
    if not records:
        print("no worker processes")
        return 0
    print_table(
        [
            {
                **record,
                "queues": ",".join(record["queues"] or []) or None,
                "heartbeat_age": f"{record['heartbeat_age_seconds']:.1f}s",
                "started_at": format_time(row.started_at),
            }
            for record, row in zip(records, rows, strict=True)
        ],
        ["id", "hostname", "pid", "queues", "heartbeat_age", "running_jobs", "started_at"],
    )
    return 0
