"""`bgjobs enqueue NAME`: put one job in the database from the command line."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bgjobs.cli.common import CliError, format_time, print_json
from bgjobs.cli.db_commands import (
    admin_adapter,
    db_options,
    job_record,
    json_option,
    parse_duration,
)
from bgjobs.cli.worker import load_builder
from bgjobs.clock import SYSTEM_CLOCK
from bgjobs.errors import PayloadError
from bgjobs.jobs import JobRequest


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "enqueue",
        help="enqueue one job",
        description=(
            "Enqueue one job named NAME. With --app, NAME (and --queue) must be handled by "
            "one of the app's queues."
        ),
    )
    parser.add_argument("name", metavar="NAME", help="the job name a worker handles")
    parser.add_argument(
        "--payload", metavar="JSON", help="the job's payload as JSON text (default null)"
    )
    parser.add_argument("--queue", metavar="QUEUE", help="only this queue may claim the job")
    parser.add_argument(
        "--in",
        dest="delay",
        type=parse_duration,
        metavar="DURATION",
        help="run no earlier than this long from now, e.g. 10m, 2h, 1d",
    )
    parser.add_argument(
        "--priority", type=_priority, default=0, help="higher runs first (default 0)"
    )
    db_options(parser)
    json_option(parser, "print the enqueued job as JSON")
    parser.set_defaults(run=run)


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (got {text!r})") from None
    if not -(2**31) <= value < 2**31:
        raise argparse.ArgumentTypeError(f"expected a 32-bit whole number (got {value})")
    return value


def _request(args: argparse.Namespace) -> JobRequest:
    payload: Any = None
    if args.payload is not None:
        try:
            payload = json.loads(args.payload)
        except ValueError as exc:
            raise CliError(f"--payload is not JSON: {exc}") from None
    try:
        request = JobRequest(args.name, payload)
        if args.queue is not None:
            request = request.on_queue(args.queue)
        if args.delay is not None:
            request = request.available_in(args.delay)
        return request.with_priority(args.priority)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _check_known(args: argparse.Namespace) -> None:
    """With --app, refuse a job no queue of the app handles (it would wait forever)."""
    if not args.app:
        return
    queues = load_builder(args.app).queues
    handling = [queue.name for queue in queues if args.name in queue.job_names]
    if not handling:
        known = sorted({name for queue in queues for name in queue.job_names})
        names = ", ".join(known) or "none"
        raise CliError(f"no queue of {args.app} handles {args.name!r}; known jobs: {names}")
    if args.queue is not None and args.queue not in handling:
        raise CliError(f"queue {args.queue!r} of {args.app} has no worker for {args.name!r}")


def run(args: argparse.Namespace) -> int:
    request = _request(args)
    _check_known(args)
    with admin_adapter(args) as adapter:
        try:
            job = adapter.enqueue(request, now=SYSTEM_CLOCK.now())
        except PayloadError as exc:
            raise CliError(f"--payload: {exc}") from None
    if args.json:
        print_json(job_record(job))
    else:
        print(f"enqueued job {job.id} ({job.name}), available at {format_time(job.available_at)}")
    return 0
