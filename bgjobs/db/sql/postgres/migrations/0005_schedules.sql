-- bgjobs schema version 5 (PostgreSQL): schedules added at runtime, and the history of
-- runs per schedule key.
-- One row per finished run (or skipped slot) of a scheduled job, written in the
-- transaction that records the run's outcome, so the history never disagrees
-- with jobs_succeeded / jobs_failed.

CREATE TABLE jobs_schedule_runs (
    id          text NOT NULL PRIMARY KEY,  -- the run's job id; a fresh id for a skipped slot
    key         text NOT NULL,              -- the ScheduledJob key
    slot        timestamptz NOT NULL,       -- the fire time the run was for
    started_at  timestamptz,                -- when it was claimed; NULL when skipped
    finished_at timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'skipped')),
    error       text,                       -- "Type: message" of a failure
    note        text                        -- the misfire decision, if the slot was missed
);

-- A key's history newest first, without reading other keys' runs.
CREATE INDEX jobs_schedule_runs_key ON jobs_schedule_runs (key, finished_at DESC, id DESC);

-- Schedules added at runtime (adapter.schedules.add / bgjobs schedules add). Each
-- has its row in `jobs` like a schedule from code; this table says what to run
-- and whether it is paused. A removed schedule stays as a tombstone (removed)
-- until the key is added again, so that a run still going when it was removed
-- inserts no next row.
CREATE TABLE jobs_schedules (
    key        text        NOT NULL PRIMARY KEY,
    job_name   text        NOT NULL,
    schedule   text        NOT NULL,        -- canonical schedule text
    payload    text,                        -- JSON text handed to every run
    misfire    text        NOT NULL CHECK (misfire IN ('once', 'skip', 'all')),
    grace_ms   bigint      NOT NULL CHECK (grace_ms >= 0),
    paused     boolean     NOT NULL DEFAULT false,
    removed    boolean     NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL
);
