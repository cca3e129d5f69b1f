"""Database URLs: `sqlite:///path` or `postgresql://...` to an adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from bgjobs.errors import ConfigurationError

if TYPE_CHECKING:
    from bgjobs.db.postgres import PostgresAdapter
    from bgjobs.db.sqlite import SqliteAdapter

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def adapter_from_url(url: str) -> SqliteAdapter | PostgresAdapter:
    """The adapter for a URL: `sqlite:///relative.db`, `sqlite:////abs/path.db`, `postgresql://...`.

    As in SQLAlchemy, three slashes start a relative path and four an absolute one.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"database URL must be a non-empty string (got {url!r})")
    url = url.strip()
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
            raise ConfigurationError(
                f"bad SQLite URL {url!r}: write sqlite:///relative/path.db "
                "or sqlite:////absolute/path.db"
            )
        path = unquote(url[len("sqlite:///") :])
        if "?" in path:
            raise ConfigurationError(f"bad SQLite URL {url!r}: query parameters are not supported")
        from bgjobs.db.sqlite import SqliteAdapter

        return SqliteAdapter(path)
    if url.startswith(_POSTGRES_SCHEMES):
        from bgjobs.db.postgres import PostgresAdapter

        return PostgresAdapter(url)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ConfigurationError(
        f"unsupported database URL {url!r} (scheme {scheme!r}): "
        "use sqlite:///path/to/file.db or postgresql://user@host/dbname"
    )
