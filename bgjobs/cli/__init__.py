"""The `bgjobs` command line: an argparse front end over the public API.

Each command lives in its own module with `register(subparsers)`, which adds
its parser and sets `run(args) -> int`. Errors a user can cause exit 2 with a
one-line reason; no traceback reaches the terminal.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from collections.abc import Sequence

from bgjobs.cli import (
    dashboard,
    db_commands,
    demo,
    enqueue,
    next_runs,
    queues,
    schedules,
    worker,
    workers,
)
from bgjobs.cli.common import CliError, one_line
from bgjobs.errors import BgJobsError


class _Parser(argparse.ArgumentParser):
    """argparse that says what was wrong in one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bgjobs",
        description="Background jobs in the SQL database your app already has.",
        epilog="Run `bgjobs COMMAND -h` for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    # The database options may come before the command too: `bgjobs --db URL jobs list`.
    # Their own dests, so a command's default (None) does not overwrite them.
    parser.add_argument("--db", dest="global_db", metavar="URL", help=db_commands.DB_HELP)
    parser.add_argument(
        "--app", dest="global_app", metavar="MODULE:ATTR", help=db_commands.APP_HELP
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    next_runs.register(subparsers)
    worker.register(subparsers)
    demo.register(subparsers)
    db_commands.register(subparsers)
    schedules.register(subparsers)
    queues.register(subparsers)
    workers.register(subparsers)
    enqueue.register(subparsers)
    dashboard.register(subparsers)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("bgjobs")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "(not installed)"


def _merge_database_options(args: argparse.Namespace) -> None:
    """`--db`/`--app` given before the command count as given after it."""
    for option in ("db", "app"):
        given = getattr(args, f"global_{option}", None)
        if given is None:
            continue
        if not hasattr(args, option):
            raise CliError(f"`bgjobs {args.command}` takes no --{option}")
        if getattr(args, option) not in (None, given):
            raise CliError(f"--{option} was given twice, with different values")
        setattr(args, option, given)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else list(argv)):
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    try:
        _merge_database_options(args)
        status: int = args.run(args)
    except CliError as exc:
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return exc.status
    except BgJobsError as exc:  # e.g. a database that cannot be opened
        print(f"error: {type(exc).__name__}: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`bgjobs jobs list | head`): not an error worth a traceback.
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status
