"""Database URLs: `sqlite:///path` or `postgresql://...` to an adapter."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

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
        return _postgres_adapter(url)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ConfigurationError(
        f"unsupported database URL {url!r} (scheme {scheme!r}): "
        "use sqlite:///path/to/file.db or postgresql://user@host/dbname"
    )


#: Query parameters of a postgresql:// URL that bgjobs reads (and libpq never sees).
_BGJOBS_PARAMETERS = ("bgjobs_pooled", "bgjobs_listen_url")


def _postgres_adapter(url: str) -> PostgresAdapter:
    """PostgresAdapter for a URL; `bgjobs_pooled=true` and `bgjobs_listen_url=URL` (encoded)
    say the URL is a transaction-pooling PgBouncer and where LISTEN connects directly."""
    from bgjobs.db.postgres import PostgresAdapter

    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {name: value for name, value in query if name.startswith("bgjobs_")}
    unknown = sorted(set(ours) - set(_BGJOBS_PARAMETERS))
    if unknown:
        raise ConfigurationError(
            f"unknown parameter {unknown[0]!r} in the database URL: "
            f"bgjobs reads {', '.join(_BGJOBS_PARAMETERS)}"
        )
    pooled_text = ours.get("bgjobs_pooled", "false").lower()
    if pooled_text not in ("true", "false", "1", "0"):
        raise ConfigurationError(
            f"bgjobs_pooled in the database URL must be true or false (got {pooled_text!r})"
        )
    rest = urlencode([(k, v) for k, v in query if k not in ours], quote_via=quote)
    return PostgresAdapter(
        urlunsplit(parts._replace(query=rest)),
        pooled=pooled_text in ("true", "1"),
        listen_url=ours.get("bgjobs_listen_url"),
    )
