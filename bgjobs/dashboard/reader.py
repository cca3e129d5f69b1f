"""The dashboard's seam to a database: run its named read queries on an adapter's connections.

The dashboard reads through the adapters' own connection handling (retries,
pools, reader connections) but keeps its queries in its own files,
bgjobs/db/sql/<dialect>/dashboard.sql, so the adapters' methods stay the
runtime's. One small class per database says how to run a statement, how to
bind a time and how to write a bound parameter.
"""

from __future__ import annotations

import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bgjobs.db.queries import Dialect, load_query_file
from bgjobs.db.sqlite import SqliteAdapter
from bgjobs.db.times import from_postgres_time, from_sqlite_time, to_sqlite_time

Row = dict[str, Any]


class Reader(ABC):
    """Runs the dashboard's read statements on one adapter."""

    dialect: Dialect

    def named(self, name: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of the named query `name` of dashboard.sql."""
        return self.rows(load_query_file(self.dialect, "dashboard.sql")[name], params)

    def pinned(self, name: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of the named query `name`, written to walk indexes in the order its
        ORDER BY names, kept on that plan (PostgreSQL: see PostgresReader.pinned)."""
        return self.rows(load_query_file(self.dialect, "dashboard.sql")[name], params)

    def pinned_rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of a statement written to walk an index, kept on that plan where the
        database could choose another (PostgreSQL; SQLite keeps it by itself)."""
        return self.rows(sql, params)

    def scalar(self, name: str, params: Mapping[str, Any]) -> int:
        """The `n` column of the first row of a named counting query."""
        rows = self.named(name, params)
        return int(rows[0]["n"]) if rows else 0

    @abstractmethod
    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        """The rows of one read statement, as dicts by column name."""

    @abstractmethod
    def bind_time(self, moment: datetime) -> Any:
        """A time as this database compares it."""

    @abstractmethod
    def read_time(self, raw: Any) -> datetime:
        """A stored time as an aware UTC datetime."""

    @abstractmethod
    def placeholder(self, name: str) -> str:
        """How a statement refers to the bound parameter `name`."""


class SqliteReader(Reader):
    dialect: Dialect = "sqlite"

    def __init__(self, adapter: SqliteAdapter) -> None:
        self._adapter = adapter

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        def work(conn: sqlite3.Connection) -> list[Row]:
            cursor = conn.execute(sql, params)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

        return self._adapter._read(work)

    def bind_time(self, moment: datetime) -> Any:
        return to_sqlite_time(moment)

    def read_time(self, raw: Any) -> datetime:
        return from_sqlite_time(raw)

    def placeholder(self, name: str) -> str:
        return f":{name}"


class PostgresReader(Reader):
    dialect: Dialect = "postgres"

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    def rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        rows: list[Row] = self._adapter._fetch(sql, params)
        return rows

    def pinned_rows(self, sql: str, params: Mapping[str, Any]) -> list[Row]:
        """Run with the runtime's plan pins (no sequential or bitmap scan, no sort).

        On tables never analyzed (the state a first big load leaves for a
        while) the planner guesses: for the overview's chart it chose a
        parallel scan of a million finished rows, for a list filtered by name
        and queue a bitmap of every matching row and a sort. The pins leave it
        the index walks the statements are written for; they end with the
        statement.
        """
        return self._run_pinned(sql, params, sorting=True)

    def pinned(self, name: str, params: Mapping[str, Any]) -> list[Row]:
        """As `pinned_rows`, and without incremental sorts either.

        The overview's statements name the order of the index they must walk:
        a queue's newest rows by (queue, time, id), which only the (queue,
        time, id) index gives without sorting. With incremental sorts allowed
        the planner could still walk the time index, filter by queue and
        re-sort ties, reading every queue's rows once per queue.
        """
        sql = load_query_file(self.dialect, "dashboard.sql")[name]
        return self._run_pinned(sql, params, sorting=False)

    def _run_pinned(self, sql: str, params: Mapping[str, Any], *, sorting: bool) -> list[Row]:
        from bgjobs.db.postgres_connections import PIN_PLANS, pinned_rows  # the postgres extra

        settings = PIN_PLANS
        if not sorting:
            settings = settings.replace(
                ";\n", ", set_config('enable_incremental_sort', 'off', true);\n"
            )
        rows: list[Row] = self._adapter._run(
            lambda conn: pinned_rows(conn, sql, params, settings=settings), transaction=False
        )
        return rows

    def bind_time(self, moment: datetime) -> Any:
        return moment

    def read_time(self, raw: Any) -> datetime:
        return from_postgres_time(raw)

    def placeholder(self, name: str) -> str:
        return f"%({name})s"


def reader_for(adapter: object) -> Reader:
    """The reader for a bgjobs adapter; a clear error for anything else."""
    if isinstance(adapter, SqliteAdapter):
        return SqliteReader(adapter)
    if type(adapter).__module__ == "bgjobs.db.postgres":
        return PostgresReader(adapter)
    raise TypeError(
        "the dashboard needs a bgjobs SqliteAdapter or PostgresAdapter "
        f"(got {type(adapter).__name__})"
    )
