"""Database commands: `bgjobs migrate`, `bgjobs jobs ...` and `bgjobs stats`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any, Literal

from bgjobs.cli.common import CliError, database_url, format_time, print_json
from bgjobs.cli.progress import progress
from bgjobs.cli.worker import load_builder
from bgjobs.clock import SYSTEM_CLOCK
from bgjobs.db import SqliteAdapter, adapter_from_url
from bgjobs.db.adapter import Adapter, FinishedJob
from bgjobs.errors import BgJobsError, ConfigurationError, JobNotFound
from bgjobs.jobs import Job
from bgjobs.runtime.unhandled import find_unhandled

PRUNE_BATCH = 1000
MAX_LIMIT = 1_000_000
FinishedState = Literal["succeeded", "failed"]
#: How long a one-shot command waits for an unreachable PostgreSQL (a server restarting).
ONE_SHOT_RECONNECT_SECONDS = 3.0


def register(subparsers: Any) -> None:
    migrate = subparsers.add_parser(
        "migrate",
        help="create or upgrade the bgjobs tables",
        description="Create or upgrade the bgjobs tables (idempotent; safe while workers run).",
    )
    db_options(migrate)
    migrate.set_defaults(run=run_migrate)

    jobs = subparsers.add_parser(
        "jobs",
        help="list, retry, delete and prune jobs",
        description="List, retry, delete and prune jobs.",
    )
    actions = jobs.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    for action, table, text in (
        ("list", "jobs", "jobs waiting or running"),
        ("failed", "failed", "jobs that failed, with their full exception text"),
        ("succeeded", "succeeded", "jobs that succeeded"),
    ):
        listing = actions.add_parser(
            action, help=f"list {text}", description=f"List {text}, newest first."
        )
        db_options(listing)
        listing.add_argument(
            "--limit", type=_limit, default=100, help="show at most this many (default 100)"
        )
        listing.add_argument("--name", metavar="NAME", help="only jobs with this job name")
        listing.add_argument("--queue", metavar="QUEUE", help="only jobs routed to this queue")
        json_option(listing, "print a JSON list")
        listing.set_defaults(run=run_list, table=table)
    retry = actions.add_parser(
        "retry",
        help="enqueue failed jobs again, as plain jobs",
        description=(
            "Move a failed job (or, with --all-failed, every failed job matching the "
            "filters) back to the waiting jobs, with attempts 0, available now."
        ),
    )
    retry.add_argument("id", metavar="ID", nargs="?", help="the id of the failed job")
    retry.add_argument(
        "--all-failed", action="store_true", help="retry every failed job (with the filters)"
    )
    retry.add_argument("--name", metavar="NAME", help="with --all-failed: only this job name")
    retry.add_argument("--queue", metavar="QUEUE", help="with --all-failed: only this queue")
    db_options(retry)
    json_option(retry, "print the retried job(s) as JSON")
    retry.set_defaults(run=run_retry)
    delete = actions.add_parser(
        "delete",
        help="delete a job from whichever table holds it",
        description="Delete a job from whichever table holds it (waiting, succeeded or failed).",
    )
    delete.add_argument("id", metavar="ID", help="the id of the job")
    db_options(delete)
    json_option(delete, "print what was deleted as JSON")
    delete.set_defaults(run=run_delete)
    show = actions.add_parser(
        "show",
        help="every field of one job, wherever it is",
        description="Every field of one job, in whichever table holds it.",
    )
    show.add_argument("id", metavar="ID", help="the id of the job")
    db_options(show)
    json_option(show, "print the job as JSON")
    show.set_defaults(run=run_show)
    cancel = actions.add_parser(
        "cancel",
        help="cancel jobs: waiting ones fail at once, running ones are asked to stop",
        description="Cancel jobs. A waiting job moves to jobs_failed (Cancelled) at once; "
        "a running one is stopped by the process running it within a second and fails "
        "as Cancelled; a finished or unknown id is reported as not_found.",
    )
    cancel.add_argument("ids", metavar="ID", nargs="+", help="the ids of the jobs to cancel")
    db_options(cancel)
    json_option(cancel, "print what happened to each job as JSON")
    cancel.set_defaults(run=run_cancel)
    prune = actions.add_parser(
        "prune",
        help="delete finished jobs older than a duration",
        description="Delete succeeded and/or failed jobs that finished before now - DURATION.",
    )
    prune.add_argument(
        "--older-than",
        required=True,
        type=parse_duration,
        metavar="DURATION",
        help="e.g. 7d, 12h, 30m, 1w2d",
    )
    prune.add_argument(
        "--state",
        choices=["succeeded", "failed", "all"],
        default="all",
        help="which finished jobs (default all)",
    )
    db_options(prune)
    json_option(prune, "print the counts as JSON")
    prune.set_defaults(run=run_prune)

    stats = subparsers.add_parser(
        "stats",
        help="counts of jobs by state and name",
        description="Counts of jobs waiting, running, succeeded and failed, by job name.",
    )
    db_options(stats)
    json_option(stats, "print the counts as JSON")
    stats.set_defaults(run=run_stats)


#: Help of the database options, on the main parser and on every command.
DB_HELP = (
    "sqlite:///path or postgresql://... (default $BGJOBS_DATABASE_URL, else sqlite:///bgjobs.db)"
)
APP_HELP = "use the database of this app's builder (MODULE:ATTR, as `bgjobs worker` takes)"


def db_options(parser: argparse.ArgumentParser) -> None:
    """--db URL and --app MODULE:ATTR on a command (they may come before the command too)."""
    parser.add_argument("--db", metavar="URL", help=DB_HELP)
    parser.add_argument("--app", metavar="MODULE:ATTR", help=APP_HELP)


def json_option(parser: argparse.ArgumentParser, text: str) -> None:
    parser.add_argument("--json", action="store_true", help=text)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"expected a number in 1..{MAX_LIMIT} (got {value})")
    return value


_DURATION_PART = re.compile(r"(\d+)\s*(w|d|h|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_DURATION_SECONDS = 36525 * 86400  # 100 years


def parse_duration(text: str) -> timedelta:
    """`7d`, `12h`, `30m`, `45s`, `1w2d` -> timedelta."""
    compact = text.strip().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts).lower() != compact.lower():
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 7d, 12h, 30m, 45s or 1w2d (got {text!r})"
        )
    total = sum(int(n) * _UNIT_SECONDS[u.lower()] for n, u in parts)
    if total <= 0:
        raise argparse.ArgumentTypeError(f"the duration must be longer than zero (got {text!r})")
    # Bounded so that `now - duration` stays a representable date.
    if total > MAX_DURATION_SECONDS:
        raise argparse.ArgumentTypeError(
            f"the duration must be at most 100 years, 36525d (got {text!r})"
        )
    return timedelta(seconds=total)


@contextmanager
def admin_adapter(args: argparse.Namespace, *, create: bool = False) -> Iterator[Adapter]:
    """The adapter of --db (or $BGJOBS_DATABASE_URL), or of the --app builder; closed after."""
    # A one-shot command reports a failure as one line; the connection pool's
    # reconnect warnings are for long-running workers.
    logging.disable(logging.WARNING)
    app = getattr(args, "app", None)
    if app is not None and args.db is not None:
        raise CliError("give --db or --app, not both")
    url = database_url(args.db)
    try:
        adapter = _one_shot(load_builder(app).adapter if app else adapter_from_url(url))
    except BgJobsError as exc:
        raise CliError(str(exc)) from None
    if app:
        url = app_url(adapter)
    if isinstance(adapter, SqliteAdapter) and not create and not os.path.exists(adapter.path):
        # Opening would create an empty file where the user expected their database.
        raise CliError(
            f"no SQLite database at {adapter.path} (create it with `bgjobs migrate --db {url}`)",
            status=1,
        )
    try:
        yield adapter
    except JobNotFound as exc:
        raise CliError(str(exc), status=1) from None
    except ConfigurationError as exc:  # e.g. a bad password or host in the URL: the user's to fix
        raise CliError(f"{type(exc).__name__}: {exc}") from None
    except BgJobsError as exc:
        raise CliError(f"{type(exc).__name__}: {exc}", status=1) from None
    finally:
        adapter.close()


def app_url(adapter: Adapter) -> str:
    """What to call the app's database in messages."""
    return f"sqlite:///{adapter.path}" if isinstance(adapter, SqliteAdapter) else repr(adapter)


def _one_shot(adapter: Adapter) -> Adapter:
    """The adapter, waiting seconds (not the runtime's minute) for a PostgreSQL that is down."""
    if isinstance(adapter, SqliteAdapter):
        return adapter
    from bgjobs.db.postgres import PostgresAdapter  # loaded already: the URL named PostgreSQL

    if not isinstance(adapter, PostgresAdapter):
        return adapter
    adapter.close()  # never connected: the adapter opens its pool on first use
    return PostgresAdapter(
        adapter.conninfo, max_connections=1, reconnect_timeout=ONE_SHOT_RECONNECT_SECONDS
    )


def run_migrate(args: argparse.Namespace) -> int:
    with admin_adapter(args, create=True) as adapter:
        version = adapter.migrate()
    print(f"schema is at version {version}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    filters = {"name": args.name, "queue": args.queue}
    with admin_adapter(args) as adapter:
        rows = adapter.list_jobs(args.table, limit=args.limit, **filters)
        total = len(rows) if len(rows) < args.limit else adapter.count_listed(args.table, **filters)
    if args.json:
        print_json([job_record(row) for row in rows])
        return 0
    if not rows:
        what = "waiting or running" if args.table == "jobs" else args.table
        print(f"no {what} jobs{_filter_text(args)}")
        return 0
    columns = _columns(args.table)
    wrap = "exception" if args.table == "failed" else None
    print_table([_job_fields(row) for row in rows], columns, wrap=wrap)
    if total > len(rows):
        print(f"{len(rows)} of {total} shown{_filter_text(args)} (see --limit)")
    return 0


def _filter_text(args: argparse.Namespace) -> str:
    shown = [
        f"{what} {value}" for what, value in (("name", args.name), ("queue", args.queue)) if value
    ]
    return f" with {' and '.join(shown)}" if shown else ""


def run_retry(args: argparse.Namespace) -> int:
    if args.all_failed:
        if args.id is not None:
            raise CliError("give a job ID or --all-failed, not both")
        return retry_all_failed(args)
    if args.id is None:
        raise CliError("give the ID of a failed job, or --all-failed (see `bgjobs jobs retry -h`)")
    if args.name is not None or args.queue is not None:
        raise CliError("--name and --queue filter --all-failed; a single ID needs neither")
    with admin_adapter(args) as adapter:
        job = adapter.retry_failed_job(args.id, now=SYSTEM_CLOCK.now())
    if args.json:
        print_json(job_record(job))
    else:
        new_id = "" if job.id == args.id else f" as {job.id}"
        print(f"re-enqueued failed job {args.id}{new_id} ({job.name}), available now")
    return 0


def run_delete(args: argparse.Namespace) -> int:
    with admin_adapter(args) as adapter:
        state = adapter.delete_job(args.id)
    if args.json:
        print_json({"id": args.id, "deleted_from": state})
    else:
        print(f"deleted job {args.id} from {_table_name(state)}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    with admin_adapter(args) as adapter:
        job = adapter.get_job(args.id)
    if job is None:
        raise CliError(f"no job with id {args.id}", status=1)
    record = {"state": job.state, **job_record(job)}
    if isinstance(job, Job):
        record.pop("result", None)
    if args.json:
        print_json(record)
        return 0
    width = max(len(name) for name in record)
    for name, value in record.items():
        if name == "traceback" and value:
            print(f"{name}:")
            print("  " + str(value).rstrip().replace("\n", "\n  "))
            continue
        shown = json.dumps(value, ensure_ascii=False) if name in ("payload", "result") else value
        print(f"{name.ljust(width)}  {'-' if shown is None else shown}")
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    results: dict[str, str] = {}
    with admin_adapter(args) as adapter:
        for job_id in args.ids:
            results[job_id] = adapter.cancel(job_id, now=SYSTEM_CLOCK.now())
    if args.json:
        print_json([{"id": job_id, "result": result} for job_id, result in results.items()])
    else:
        for job_id, result in results.items():
            print(f"{job_id}  {_CANCEL_TEXT[result]}")
    # Exit 1 when some id was not found: scripts can tell without parsing.
    return 1 if "not_found" in results.values() else 0


_CANCEL_TEXT = {
    "cancelled": "cancelled (it was waiting; now in jobs_failed)",
    "requested": "cancel requested (it is running; it stops within a second)",
    "not_found": "not found (no waiting or running job with this id)",
}


def run_prune(args: argparse.Namespace) -> int:
    states: list[FinishedState] = ["succeeded", "failed"] if args.state == "all" else [args.state]
    removed: dict[FinishedState, int] = {}
    with admin_adapter(args) as adapter:
        older_than = SYSTEM_CLOCK.now() - args.older_than
        for state in states:
            with progress(f"pruning {state}", quiet=args.json) as bar:
                removed[state] = _prune_all(adapter, state, older_than, bar.update)
    if args.json:
        print_json({"older_than": format_time(older_than), "deleted": removed})
    else:
        for state, count in removed.items():
            print(
                f"deleted {count} {state} job{'s' if count != 1 else ''} "
                f"finished before {format_time(older_than)}"
            )
    return 0


def _prune_all(
    adapter: Adapter, state: FinishedState, older_than: datetime, done: Callable[[int], object]
) -> int:
    """Delete in batches, each its own short transaction, until a batch comes back short."""
    total = 0
    while True:
        count = adapter.prune_finished(state, older_than=older_than, batch_size=PRUNE_BATCH)
        total += count
        done(count)
        if count < PRUNE_BATCH:
            return total


def run_stats(args: argparse.Namespace) -> int:
    with admin_adapter(args) as adapter:
        counts = adapter.count_jobs(now=SYSTEM_CLOCK.now())
        workers = adapter.list_workers()
        unhandled = find_unhandled(adapter.count_waiting_groups(), workers)
    abandoned = sum(worker.abandoned_threads for worker in workers)
    record = {
        "waiting": counts.waiting,
        "running": counts.running,
        "succeeded": counts.succeeded,
        "failed": counts.failed,
        "by_name": counts.by_name,
        "abandoned_threads": abandoned,
        "workers": len(workers),
        "unhandled": [
            {"name": item.name, "queue": item.queue, "waiting": item.count} for item in unhandled
        ],
    }
    if args.json:
        print_json(record)
        return 0
    print(
        f"waiting {counts.waiting}  running {counts.running}  "
        f"succeeded {counts.succeeded}  failed {counts.failed}"
    )
    if abandoned:
        print(f"abandoned handler threads {abandoned} (stuck after a timeout, in live workers)")
    if counts.by_name:
        states = ["waiting", "running", "succeeded", "failed"]
        rows = [
            {"name": name, **{s: by.get(s, 0) for s in states}}
            for name, by in sorted(counts.by_name.items())
        ]
        print_table(rows, ["name", *states])
    for item in unhandled:
        print(f"warning: {item.describe()}: no running worker handles it")
    return 0


def job_record(row: Job | FinishedJob) -> dict[str, Any]:
    """A job as a JSON-ready dict; times as ISO 8601 text to the microsecond, as stored."""
    return {name: _json_value(value) for name, value in _job_fields(row).items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _job_fields(row: Job | FinishedJob) -> dict[str, Any]:
    return {
        item.name: getattr(row, item.name) for item in fields(row) if item.name != "stop_requested"
    }


def _columns(table: str) -> list[str]:
    # The exception comes last in `jobs failed`: it is shown whole, wrapped.
    if table == "jobs":
        return ["id", "name", "attempts", "available_at", "reserved_by", "queue", "priority"]
    if table == "failed":
        return ["id", "name", "attempts", "finished_at", "exception"]
    return ["id", "name", "attempts", "finished_at"]


def _table_name(state: str) -> str:
    return {"jobs": "jobs", "succeeded": "jobs_succeeded", "failed": "jobs_failed"}[state]


def print_table(
    records: list[dict[str, Any]], columns: list[str], *, wrap: str | None = None
) -> None:
    """Columns padded to their widest cell. The `wrap` column (the last) is shown whole:
    wrapped to the terminal's width beside the row, or below it when the row leaves too
    little room; not wrapped at all when the width is unknown (piped, no $COLUMNS)."""
    cells = [
        [_cell(record.get(column), whole=column == wrap) for column in columns]
        for record in records
    ]
    widths = [max(len(column), *(len(row[i]) for row in cells)) for i, column in enumerate(columns)]
    out = sys.stdout
    if wrap is not None:
        widths[-1] = len(wrap)
    out.write("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip() + "\n")
    width = terminal_width()
    indent = sum(widths[:-1]) + 2 * (len(columns) - 1)
    for row in cells:
        lead = "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=False))
        last = row[-1]
        if wrap is None:
            out.write(f"{lead}  {last}".rstrip() + "\n")
        elif width is None:
            lines = last.splitlines() or [""]
            out.write(f"{lead}  {lines[0]}".rstrip() + "\n")
            for line in lines[1:]:
                out.write(" " * (indent + 2) + line + "\n")
        elif width - indent - 2 >= MIN_WRAP_WIDTH:
            lines = wrapped(last, width - indent - 2)
            out.write(f"{lead}  {lines[0]}".rstrip() + "\n")
            for line in lines[1:]:
                out.write(" " * (indent + 2) + line + "\n")
        else:
            out.write(lead.rstrip() + "\n")
            for line in wrapped(last, max(MIN_WRAP_WIDTH, width - 4)):
                out.write("    " + line + "\n")


#: Narrower than this beside the row, a wrapped column goes below the row instead.
MIN_WRAP_WIDTH = 40


def terminal_width() -> int | None:
    """$COLUMNS, else the width of the terminal stdout is on; None when piped."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except (OSError, ValueError):
        return None


def wrapped(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, its own line breaks kept."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(
            textwrap.wrap(paragraph, width, break_long_words=True, break_on_hyphens=False) or [""]
        )
    return lines


def _cell(value: Any, *, whole: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return format_time(value)
    if whole:
        return str(value)
    text = str(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


#: Failed jobs moved back per transaction by `jobs retry --all-failed`.
RETRY_BATCH = 500


def retry_all_failed(args: argparse.Namespace) -> int:
    """Move every failed job matching the filters back to `jobs`, a batch per transaction."""
    filters = {"name": args.name, "queue": args.queue}
    ids: list[str] = []
    with admin_adapter(args) as adapter:
        total = adapter.count_listed("failed", **filters)
        with progress("retrying failed jobs", total=total, quiet=args.json) as bar:
            while True:
                moved = adapter.retry_failed_jobs(
                    limit=RETRY_BATCH, now=SYSTEM_CLOCK.now(), **filters
                )
                ids.extend(job.id for job in moved)
                bar.update(len(moved))
                if len(moved) < RETRY_BATCH:
                    break
    if args.json:
        print_json({"retried": len(ids), "ids": ids})
    else:
        print(
            f"re-enqueued {len(ids)} failed job{'s' if len(ids) != 1 else ''}{_filter_text(args)}"
        )
    return 0
