-- bgjobs schema version 3 (PostgreSQL): the history of runs per schedule key.
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
