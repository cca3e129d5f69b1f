"""`bgjobs queues list|pause NAME|resume NAME`: the queue rows every process obeys."""

from __future__ import annotations

import argparse
from typing import Any

from bgjobs.cli.common import CliError, format_time, print_json
from bgjobs.cli.db_commands import admin_adapter, db_options, json_option, print_table
from bgjobs.clock import SYSTEM_CLOCK
from bgjobs.db.adapter import QueueRow


def register(subparsers: Any) -> None:
    queues = subparsers.add_parser(
        "queues",
        help="list, pause and resume queues",
        description=(
            "List the queues processes have configured, and pause or resume one: a paused "
            "queue is claimed by no process (running jobs finish) until it is resumed."
        ),
    )
    actions = queues.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser(
        "list",
        help="list queues, paused or not",
        description="List every queue name a process configured or someone paused.",
    )
    db_options(listing)
    json_option(listing, "print a JSON list")
    listing.set_defaults(run=run_list)
    for action, text, run in (
        ("pause", "stop every process claiming jobs of queue NAME", run_pause),
        ("resume", "let every process claim jobs of queue NAME again", run_resume),
    ):
        command = actions.add_parser(
            action, help=text, description=text[0].upper() + text[1:] + "."
        )
        command.add_argument("name", metavar="NAME", help="the queue's name")
        db_options(command)
        json_option(command, "print the queue's state as JSON")
        command.set_defaults(run=run)


def queue_record(row: QueueRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "paused": row.paused,
        "paused_at": None if row.paused_at is None else row.paused_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def run_list(args: argparse.Namespace) -> int:
    with admin_adapter(args) as adapter:
        rows = adapter.list_queues()
    if args.json:
        print_json([queue_record(row) for row in rows])
        return 0
    if not rows:
        print("no queues (a queue is listed once a process configured it or it was paused)")
        return 0
    print_table(
        [
            {
                "name": row.name,
                "state": "paused" if row.paused else "running",
                "paused_at": row.paused_at,
                "updated_at": row.updated_at,
            }
            for row in rows
        ],
        ["name", "state", "paused_at", "updated_at"],
    )
    return 0


def _checked_name(name: str) -> str:
    if not name.strip() or "\x00" in name:
        raise CliError(f"NAME must be a queue name (got {name!r})")
    return name


def run_pause(args: argparse.Namespace) -> int:
    name = _checked_name(args.name)
    with admin_adapter(args) as adapter:
        adapter.pause_queue(name, now=SYSTEM_CLOCK.now())
        row = _row(adapter.list_queues(), name)
    if args.json:
        print_json(queue_record(row))
    else:
        since = format_time(row.paused_at) if row.paused_at else "now"
        print(
            f"queue {name} is paused (since {since}): no process claims its jobs; "
            "running jobs finish"
        )
    return 0


def run_resume(args: argparse.Namespace) -> int:
    name = _checked_name(args.name)
    with admin_adapter(args) as adapter:
        resumed = adapter.resume_queue(name, now=SYSTEM_CLOCK.now())
        rows = adapter.list_queues()
    if args.json:
        found = [row for row in rows if row.name == name]
        record = queue_record(found[0]) if found else {"name": name, "paused": False}
        print_json({**record, "resumed": resumed})
    elif resumed:
        print(f"queue {name} is resumed: every process claims its jobs again")
    else:
        print(f"queue {name} was not paused: nothing changed")
    return 0


def _row(rows: list[QueueRow], name: str) -> QueueRow:
    for row in rows:
        if row.name == name:
            return row
    raise CliError(f"queue {name} vanished while it was being paused", status=1)
