-- bgjobs schema version 5 (SQLite): schedules added at runtime, and the history of
-- runs per schedule key.
-- One row per finished run (or skipped slot) of a scheduled job, written in the
-- transaction that records the run's outcome, so the history never disagrees
-- with jobs_succeeded / jobs_failed.

CREATE TABLE jobs_schedule_runs (
    id          TEXT NOT NULL PRIMARY KEY,  -- the run's job id; a fresh id for a skipped slot
    key         TEXT NOT NULL,              -- the ScheduledJob key
    slot        TEXT NOT NULL,              -- the fire time the run was for
    started_at  TEXT,                       -- when it was claimed; NULL when skipped
    finished_at TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'skipped')),
    error       TEXT,                       -- "Type: message" of a failure
    note        TEXT                        -- the misfire decision, if the slot was missed
);

-- A key's history newest first, without reading other keys' runs.
CREATE INDEX jobs_schedule_runs_key ON jobs_schedule_runs (key, finished_at DESC, id DESC);

-- Schedules added at runtime (adapter.schedules.add / bgjobs schedules add). Each
-- has its row in `jobs` like a schedule from code; this table says what to run
-- and whether it is paused. A removed schedule stays as a tombstone (removed = 1)
-- until the key is added again, so that a run still going when it was removed
-- inserts no next row.
CREATE TABLE jobs_schedules (
    key        TEXT    NOT NULL PRIMARY KEY,
    job_name   TEXT    NOT NULL,
    schedule   TEXT    NOT NULL,            -- canonical schedule text
    payload    TEXT,                        -- JSON text handed to every run
    misfire    TEXT    NOT NULL CHECK (misfire IN ('once', 'skip', 'all')),
    grace_ms   INTEGER NOT NULL CHECK (grace_ms >= 0),
    paused     INTEGER NOT NULL DEFAULT 0,
    removed    INTEGER NOT NULL DEFAULT 0,
    created_at TEXT    NOT NULL
);
