"""Numbered schema migrations and the checks that keep bgjobs off tables it does not own.

Migrations are data files, bgjobs/db/sql/<dialect>/migrations/NNNN_name.sql,
applied in order and recorded in jobs_schema. The adapters run
`run_migrations` inside one locked transaction (SQLite: BEGIN IMMEDIATE;
PostgreSQL: pg_advisory_xact_lock), so several processes starting together
on an empty database apply each migration exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, Protocol

from bgjobs.db.queries import Dialect
from bgjobs.errors import SchemaError

#: The columns bgjobs needs in each of its tables (at the latest version).
TABLE_COLUMNS: Final[Mapping[str, frozenset[str]]] = {
    "jobs": frozenset(
        {
            "id", "name", "payload", "attempts", "created_at", "available_at",
            "reserved_at", "reserved_by", "queue", "priority", "scheduled_job",
            "schedule", "unique_key", "last_error", "timeout_seconds", "cancel_requested",
        }
    ),
    "jobs_succeeded": frozenset(
        {
            "id", "name", "payload", "attempts", "queue", "priority",
            "created_at", "available_at", "succeeded_at", "unique_key", "result",
        }
    ),
    "jobs_failed": frozenset(
        {
            "id", "name", "payload", "attempts", "queue", "priority",
            "created_at", "available_at", "exception", "traceback", "failed_at",
        }
    ),
    "jobs_workers": frozenset(
        {
            "id", "hostname", "pid", "started_at", "heartbeat_at", "abandoned_threads",
            "queues", "job_names", "heartbeat_ms", "lease_ms",
        }
    ),
    "jobs_schema": frozenset({"version"}),
    "jobs_schedules": frozenset(
        {
            "key", "job_name", "schedule", "payload", "misfire", "grace_ms", "removed",
            "created_at",
        }
    ),
    "jobs_schedule_runs": frozenset(
        {"id", "key", "slot", "started_at", "finished_at", "outcome", "error", "note"}
    ),
    "jobs_queues": frozenset({"name", "paused_at", "updated_at"}),
    "jobs_queue_starts": frozenset({"queue", "reserved_at", "total"}),
    "jobs_schedule_pauses": frozenset({"key", "paused_at"}),
}  # fmt: skip

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema change."""

    version: int
    name: str
    statements: tuple[str, ...]


class MigrationSession(Protocol):
    """What the runner needs from an adapter, inside its locked transaction."""

    def table_columns(self, tables: Collection[str]) -> dict[str, set[str]]:
        """Columns of each of `tables` that exists in the current schema."""
        ...

    def applied_versions(self) -> list[int]:
        """The versions recorded in jobs_schema."""
        ...

    def execute(self, statement: str) -> None:
        """Run one DDL statement."""
        ...

    def record_version(self, version: int) -> None:
        """Insert `version` into jobs_schema."""
        ...


@cache
def load_migrations(dialect: Dialect) -> tuple[Migration, ...]:
    """The dialect's migrations in version order; versions must run 1, 2, 3, ... without gaps."""
    folder = resources.files("bgjobs.db").joinpath("sql", dialect, "migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        text = entry.read_text("utf-8")
        found.append(Migration(int(match.group(1)), match.group(2), split_statements(text)))
    found.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations must be numbered 1..n (found {versions})")
    return tuple(found)


def latest_version(dialect: Dialect) -> int:
    """The schema version this code creates."""
    return len(load_migrations(dialect))


def split_statements(text: str) -> tuple[str, ...]:
    """Statements of a migration file: split at `;` ending a line; `--` comment lines dropped.

    Text between `$$` quotes (a function body) is never split. Migration files
    keep semicolons out of string literals so this stays simple.
    """
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    statements: list[str] = []
    current = ""
    for index, part in enumerate("\n".join(lines).split("$$")):
        if index % 2:  # inside $$ ... $$
            current += f"$${part}$$"
            continue
        pieces = re.split(r";[ \t]*(?:\n|$)", part)
        current += pieces[0]
        for piece in pieces[1:]:
            statements.append(current)
            current = piece
    statements.append(current)
    return tuple(chunk.strip() for chunk in statements if chunk.strip())


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What a migrate() did: the version the schema is at, and the versions it applied now."""

    version: int
    applied: tuple[int, ...]


def run_migrations(session: MigrationSession, dialect: Dialect) -> MigrationReport:
    """Bring the schema to the latest version. Raises SchemaError for foreign tables."""
    migrations = load_migrations(dialect)
    latest = len(migrations)
    tables = session.table_columns(TABLE_COLUMNS)
    _check_not_foreign(tables)
    current = max(session.applied_versions(), default=0) if "jobs_schema" in tables else 0
    if current > latest:
        raise SchemaError(
            f"the database holds bgjobs schema version {current}, newer than this bgjobs "
            f"(it knows versions up to {latest}): upgrade bgjobs on this host"
        )
    for migration in migrations[current:]:
        for statement in migration.statements:
            session.execute(statement)
        session.record_version(migration.version)
    _check_complete(session.table_columns(TABLE_COLUMNS))
    return MigrationReport(latest, tuple(m.version for m in migrations[current:]))


def _check_not_foreign(tables: Mapping[str, set[str]]) -> None:
    if "jobs_schema" not in tables:
        if tables:
            names = ", ".join(sorted(tables))
            raise SchemaError(
                f"table(s) {names} already exist but were not created by bgjobs "
                "(there is no jobs_schema table). bgjobs needs the table names "
                f"{', '.join(TABLE_COLUMNS)}: point it at another database "
                "(on PostgreSQL, another schema through search_path) or rename your tables"
            )
        return
    if not TABLE_COLUMNS["jobs_schema"] <= tables["jobs_schema"]:
        raise SchemaError(
            "a table named jobs_schema exists but has no version column: it was not "
            "created by bgjobs, which needs that name for its schema version"
        )


def _check_complete(tables: Mapping[str, set[str]]) -> None:
    for table, columns in TABLE_COLUMNS.items():
        if table not in tables:
            raise SchemaError(f"table {table} is missing although jobs_schema says it exists")
        missing = columns - tables[table]
        if missing:
            raise SchemaError(
                f"table {table} lacks column(s) {', '.join(sorted(missing))}: "
                "it was not created by bgjobs (or was altered by hand)"
            )
