-- Indexes for the dashboard and its filters on the finished tables, which can
-- hold millions of rows: a job list filtered by name or queue walks one of
-- these newest-first and stops at its page size; "failed in the last 24 h" per
-- queue is a range of the queue index, and the queue list is a loose scan of it.
CREATE INDEX jobs_succeeded_name_time ON jobs_succeeded (name, succeeded_at, id);
CREATE INDEX jobs_succeeded_queue_time ON jobs_succeeded (queue, succeeded_at, id);
CREATE INDEX jobs_failed_name_time ON jobs_failed (name, failed_at, id);
CREATE INDEX jobs_failed_queue_time ON jobs_failed (queue, failed_at, id);
