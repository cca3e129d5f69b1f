"""Named SQL queries, kept as data files in bgjobs/db/sql/<dialect>/queries.sql.

A file holds blocks that each start with a `-- name: <query_name>` line; the
text up to the next such line is the query. Files ship inside the package
and are read with importlib.resources, so an installed wheel finds them.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Literal

Dialect = Literal["sqlite", "postgres"]

_NAME_LINE = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


def read_sql_file(dialect: Dialect, filename: str) -> str:
    """The text of bgjobs/db/sql/<dialect>/<filename>."""
    return resources.files("bgjobs.db").joinpath("sql", dialect, filename).read_text("utf-8")


@cache
def load_queries(dialect: Dialect) -> dict[str, str]:
    """Every named query of a dialect, by name."""
    return load_query_file(dialect, "queries.sql")


@cache
def load_query_file(dialect: Dialect, filename: str) -> dict[str, str]:
    """Every named query of bgjobs/db/sql/<dialect>/<filename>, by name."""
    text = read_sql_file(dialect, filename)
    matches = list(_NAME_LINE.finditer(text))
    queries: dict[str, str] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        name = match.group(1)
        if name in queries:
            raise RuntimeError(f"query {name!r} is defined twice in the {dialect} {filename}")
        queries[name] = text[match.end() : end].strip()
    return queries
