"""What `bgjobs worker` says before its first job: where, which queues and jobs, which schedules."""

from __future__ import annotations

import os
import socket

from bgjobs.db.adapter import Adapter
from bgjobs.runtime.app import BgJobsBuilder
from bgjobs.schedule import describe, parse


def banner_lines(builder: BgJobsBuilder, *, target: str, worker_id: str) -> list[str]:
    """One line per fact, so each reads as its own log record."""
    lines = [
        f"worker {worker_id} running {target} "
        f"(pid {os.getpid()} on {socket.gethostname()}); Ctrl-C to stop",
        f"database: {database_label(builder.adapter)}",
    ]
    for queue in builder.queues:
        names = ", ".join(sorted(queue.job_names))
        retries = "retry" if queue.max_retries == 1 else "retries"
        lines.append(
            f"queue {queue.name!r}: {names} (up to {queue.max_concurrent_jobs} at once, "
            f"{queue.max_retries} {retries})"
        )
    for scheduled in builder.scheduled_jobs:
        lines.append(f"scheduled job {scheduled.key!r}: {schedule_label(scheduled.schedule)}")
    if not builder.queues and not builder.scheduled_jobs:
        lines.append("no queues and no scheduled jobs: this worker only heartbeats")
    return lines


def schedule_label(schedule: object) -> str:
    """The schedule's English description ("at 03:00:00 on weekdays")."""
    # build() has already parsed a string schedule successfully.
    return describe(parse(schedule) if isinstance(schedule, str) else schedule)


def database_label(adapter: Adapter) -> str:
    """The database as a URL without its password."""
    from bgjobs.db.sqlite import SqliteAdapter

    if isinstance(adapter, SqliteAdapter):
        return f"sqlite:///{os.path.abspath(adapter.path)}"
    conninfo = getattr(adapter, "conninfo", None)
    if not isinstance(conninfo, str):
        return repr(adapter)
    from psycopg.conninfo import conninfo_to_dict  # the adapter is a PostgreSQL one

    params = conninfo_to_dict(conninfo)
    user = f"{params['user']}@" if params.get("user") else ""
    host = str(params.get("host") or "localhost")
    port = f":{params['port']}" if params.get("port") else ""
    options = f" (options {params['options']})" if params.get("options") else ""
    return f"postgresql://{user}{host}{port}/{params.get('dbname', '')}{options}"
