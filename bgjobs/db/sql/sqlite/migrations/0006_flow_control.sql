-- bgjobs schema version 6 (SQLite): queue pause, global concurrency and rate
-- limits, unique keys kept on succeeded jobs. See the PostgreSQL file for the
-- meaning of each table; on SQLite every claim runs under BEGIN IMMEDIATE,
-- which serialises writers, so counting inside the claim transaction is exact.

CREATE TABLE jobs_queues (
    name       TEXT NOT NULL PRIMARY KEY,
    paused_at  TEXT,
    updated_at TEXT NOT NULL
);

CREATE TABLE jobs_queue_starts (
    queue       TEXT    NOT NULL,
    reserved_at TEXT    NOT NULL,
    total       INTEGER NOT NULL,
    PRIMARY KEY (queue, reserved_at, total)
);

ALTER TABLE jobs_succeeded ADD COLUMN unique_key TEXT;
CREATE INDEX jobs_succeeded_unique_key ON jobs_succeeded (unique_key, succeeded_at)
    WHERE unique_key IS NOT NULL;
