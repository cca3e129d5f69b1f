"""`bgjobs schedules list` and `bgjobs schedules history KEY`: schedules as stored."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import Any

from bgjobs.cli.common import CliError, format_time, print_json
from bgjobs.cli.db_commands import _adapter, _db_option, _print_table
from bgjobs.db.schedule_records import ScheduleRow, ScheduleRun
from bgjobs.db.schedules import MAX_HISTORY


def register(subparsers: Any) -> None:
    schedules = subparsers.add_parser(
        "schedules", help="list schedules and their run history", description=__doc__
    )
    actions = schedules.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser(
        "list", help="each schedule: its text, in words, its last run and its next fire"
    )
    _db_option(listing)
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(run=run_list)
    history = actions.add_parser("history", help="past runs of one schedule, newest first")
    history.add_argument("key", metavar="KEY", help="the schedule's key")
    _db_option(history)
    history.add_argument("--limit", type=_history_limit, default=20, help="default 20")
    history.add_argument("--json", action="store_true", help="print a JSON list")
    history.set_defaults(run=run_history)


def _history_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None
    if not 1 <= value <= MAX_HISTORY:
        raise argparse.ArgumentTypeError(f"expected a number in 1..{MAX_HISTORY} (got {value})")
    return value


def run_list(args: argparse.Namespace) -> int:
    with _adapter(args) as adapter:
        rows = adapter.schedules.list()
    if args.json:
        print_json([schedule_record(row) for row in rows])
        return 0
    if not rows:
        print("no schedules")
        return 0
    columns = ["key", "job", "schedule", "description", "last_run", "outcome", "next_fire"]
    _print_table([_list_fields(row) for row in rows], columns)
    return 0


def run_history(args: argparse.Namespace) -> int:
    with _adapter(args) as adapter:
        runs = adapter.schedules.history(args.key, limit=args.limit)
        known = runs or any(row.key == args.key for row in adapter.schedules.list())
    if not known:
        raise CliError(f"no schedule with key {args.key!r} and no history for it", status=1)
    if args.json:
        print_json([run_record(run) for run in runs])
        return 0
    if not runs:
        print(f"schedule {args.key!r} has not run yet")
        return 0
    columns = ["slot", "started", "finished", "outcome", "error", "note"]
    _print_table([_history_fields(run) for run in runs], columns)
    return 0


def run_record(run: ScheduleRun) -> dict[str, Any]:
    return {
        name: format_time(value) if hasattr(value, "isoformat") else value
        for name, value in asdict(run).items()
    }


def schedule_record(row: ScheduleRow) -> dict[str, Any]:
    return {
        "key": row.key,
        "job_name": row.job_name,
        "schedule": row.schedule_text,
        "description": row.description,
        "next_fire": format_time(row.next_fire),
        "running": row.running,
        "last_run": None if row.last_run is None else run_record(row.last_run),
    }


def _list_fields(row: ScheduleRow) -> dict[str, Any]:
    last = row.last_run
    return {
        "key": row.key,
        "job": row.job_name,
        "schedule": row.schedule_text,
        "description": row.description,
        "last_run": None if last is None else last.slot,
        "outcome": None if last is None else last.outcome,
        "next_fire": "running now" if row.running else row.next_fire,
    }


def _history_fields(run: ScheduleRun) -> dict[str, Any]:
    return {
        "slot": run.slot,
        "started": run.started_at,
        "finished": run.finished_at,
        "outcome": run.outcome,
        "error": run.error,
        "note": run.note,
    }
