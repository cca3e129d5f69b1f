-- bgjobs schema version 1 (PostgreSQL).
-- Identifier-like text columns use COLLATE "C": byte order, the same order
-- SQLite uses for the claim's last tie-breaker (id), and cheaper comparisons.

CREATE TABLE jobs (
    id            text COLLATE "C" NOT NULL PRIMARY KEY,  -- UUIDv7 made by the client
    name          text COLLATE "C" NOT NULL,
    payload       text,                      -- JSON text as enqueued; NULL for scheduled rows
    attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at    timestamptz NOT NULL,
    available_at  timestamptz NOT NULL,
    reserved_at   timestamptz,
    reserved_by   text COLLATE "C",          -- jobs_workers.id of the claiming process
    queue         text COLLATE "C",
    priority      integer NOT NULL DEFAULT 0,
    scheduled_job text COLLATE "C",          -- the ScheduledJob key, unique below
    schedule      text,                      -- its canonical schedule text
    unique_key    text COLLATE "C",          -- unique below
    last_error    text,
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

-- Unreserved plain jobs by time: "when is the next one?", and the plan the
-- claim takes when few jobs are due among many waiting for later.
CREATE INDEX jobs_due ON jobs (available_at)
    WHERE reserved_by IS NULL AND scheduled_job IS NULL;

-- Reservations by owner: rescue of dead processes, release at shutdown.
CREATE INDEX jobs_reserved_by ON jobs (reserved_by) WHERE reserved_by IS NOT NULL;

-- A queue table churns: vacuum and analyze it sooner than the defaults would.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);

CREATE TABLE jobs_succeeded (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    name         text COLLATE "C" NOT NULL,
    payload      text,
    attempts     integer NOT NULL,
    queue        text COLLATE "C",
    priority     integer NOT NULL,
    created_at   timestamptz NOT NULL,
    available_at timestamptz NOT NULL,
    succeeded_at timestamptz NOT NULL
);
CREATE INDEX jobs_succeeded_at ON jobs_succeeded (succeeded_at);

CREATE TABLE jobs_failed (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    name         text COLLATE "C" NOT NULL,
    payload      text,
    attempts     integer NOT NULL,
    queue        text COLLATE "C",
    priority     integer NOT NULL,
    created_at   timestamptz NOT NULL,
    available_at timestamptz NOT NULL,
    exception    text NOT NULL,  -- "Type: message"
    traceback    text NOT NULL,  -- at most 64 KiB
    failed_at    timestamptz NOT NULL
);
CREATE INDEX jobs_failed_at ON jobs_failed (failed_at);

CREATE TABLE jobs_workers (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    hostname     text NOT NULL,
    pid          bigint NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);

CREATE TABLE jobs_schema (
    version integer NOT NULL PRIMARY KEY
);
