-- What each process handles, written when it registers: the names of its
-- queues and the job names those queues run (not its scheduled jobs), each a
-- JSON array as text. NULL in rows written by a bgjobs older than this version:
-- such a process may handle anything. Read to find waiting jobs that no
-- running process handles (a misspelt name in the code that enqueues).
ALTER TABLE jobs_workers ADD COLUMN queues TEXT;
ALTER TABLE jobs_workers ADD COLUMN job_names TEXT;
