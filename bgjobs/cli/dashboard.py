"""`bgjobs dashboard`: serve the web dashboard with uvicorn (127.0.0.1 unless a token is set)."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Iterator
from typing import Any

from bgjobs.cli.common import CliError, database_url
from bgjobs.db import SqliteAdapter, adapter_from_url
from bgjobs.errors import BgJobsError

TOKEN_VARIABLE = "BGJOBS_DASHBOARD_TOKEN"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dashboard",
        help="serve the web dashboard",
        description=(
            "Serve the web dashboard (pip install 'bgjobs[dashboard]'). It listens on "
            "127.0.0.1 unless told otherwise; any other address needs a token "
            f"(--auth-token or ${TOKEN_VARIABLE})."
        ),
    )
    parser.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///path or postgresql://... (default $BGJOBS_DATABASE_URL, "
        "else sqlite:///bgjobs.db)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8787, help="port to listen on (8787)")
    parser.add_argument(
        "--auth-token",
        metavar="T",
        help=f"require this token (login form or bearer header); default ${TOKEN_VARIABLE}",
    )
    parser.add_argument(
        "--read-only", action="store_true", help="show everything, change nothing: no actions"
    )
    parser.set_defaults(run=run)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"PORT must be a whole number (got {text!r})") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"PORT must be in 1..65535 (got {value})")
    return value


def is_loopback(host: str) -> bool:
    """Whether `host` is reachable only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    token = args.auth_token or os.environ.get(TOKEN_VARIABLE) or None
    if not is_loopback(args.host) and token is None:
        raise CliError(
            f"refusing to listen on {args.host} without a token: anyone who can reach it "
            f"could retry and delete jobs; pass --auth-token or set {TOKEN_VARIABLE}"
        )
    try:
        import uvicorn

        from bgjobs.dashboard import create_app
    except ImportError as exc:
        raise CliError(
            f"the dashboard needs its extra ({exc.name} is missing): "
            "pip install 'bgjobs[dashboard]'"
        ) from None
    adapter = _open(args.db)
    app = create_app(adapter, read_only=args.read_only, auth=token)
    listener = _listen(args.host, args.port)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"bgjobs dashboard on http://{shown}:{args.port}/ "
        f"({'read-only, ' if args.read_only else ''}{'token required' if token else 'no login'}); "
        "Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    try:
        _server_class(uvicorn.Server)(config).run(sockets=[listener])
    finally:
        adapter.close()
    return 0


def _server_class(base: Any) -> Any:
    class Server(base):  # type: ignore[misc]
        """uvicorn's server, except that SIGINT/SIGTERM end it with status 0.

        uvicorn re-raises a stop signal after shutting down, so the process
        would die "by the signal"; a requested stop is a normal end here, as
        for `bgjobs worker`.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def _open(given_url: str | None) -> Any:
    logging.getLogger("bgjobs").setLevel(logging.ERROR)
    url = database_url(given_url)
    try:
        adapter = adapter_from_url(url)
    except BgJobsError as exc:
        raise CliError(str(exc)) from None
    if isinstance(adapter, SqliteAdapter) and not os.path.exists(adapter.path):
        raise CliError(f"no SQLite database at {adapter.path} (create it with `bgjobs migrate`)")
    from bgjobs.dashboard.reader import reader_for

    try:  # one read now, so a missing schema or a bad server is one line, not a 500 later
        reader_for(adapter).named("scheduled_rows", {})
    except BgJobsError as exc:
        adapter.close()
        raise CliError(f"cannot read the database: {exc}") from None
    return adapter


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock
