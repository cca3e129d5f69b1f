"""`bgjobs next-runs`: preview when a schedule fires (SPEC 2.5)."""

from __future__ import annotations

import argparse
import itertools
import sys
import warnings
from datetime import UTC, datetime, tzinfo
from typing import Any

from dateutil import parser as date_parser

from bgjobs.cli.common import format_time, print_json
from bgjobs.errors import ScheduleValidationError
from bgjobs.schedule import describe, parse
from bgjobs.schedule.model import canonical_zone_name, zone

DEFAULT_COUNT = 5
MAX_COUNT = 10_000


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "next-runs",
        help="print the next fire times of a schedule",
        description="Print a schedule's canonical form, its description and its next fire times.",
    )
    parser.add_argument("schedule", metavar="SCHEDULE", help='e.g. "at 08:30 on weekdays"')
    parser.add_argument(
        "-n",
        type=_count,
        default=DEFAULT_COUNT,
        metavar="N",
        help=f"how many fire times (default {DEFAULT_COUNT})",
    )
    start = parser.add_mutually_exclusive_group()
    start.add_argument(
        "--after",
        metavar="DATETIME",
        help="start after this time (default now); a naive value is wall time in the zone",
    )
    start.add_argument(
        "--before",
        metavar="DATETIME",
        help="list the fires before this time instead, newest first",
    )
    parser.add_argument(
        "--tz",
        metavar="ZONE",
        help="IANA zone to print the times in (never changes when the schedule fires)",
    )
    parser.add_argument(
        "--schedule-tz",
        metavar="ZONE",
        help="IANA zone the schedule fires in when its text names none (like parse(timezone=))",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"N must be a whole number (got {text!r})") from None
    if not 1 <= value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"N must be in 1..{MAX_COUNT} (got {value})")
    return value


def run(args: argparse.Namespace) -> int:
    try:
        shown_zone = _zone_option("--tz", args.tz)
        attached_zone = _zone_option("--schedule-tz", args.schedule_tz)
    except _BadZone as exc:
        _print_validation_error(exc.error, exc.given)
        return 2
    try:
        policy = parse(args.schedule)
    except ScheduleValidationError as exc:
        _print_validation_error(exc, args.schedule)
        return 2
    if attached_zone is not None:
        try:
            policy = parse(args.schedule, timezone=attached_zone)
        except ScheduleValidationError as exc:
            # The text names a zone of its own: the only way this parse fails now.
            named = getattr(policy, "timezone", "UTC")
            reason = (
                f"--schedule-tz {attached_zone}: the schedule names its own zone ({named}); "
                "give the zone in one place or make them agree"
            )
            _print_input_error(reason, args.schedule, exc.line or 1, exc.column or 1)
            return 2
    # When it fires: the text's `in ZONE`, else --schedule-tz, else UTC. --tz only
    # changes the zone the times are printed in.
    firing_name = getattr(policy, "timezone", None) or attached_zone or "UTC"
    effective_zone: tzinfo = _zone_info(firing_name)
    zone_name = shown_zone or firing_name
    shown: tzinfo = _zone_info(zone_name)
    backwards = args.before is not None
    try:
        moment = _start_time(args.before if backwards else args.after, effective_zone, backwards)
    except _BadOption as exc:
        _print_input_error(exc.reason, exc.given, 1, 1)
        return 2
    if backwards:
        iter_before = getattr(policy, "iter_before", None)
        if not callable(iter_before):
            _print_input_error(
                "--before: this schedule cannot say when it fired", str(policy), 1, 1
            )
            return 2
        fires = iter_before(moment)
    else:
        fires = policy.iter_after(moment)
    runs = [format_time(fire.astimezone(shown)) for fire in itertools.islice(fires, args.n)]
    text, description = str(policy), describe(policy)
    if args.json:
        document: dict[str, object] = {
            "schedule": text,
            "description": description,
            "timezone": zone_name,
            "next_runs": [] if backwards else runs,
        }
        if backwards:
            document["before"] = format_time(moment.astimezone(shown))
            document["previous_runs"] = runs
        print_json(document)
    else:
        sys.stdout.write("\n".join([text, description, *runs]) + "\n")
    return 0


class _BadZone(Exception):
    """A zone option that names no zone."""

    def __init__(self, error: ScheduleValidationError, given: str) -> None:
        super().__init__(error.reason)
        self.error = error
        self.given = given


def _zone_option(option: str, given: str | None) -> str | None:
    if given is None:
        return None
    try:
        return canonical_zone_name(given)
    except ScheduleValidationError as exc:
        named = ScheduleValidationError(
            f"{option}: {exc.reason}", field=exc.field, value=exc.value, allowed=exc.allowed
        )
        raise _BadZone(named, given) from None


def _zone_info(name: str) -> tzinfo:
    return UTC if name == "UTC" else zone(name)


class _BadOption(Exception):
    """An option value that cannot be used; shown like a schedule error, with a caret."""

    def __init__(self, reason: str, given: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.given = given


def _start_time(given: str | None, effective_zone: tzinfo, backwards: bool) -> datetime:
    option = "--before" if backwards else "--after"
    if given is None:
        return datetime.now(UTC).astimezone(effective_zone)
    try:
        with warnings.catch_warnings():
            # dateutil drops a zone name it does not know ("EST") with only a warning and
            # returns a naive time: that would silently read the time in the wrong zone.
            warnings.simplefilter("error", date_parser.UnknownTimezoneWarning)
            moment = date_parser.parse(given)
    except date_parser.UnknownTimezoneWarning:
        raise _BadOption(
            f"{option}: {given!r} names a time zone that cannot be read; "
            "write a UTC offset instead, such as 2026-03-29T01:30:00-05:00",
            given,
        ) from None
    except (ValueError, OverflowError) as exc:
        raise _BadOption(
            f"{option}: cannot read {given!r} as a date and time ({exc}); "
            "use ISO 8601 such as 2026-03-29T01:30:00+01:00",
            given,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=effective_zone)
    return moment


def _print_input_error(reason: str, text: str, line_no: int, column: int) -> None:
    """`error: REASON`, then the offending line of the input and a caret under the column."""
    source_lines = text.split("\n")  # the line numbers count "\n" only (as Lark does)
    source_line = source_lines[min(max(line_no, 1), len(source_lines)) - 1]
    caret = " " * (max(column, 1) - 1) + "^"
    sys.stderr.write(f"error: {reason}\n  {source_line}\n  {caret}\n")


def _print_validation_error(exc: ScheduleValidationError, given: str) -> None:
    text = exc.text if exc.text is not None else given
    _print_input_error(exc.reason, text, exc.line or 1, exc.column or 1)
