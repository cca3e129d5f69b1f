"""Time values at the database edge: the one writer of SQLite's time text, and its reader.

SQLite has no time type, so bgjobs stores UTC text in exactly one shape,
`YYYY-MM-DD HH:MM:SS.ffffff`: fixed width, so text order is time order and
`available_at <= :now` compares correctly. PostgreSQL stores timestamptz and
only needs values normalised to UTC on the way out.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime


def require_aware(value: datetime, what: str) -> datetime:
    """`value` in UTC; a naive or non-datetime value is a clear error."""
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be an aware datetime (got {type(value).__name__})")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def to_sqlite_time(value: datetime) -> str:
    """The SQLite text for an aware datetime: UTC, `YYYY-MM-DD HH:MM:SS.ffffff`."""
    t = require_aware(value, "a stored time")
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d} "
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond:06d}"
    )


@functools.lru_cache(maxsize=4096)
def from_sqlite_time(text: str) -> datetime:
    """The aware UTC datetime written by `to_sqlite_time`.

    Cached: the rows of one batch share their created_at, available_at and
    reserved_at texts, and datetimes are immutable.
    """
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def from_postgres_time(value: datetime) -> datetime:
    """A timestamptz from psycopg (in the session's zone) as an aware UTC datetime."""
    return value.astimezone(UTC)
