-- bgjobs schema version 2 (SQLite): what running a job needs beyond version 1.
-- Every column has a default, so rows written by version 1 stay valid as they are.

-- A per-job timeout in seconds (JobRequest.with_timeout); NULL: the queue's.
ALTER TABLE jobs ADD COLUMN timeout_seconds REAL;

-- Set by cancel() on a running job; the process running it notices and stops it.
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- A handler's return value as JSON text; NULL when it returned None.
ALTER TABLE jobs_succeeded ADD COLUMN result TEXT;

-- Handler threads this process gave up on after a timeout (refreshed by its heartbeat).
ALTER TABLE jobs_workers ADD COLUMN abandoned_threads INTEGER NOT NULL DEFAULT 0;
