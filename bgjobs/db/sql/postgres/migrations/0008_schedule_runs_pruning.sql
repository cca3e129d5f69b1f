-- bgjobs schema version 8 (PostgreSQL): the history of schedules is pruned like the
-- finished tables, with the succeeded retention for runs that succeeded and slots
-- that were skipped, and the failed one for failed runs. Each of the two partial
-- indexes gives its prune the oldest entries first, and a prune with nothing old
-- enough to delete reads one index entry, not the history of every key.
CREATE INDEX jobs_schedule_runs_kept_time ON jobs_schedule_runs (finished_at)
WHERE outcome <> 'failed';
CREATE INDEX jobs_schedule_runs_failed_time ON jobs_schedule_runs (finished_at)
WHERE outcome = 'failed';
