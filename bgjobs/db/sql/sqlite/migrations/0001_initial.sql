-- bgjobs schema version 1 (SQLite).
-- Times are TEXT, always 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (bgjobs/db/times.py),
-- so comparing text compares times.

CREATE TABLE jobs (
    id            TEXT    NOT NULL PRIMARY KEY,  -- UUIDv7 made by the client
    name          TEXT    NOT NULL,
    payload       TEXT,                          -- JSON text as enqueued; NULL for scheduled rows
    attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at    TEXT    NOT NULL,
    available_at  TEXT    NOT NULL,
    reserved_at   TEXT,
    reserved_by   TEXT,                          -- jobs_workers.id of the claiming process
    queue         TEXT,
    priority      INTEGER NOT NULL DEFAULT 0,
    scheduled_job TEXT,                          -- the ScheduledJob key, unique below
    schedule      TEXT,                          -- its canonical schedule text
    unique_key    TEXT,                          -- unique below
    last_error    TEXT,
    CHECK ((scheduled_job IS NULL) = (schedule IS NULL)),
    CHECK ((reserved_by IS NULL) = (reserved_at IS NULL))
);

-- Uniqueness among non-NULL values, as a UNIQUE column has; partial, so the
-- many plain jobs (NULL keys) cost nothing to insert.
CREATE UNIQUE INDEX jobs_scheduled_job_key ON jobs (scheduled_job) WHERE scheduled_job IS NOT NULL;
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;

-- The claim walks this index in claim order and stops at its LIMIT, however
-- many jobs are due.
CREATE INDEX jobs_claim_order ON jobs (priority DESC, available_at, id)
    WHERE reserved_by IS NULL AND scheduled_job IS NULL;

-- Unreserved plain jobs by time: "is anything due?" and "when is the next one?"
-- without walking jobs that are not due yet.
CREATE INDEX jobs_due ON jobs (available_at)
    WHERE reserved_by IS NULL AND scheduled_job IS NULL;

-- Reservations by owner: rescue of dead processes, release at shutdown.
CREATE INDEX jobs_reserved_by ON jobs (reserved_by) WHERE reserved_by IS NOT NULL;

CREATE TABLE jobs_succeeded (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    payload      TEXT,
    attempts     INTEGER NOT NULL,
    queue        TEXT,
    priority     INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    available_at TEXT    NOT NULL,
    succeeded_at TEXT    NOT NULL
);
CREATE INDEX jobs_succeeded_at ON jobs_succeeded (succeeded_at);

CREATE TABLE jobs_failed (
    id           TEXT    NOT NULL PRIMARY KEY,
    name         TEXT    NOT NULL,
    payload      TEXT,
    attempts     INTEGER NOT NULL,
    queue        TEXT,
    priority     INTEGER NOT NULL,
    created_at   TEXT    NOT NULL,
    available_at TEXT    NOT NULL,
    exception    TEXT    NOT NULL,  -- "Type: message"
    traceback    TEXT    NOT NULL,  -- at most 64 KiB
    failed_at    TEXT    NOT NULL
);
CREATE INDEX jobs_failed_at ON jobs_failed (failed_at);

CREATE TABLE jobs_workers (
    id           TEXT    NOT NULL PRIMARY KEY,
    hostname     TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   TEXT    NOT NULL,
    heartbeat_at TEXT    NOT NULL
);

CREATE TABLE jobs_schema (
    version INTEGER NOT NULL PRIMARY KEY
);
