-- Read-only queries of the dashboard (bgjobs/dashboard/reader.py), SQLite.
-- Times are bound as bgjobs' UTC text, so text comparisons compare times.

-- name: queue_counts
-- Live jobs per queue value. The jobs table holds only live jobs (finished ones
-- move out), so grouping it is proportional to the backlog, not to history.
SELECT queue,
       sum(reserved_by IS NULL AND scheduled_job IS NULL) AS waiting,
       sum(reserved_by IS NULL AND scheduled_job IS NULL AND available_at <= :now) AS due,
       sum(reserved_by IS NOT NULL) AS running,
       sum(scheduled_job IS NOT NULL) AS scheduled
FROM jobs GROUP BY queue

-- name: succeeded_queues
-- The distinct queue values of a finished table by a loose index scan: one
-- index probe per queue value instead of a pass over every row.
WITH RECURSIVE q(queue) AS (
    SELECT min(queue) FROM jobs_succeeded
    UNION ALL
    SELECT (SELECT min(queue) FROM jobs_succeeded WHERE queue > q.queue)
    FROM q WHERE q.queue IS NOT NULL
)
SELECT queue FROM q WHERE queue IS NOT NULL

-- name: failed_queues
WITH RECURSIVE q(queue) AS (
    SELECT min(queue) FROM jobs_failed
    UNION ALL
    SELECT (SELECT min(queue) FROM jobs_failed WHERE queue > q.queue)
    FROM q WHERE q.queue IS NOT NULL
)
SELECT queue FROM q WHERE queue IS NOT NULL

-- name: count_succeeded_since_in_queue
-- Bounded: at most :cap index entries are read, however busy the queue is.
SELECT count(*) AS n FROM (
    SELECT 1 FROM jobs_succeeded WHERE queue = :queue AND succeeded_at >= :since LIMIT :cap
)

-- name: count_succeeded_since_no_queue
SELECT count(*) AS n FROM (
    SELECT 1 FROM jobs_succeeded WHERE queue IS NULL AND succeeded_at >= :since LIMIT :cap
)

-- name: count_failed_since_in_queue
SELECT count(*) AS n FROM (
    SELECT 1 FROM jobs_failed WHERE queue = :queue AND failed_at >= :since LIMIT :cap
)

-- name: count_failed_since_no_queue
SELECT count(*) AS n FROM (
    SELECT 1 FROM jobs_failed WHERE queue IS NULL AND failed_at >= :since LIMIT :cap
)

-- name: succeeded_per_minute
-- An index-only range of jobs_succeeded_at: the rows of the last hour only.
SELECT substr(succeeded_at, 1, 16) AS minute, count(*) AS n
FROM jobs_succeeded WHERE succeeded_at >= :since GROUP BY 1

-- name: failed_per_minute
SELECT substr(failed_at, 1, 16) AS minute, count(*) AS n
FROM jobs_failed WHERE failed_at >= :since GROUP BY 1

-- name: scheduled_rows
-- Each schedule's row, whether it is paused, and whether it was added at runtime.
SELECT j.*, p.paused_at,
       EXISTS (SELECT 1 FROM jobs_schedules s WHERE s.key = j.scheduled_job AND NOT s.removed)
           AS added_at_runtime
FROM jobs j LEFT JOIN jobs_schedule_pauses p ON p.key = j.scheduled_job
WHERE j.scheduled_job IS NOT NULL ORDER BY j.scheduled_job
