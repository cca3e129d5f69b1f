-- bgjobs schema version 2 (PostgreSQL): what running a job needs beyond version 1.
-- Every column has a constant default: adding it rewrites no rows and holds
-- the table lock only for a moment, and rows of version 1 stay valid.

-- A per-job timeout in seconds (JobRequest.with_timeout); NULL: the queue's.
ALTER TABLE jobs ADD COLUMN timeout_seconds double precision;

-- Set by cancel() on a running job; the process running it notices and stops it.
ALTER TABLE jobs ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false;

-- A handler's return value as JSON text; NULL when it returned None.
ALTER TABLE jobs_succeeded ADD COLUMN result text;

-- Handler threads this process gave up on after a timeout (refreshed by its heartbeat).
ALTER TABLE jobs_workers ADD COLUMN abandoned_threads integer NOT NULL DEFAULT 0;
