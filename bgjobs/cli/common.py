"""Helpers shared by the CLI commands: errors, database URLs, time formatting."""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///bgjobs.db"


class CliError(Exception):
    """A mistake the user can fix: printed as one line, exit status 2 by default."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def database_url(given: str | None) -> str:
    """--db, else BGJOBS_DATABASE_URL, else the default SQLite file."""
    return given or os.environ.get("BGJOBS_DATABASE_URL") or DEFAULT_DATABASE_URL


def format_time(moment: datetime) -> str:
    """ISO 8601 to the second; milliseconds only when non-zero; UTC as +00:00."""
    # Milliseconds are printed truncated, so a sub-millisecond remainder alone must not
    # produce a ".000".
    spec = "milliseconds" if moment.microsecond >= 1000 else "seconds"
    return moment.isoformat(timespec=spec)


def one_line(message: str) -> str:
    """A message with its line breaks (and the indentation after them) folded into spaces."""
    return re.sub(r"\s*\n\s*", " ", message).strip()


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")
