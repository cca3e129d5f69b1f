"""`bgjobs schedules list|history|add|remove|pause|resume`: schedules as stored."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from bgjobs.cli.common import CliError, format_time, print_json
from bgjobs.cli.db_commands import admin_adapter, db_options, print_table
from bgjobs.db.schedule_records import ScheduleRow, ScheduleRun
from bgjobs.db.schedules import MAX_HISTORY
from bgjobs.errors import PayloadError
from bgjobs.misfire import DEFAULT_GRACE, MISFIRE_KINDS
from bgjobs.schedule import ScheduleValidationError

MAX_GRACE_SECONDS = 366 * 86400


def register(subparsers: Any) -> None:
    schedules = subparsers.add_parser(
        "schedules", help="list schedules and their run history", description=__doc__
    )
    actions = schedules.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    listing = actions.add_parser(
        "list",
        help="each schedule: its text, in words, its last run, next fire and if paused",
        description="List every schedule (from code and added at runtime): its key, job "
        "name, canonical text, the text in English, its last run and outcome, its next fire, "
        "and whether it is paused.",
    )
    db_options(listing)
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(run=run_list)
    history = actions.add_parser(
        "history",
        help="past runs of one schedule, newest first",
        description="List the past runs of one schedule, newest first: slot, started, "
        "finished, outcome (succeeded, failed, skipped), error and misfire decision.",
    )
    history.add_argument("key", metavar="KEY", help="the schedule's key")
    db_options(history)
    history.add_argument(
        "--limit", type=_history_limit, default=20, help="how many runs at most (default 20)"
    )
    history.add_argument("--json", action="store_true", help="print a JSON list")
    history.set_defaults(run=run_history)
    add = actions.add_parser(
        "add",
        help="add a schedule at runtime: workers with a worker for JOB run it",
        description="Add a schedule stored in the database; every process with a worker "
        "for JOB runs it once per slot.",
    )
    add.add_argument("key", metavar="KEY", help="the schedule's key (unique)")
    add.add_argument("schedule", metavar="SCHEDULE", help='schedule text, e.g. "every 5 minutes"')
    add.add_argument("job_name", metavar="JOB", help="the job name its runs have")
    add.add_argument("--payload", metavar="JSON", help="the JSON payload of every run")
    add.add_argument(
        "--misfire",
        choices=MISFIRE_KINDS,
        default="once",
        help="what to do with slots missed while no worker ran (default once)",
    )
    add.add_argument(
        "--grace",
        metavar="SECONDS",
        type=_seconds,
        default=None,
        help="how late a slot may run before it counts as missed (default 60)",
    )
    db_options(add)
    add.add_argument("--json", action="store_true", help="print the stored schedule as JSON")
    add.set_defaults(run=run_add)
    for action, text in (
        ("remove", "remove a schedule added at runtime (a run already going finishes)"),
        ("pause", "stop running a schedule (from code or added at runtime) until resumed"),
        ("resume", "resume a paused schedule at its next slot (missed slots do not run)"),
    ):
        change = actions.add_parser(action, help=text, description=text[0].upper() + text[1:] + ".")
        change.add_argument("key", metavar="KEY", help="the schedule's key")
        db_options(change)
        change.set_defaults(run=run_change, action_name=action)


def _history_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None
    if not 1 <= value <= MAX_HISTORY:
        raise argparse.ArgumentTypeError(f"expected a number in 1..{MAX_HISTORY} (got {value})")
    return value


def _seconds(text: str) -> timedelta:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds (got {text!r})") from None
    if not 0 <= value <= MAX_GRACE_SECONDS:
        raise argparse.ArgumentTypeError(f"expected 0..{MAX_GRACE_SECONDS} seconds (got {text!r})")
    return timedelta(seconds=value)


def run_add(args: argparse.Namespace) -> int:
    payload = None
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except ValueError as exc:
            raise CliError(f"--payload is not JSON: {exc}") from None
    grace = DEFAULT_GRACE if args.grace is None else args.grace
    with admin_adapter(args) as adapter:
        try:
            stored = adapter.schedules.add(
                args.key, args.schedule, args.job_name, payload, args.misfire, grace
            )
        except ScheduleValidationError as exc:
            raise CliError(f"schedule {args.schedule!r}: {exc}") from None
        except PayloadError as exc:
            raise CliError(str(exc)) from None
    if args.json:
        print_json(
            {
                "key": stored.key,
                "job_name": stored.job_name,
                "schedule": stored.schedule_text,
                "next_fire": None if stored.next_fire is None else format_time(stored.next_fire),
            }
        )
    else:
        when = "never" if stored.next_fire is None else format_time(stored.next_fire)
        print(f"added schedule {stored.key!r} ({stored.schedule_text}); next fire {when}")
    return 0


def run_change(args: argparse.Namespace) -> int:
    with admin_adapter(args) as adapter:
        schedules = adapter.schedules
        change = {
            "remove": schedules.remove,
            "pause": schedules.pause,
            "resume": schedules.resume,
        }[args.action_name]
        done = change(args.key)
        listed = None if done else next((r for r in schedules.list() if r.key == args.key), None)
    if listed is not None:
        raise CliError(_why_unchanged(args.action_name, args.key, listed.running), status=1)
    if args.action_name == "remove" and not done:
        raise CliError(f"no schedule added at runtime with key {args.key!r}", status=1)
    if not done:
        raise CliError(
            f"no schedule with key {args.key!r} (from code or added at runtime)", status=1
        )
    past = {"remove": "removed", "pause": "paused", "resume": "resumed"}[args.action_name]
    print(f"{past} schedule {args.key!r}")
    return 0


def _why_unchanged(action: str, key: str, running: bool) -> str:
    """Why a schedule that is listed (it has a row) was not changed."""
    finishing = "its last run is finishing and no further run starts"
    if action != "remove":
        # Pause and resume work for every schedule that exists: this one is on its way out.
        return f"schedule {key!r} was removed; {finishing}"
    from_code = (
        f"schedule {key!r} comes from code (a ScheduledJob), which brings it back at every "
        "worker start: delete it from the code, or pause it"
    )
    if not running:
        return from_code
    # A removed runtime schedule keeps its row only while its last run holds it.
    return f"{from_code} (or it was removed already: {finishing})"


def run_list(args: argparse.Namespace) -> int:
    with admin_adapter(args) as adapter:
        rows = adapter.schedules.list()
    if args.json:
        print_json([schedule_record(row) for row in rows])
        return 0
    if not rows:
        print("no schedules")
        return 0
    columns = [
        "key", "job", "schedule", "description", "last_run", "outcome", "next_fire", "paused"
    ]  # fmt: skip
    print_table([_list_fields(row) for row in rows], columns)
    return 0


def run_history(args: argparse.Namespace) -> int:
    with admin_adapter(args) as adapter:
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
    print_table([_history_fields(run) for run in runs], columns)
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
        "paused": row.paused,
        "paused_at": None if row.paused_at is None else format_time(row.paused_at),
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
        "paused": "yes" if row.paused else "no",
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
