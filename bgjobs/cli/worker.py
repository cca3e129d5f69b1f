"""`bgjobs worker MODULE:ATTR`: run a configured runtime until a signal stops it."""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import os
import signal
import sys
import threading
import traceback
from types import FrameType
from typing import Any

from bgjobs.cli.banner import banner_lines
from bgjobs.cli.common import CliError
from bgjobs.errors import BgJobsError, RuntimeStopped, ScheduleValidationError
from bgjobs.events import logger_event_listener
from bgjobs.runtime.app import BgJobs, BgJobsBuilder

logger = logging.getLogger("bgjobs")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run the queues and scheduled jobs of a builder",
        description=(
            "Import MODULE, take ATTR (a BgJobs builder, or a zero-argument callable "
            "returning one), build it and run until SIGINT/SIGTERM."
        ),
    )
    parser.add_argument("target", metavar="MODULE:ATTR", help="e.g. myapp.jobs:builder")
    parser.add_argument(
        "--shutdown-timeout",
        type=_non_negative_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long running jobs get to finish after a stop signal (default 30)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="level of the bgjobs event log on stderr (default INFO)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_metrics_port,
        metavar="PORT",
        help="serve Prometheus metrics on this port (needs bgjobs[metrics])",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the metrics server (default 127.0.0.1; 0.0.0.0 for remote scrapers)",
    )
    parser.set_defaults(run=run)


def _metrics_port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"PORT must be a whole number in 1..65535 (got {text!r})")
    return int(text)


def _serve_metrics(builder: BgJobsBuilder, host: str, port: int) -> BgJobsBuilder:
    """Start the metrics HTTP server and return the builder with the metrics listener."""
    try:
        from prometheus_client import start_http_server

        from bgjobs import metrics
    except ImportError:
        raise CliError(
            "--metrics-port needs prometheus_client: pip install 'bgjobs[metrics]'"
        ) from None
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        raise CliError(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}") from None
    metrics.register_database_gauges(builder.adapter)
    print(f"metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)
    return builder.with_event_listener(metrics.listener)


def _non_negative_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"SECONDS must be a number (got {text!r})") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"SECONDS must be a finite number >= 0 (got {text})")
    return value


def load_builder(target: str) -> BgJobsBuilder:
    """Import MODULE:ATTR with the current directory first on sys.path."""
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise CliError(f"expected MODULE:ATTR such as myapp.jobs:builder (got {target!r})")
    cwd = os.getcwd()
    if sys.path[:1] != [cwd]:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # the user's module may raise anything on import
        logger.debug("importing %r failed", module_name, exc_info=exc)
        raise CliError(f"cannot import {module_name!r}: {where_raised(exc)}{_hint()}") from None
    for part in attr_path.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CliError(f"{module_name!r} has no attribute {attr_path!r}") from None
    if isinstance(obj, BgJobs):
        raise CliError(f"{target} is a built runtime: pass the builder, not build()")
    if not isinstance(obj, BgJobsBuilder) and callable(obj):
        try:
            obj = obj()
        except Exception as exc:
            logger.debug("calling %s() failed", target, exc_info=exc)
            raise CliError(f"calling {target}() failed: {where_raised(exc)}{_hint()}") from None
        if isinstance(obj, BgJobs):
            raise CliError(f"{target}() returned a built runtime: return the builder, not build()")
    if not isinstance(obj, BgJobsBuilder):
        raise CliError(
            f"{target} is a {type(obj).__name__}; expected a builder from bgjobs.new(...) "
            "or a zero-argument callable returning one"
        )
    return obj


def _hint() -> str:
    """Said after a start-up error when the traceback was not shown."""
    shown = logger.isEnabledFor(logging.DEBUG)
    return "" if shown else "; --log-level DEBUG shows the traceback"


def where_raised(exc: BaseException) -> str:
    """ "path/to/file.py:12: NameError: ..." naming the innermost frame of the user's code.

    Frames of the import system and of bgjobs itself are skipped, so an error
    bgjobs raises for a bad call points at the user's line that made it. A
    syntax error names the line of its source; a path under the current
    directory is shown relative to it.
    """
    described = f"{type(exc).__name__}: {exc}"
    filename: str | None = None
    line: int | None = None
    if isinstance(exc, SyntaxError) and exc.filename:
        filename, line = exc.filename, exc.lineno
        described = f"{type(exc).__name__}: {exc.msg}"
    else:
        for frame, frame_line in traceback.walk_tb(exc.__traceback__):
            name = frame.f_code.co_filename
            # "<string>" and such: code generated at run time (a dataclass __init__).
            if not name.startswith(("<", _IMPORTLIB, _BGJOBS)):
                filename, line = name, frame_line
    if filename is None:
        return described
    shown = os.path.relpath(filename) if filename.startswith(os.getcwd() + os.sep) else filename
    return f"{shown}:{line}: {described}"


_IMPORTLIB = os.path.dirname(importlib.__file__) + os.sep
_BGJOBS = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    builder = load_builder(args.target)
    if logger_event_listener not in builder.listeners:
        builder = builder.with_event_listener(logger_event_listener)
    if args.metrics_port is not None:
        builder = _serve_metrics(builder, args.metrics_host, args.metrics_port)
    try:
        # Built without starting, so that the banner comes before the first job.
        runtime = builder.build(start=False)
    except ScheduleValidationError as exc:
        # Kept on several lines: the caret under the schedule text is the point.
        logger.debug("build() failed", exc_info=exc)
        context = "".join(f"{note}: " for note in getattr(exc, "__notes__", ()))
        print(f"error: cannot start: {context}{exc}", file=sys.stderr)
        return 2
    except (BgJobsError, ValueError) as exc:
        logger.debug("build() failed", exc_info=exc)
        raise CliError(f"cannot start: {exc}".splitlines()[0]) from None
    signals_seen = 0
    started = threading.Event()  # the stop waits for the start, so the two never overlap

    def stop_after_start() -> None:
        started.wait()
        runtime.stop(args.shutdown_timeout)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen > 1:
            print("second signal: exiting at once", file=sys.stderr, flush=True)
            os._exit(1)
        print(
            f"{signal.Signals(signum).name}: stopping (up to {args.shutdown_timeout:g} s for "
            "running jobs; send it again to exit at once)",
            file=sys.stderr,
            flush=True,
        )
        threading.Thread(target=stop_after_start, daemon=True).start()

    # Signals are ours before anything runs: a Ctrl-C right after the banner stops
    # the worker gracefully instead of interrupting the start.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    lines = banner_lines(builder, target=args.target, worker_id=runtime.worker_id)
    if logger.isEnabledFor(logging.INFO):
        for line in lines:
            logger.info("%s", line)
    else:  # quieter levels still say, once, that the worker runs and how to stop it
        print(f"bgjobs {lines[0]}", file=sys.stderr, flush=True)
    try:
        runtime.start()
    finally:
        started.set()
    try:
        while not runtime.wait(timeout=0.5):
            pass
    except RuntimeStopped as exc:
        print(f"error: the runtime stopped: {exc}", file=sys.stderr)
        return 1
    return 0
