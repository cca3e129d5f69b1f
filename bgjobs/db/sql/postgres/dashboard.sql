-- Read-only queries of the dashboard (bgjobs/dashboard/reader.py), PostgreSQL.

-- name: queue_counts
-- Live jobs per queue value. The jobs table holds only live jobs (finished ones
-- move out), so grouping it is proportional to the backlog, not to history.
SELECT queue,
       count(*) FILTER (WHERE reserved_by IS NULL AND scheduled_job IS NULL) AS waiting,
       count(*) FILTER (WHERE reserved_by IS NULL AND scheduled_job IS NULL
                        AND available_at <= %(now)s) AS due,
       count(*) FILTER (WHERE reserved_by IS NOT NULL) AS running,
       count(*) FILTER (WHERE scheduled_job IS NOT NULL) AS scheduled
FROM jobs GROUP BY queue

-- name: finished_by_queue
-- Per queue value of the finished tables: jobs succeeded since %(hour_ago)s and
-- failed since %(day_ago)s, each count stopping at %(cap)s rows. The queue
-- values come from a loose index scan (one probe per value); each count is a
-- range of the (queue, time) index. The row comparison is what makes it that
-- range: it bounds only an index that leads with queue, so the planner cannot
-- swap in the time index and filter the whole window by queue, once per queue.
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
SELECT 'succeeded' AS outcome, q.queue, counted.n
FROM succeeded_queues AS q CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM jobs_succeeded AS s
        WHERE (s.queue, s.succeeded_at) >= (q.queue, %(hour_ago)s) AND s.queue <= q.queue
        LIMIT %(cap)s
    ) AS bounded
) AS counted
WHERE q.queue IS NOT NULL
UNION ALL
-- No queue: the ORDER BY is the queue index's order, which the time index
-- could only give by sorting (the pinned plans refuse sorts).
SELECT 'succeeded', NULL, count(*) FROM (
    SELECT 1 FROM jobs_succeeded WHERE queue IS NULL AND succeeded_at >= %(hour_ago)s
    ORDER BY queue DESC, succeeded_at DESC LIMIT %(cap)s
) AS bounded
UNION ALL
SELECT 'failed', q.queue, counted.n
FROM failed_queues AS q CROSS JOIN LATERAL (
    SELECT count(*) AS n FROM (
        SELECT 1 FROM jobs_failed AS f
        WHERE (f.queue, f.failed_at) >= (q.queue, %(day_ago)s) AND f.queue <= q.queue
        LIMIT %(cap)s
    ) AS bounded
) AS counted
WHERE q.queue IS NOT NULL
UNION ALL
SELECT 'failed', NULL, count(*) FROM (
    SELECT 1 FROM jobs_failed WHERE queue IS NULL AND failed_at >= %(day_ago)s
    ORDER BY queue DESC, failed_at DESC LIMIT %(cap)s
) AS bounded

-- name: finished_per_minute
-- Jobs finished per UTC minute since %(since)s: the newest %(cap)s rows of each
-- table at most, walked backwards along its time index.
SELECT outcome, to_char(minute, 'YYYY-MM-DD HH24:MI') AS minute, n FROM (
    SELECT 'succeeded' AS outcome,
           date_trunc('minute', succeeded_at AT TIME ZONE 'UTC') AS minute, count(*) AS n
    FROM (SELECT succeeded_at FROM jobs_succeeded WHERE succeeded_at >= %(since)s
          ORDER BY succeeded_at DESC LIMIT %(cap)s) AS newest
    GROUP BY 2
    UNION ALL
    SELECT 'failed', date_trunc('minute', failed_at AT TIME ZONE 'UTC'), count(*)
    FROM (SELECT failed_at FROM jobs_failed WHERE failed_at >= %(since)s
          ORDER BY failed_at DESC LIMIT %(cap)s) AS newest
    GROUP BY 2
) AS per_minute

-- name: scheduled_rows
SELECT * FROM jobs WHERE scheduled_job IS NOT NULL ORDER BY scheduled_job
