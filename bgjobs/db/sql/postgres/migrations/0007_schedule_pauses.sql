-- bgjobs schema version 7 (PostgreSQL): pausing any schedule, from code or added at runtime.
-- A schedule from code has no row in jobs_schedules (build() keeps only its row in
-- `jobs`, which every run replaces), so a pause is a row of its own here, keyed by
-- the schedule key: build() and each run's next row never touch it, so a pause
-- lasts across restarts and deploys until resume. One table for both kinds keeps a
-- single place the claim checks; the pauses in jobs_schedules.paused move here.

CREATE TABLE jobs_schedule_pauses (
    key       text        NOT NULL PRIMARY KEY,  -- the schedule's key (ScheduledJob or runtime)
    paused_at timestamptz NOT NULL
);

-- Runtime schedules paused before this version keep their pause (when they were
-- paused was not recorded: their creation time stands in).
INSERT INTO jobs_schedule_pauses (key, paused_at)
SELECT key, created_at FROM jobs_schedules WHERE paused AND NOT removed;

-- jobs_schedules.paused stays, no longer read or written by this version: processes
-- of the previous version read it in their claim, and a rolling deploy runs both
-- versions against this schema for a while. A later version may drop it.
