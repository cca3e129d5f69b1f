"""The `bgjobs` command line: an argparse front end over the public API.

Each command lives in its own module with `register(subparsers)`, which adds
its parser and sets `run(args) -> int`. Errors a user can cause exit 2 with a
one-line reason; no traceback reaches the terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from bgjobs.cli import dashboard, db_commands, demo, next_runs, schedules, worker
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
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    next_runs.register(subparsers)
    worker.register(subparsers)
    demo.register(subparsers)
    db_commands.register(subparsers)
    schedules.register(subparsers)
    dashboard.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
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
