-- Each process's heartbeat settings, written when it registers: how often it
-- beats and its lease, in milliseconds. NULL in rows written by a bgjobs older
-- than this version. Read to tell a process that is merely between beats from
-- one that missed them (the dashboard marks it late) or whose lease ran out.
ALTER TABLE jobs_workers ADD COLUMN heartbeat_ms bigint;
ALTER TABLE jobs_workers ADD COLUMN lease_ms bigint;
