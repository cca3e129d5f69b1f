-- bgjobs schema version 7 (SQLite): pausing any schedule, from code or added at runtime.
-- See the PostgreSQL file for why the pause lives in its own table.

CREATE TABLE jobs_schedule_pauses (
    key       TEXT NOT NULL PRIMARY KEY,  -- the schedule's key (ScheduledJob or runtime)
    paused_at TEXT NOT NULL
);

-- Runtime schedules paused before this version keep their pause (when they were
-- paused was not recorded: their creation time stands in).
INSERT INTO jobs_schedule_pauses (key, paused_at)
SELECT key, created_at FROM jobs_schedules WHERE paused AND NOT removed;

-- jobs_schedules.paused stays, no longer read or written by this version: processes
-- of the previous version read it in their claim, and a rolling deploy runs both
-- versions against this schema for a while. A later version may drop it.
