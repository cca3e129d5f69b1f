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

-- name: finished_by_queue
-- Per queue value of the finished tables: jobs succeeded since :hour_ago and
-- failed since :day_ago, each count stopping at :cap rows. The queue values
-- come from a loose index scan (one probe per value); each count is a range of
-- the covering (queue, time) index.
WITH RECURSIVE succeeded_queues(queue) AS (
    SELECT min(queue) FROM jobs_succeeded
    UNION ALL
    SELECT (SELECT min(queue) FROM jobs_succeeded WHERE queue > q.queue)
    FROM succeeded_queues AS q WHERE q.queue IS NOT NULL
), failed_queues(queue) AS (
    SELECT min(queue) FROM jobs_failed
    UNION ALL
    SELECT (SELECT min(queue) FROM jobs_failed WHERE queue > q.queue)
    FROM failed_queues AS q WHERE q.queue IS NOT NULL
)
SELECT 'succeeded' AS outcome, q.queue, (
    SELECT count(*) FROM (
        SELECT 1 FROM jobs_succeeded AS s
        WHERE s.queue = q.queue AND s.succeeded_at >= :hour_ago LIMIT :cap
    )
) AS n
FROM succeeded_queues AS q WHERE q.queue IS NOT NULL
UNION ALL
SELECT 'succeeded', NULL, count(*) FROM (
    SELECT 1 FROM jobs_succeeded WHERE queue IS NULL AND succeeded_at >= :hour_ago LIMIT :cap
)
UNION ALL
SELECT 'failed', q.queue, (
    SELECT count(*) FROM (
        SELECT 1 FROM jobs_failed AS f
        WHERE f.queue = q.queue AND f.failed_at >= :day_ago LIMIT :cap
    )
)
FROM failed_queues AS q WHERE q.queue IS NOT NULL
UNION ALL
SELECT 'failed', NULL, count(*) FROM (
    SELECT 1 FROM jobs_failed WHERE queue IS NULL AND failed_at >= :day_ago LIMIT :cap
)

-- name: finished_per_minute
-- Jobs finished per UTC minute since :since: the newest :cap rows of each table
-- at most, walked backwards along its covering time index.
SELECT 'succeeded' AS outcome, substr(succeeded_at, 1, 16) AS minute, count(*) AS n FROM (
    SELECT succeeded_at FROM jobs_succeeded WHERE succeeded_at >= :since
    ORDER BY succeeded_at DESC LIMIT :cap
) GROUP BY 2
UNION ALL
SELECT 'failed', substr(failed_at, 1, 16), count(*) FROM (
    SELECT failed_at FROM jobs_failed WHERE failed_at >= :since
    ORDER BY failed_at DESC LIMIT :cap
) GROUP BY 2

-- name: scheduled_rows
SELECT * FROM jobs WHERE scheduled_job IS NOT NULL ORDER BY scheduled_job
