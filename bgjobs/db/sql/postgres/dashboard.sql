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
-- failed since %(day_ago)s, each count reading at most the %(cap)s newest rows;
-- `oldest` is the oldest row read, which says how far back a capped count reached.
-- The queue values come from a loose index scan (one probe per value); each
-- count walks its queue's range of the (queue, time, id) index backwards and
-- stops at the window's start. The ORDER BY names that index's order: run with
-- sorts and incremental sorts refused (PostgresReader.pinned), the planner
-- cannot swap in the time index, filter the whole window by queue and sort.
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
SELECT 'succeeded' AS outcome, q.queue, counted.n, counted.oldest
FROM succeeded_queues AS q CROSS JOIN LATERAL (
    SELECT count(*) AS n, min(at) AS oldest FROM (
        SELECT s.succeeded_at AS at FROM jobs_succeeded AS s
        WHERE s.queue = q.queue AND s.succeeded_at >= %(hour_ago)s
        ORDER BY s.queue DESC, s.succeeded_at DESC, s.id DESC LIMIT %(cap)s
    ) AS newest
) AS counted
WHERE q.queue IS NOT NULL
UNION ALL
-- No queue: the same walk, in the part of the index where queue is NULL.
SELECT 'succeeded', NULL, count(*), min(at) FROM (
    SELECT succeeded_at AS at FROM jobs_succeeded
    WHERE queue IS NULL AND succeeded_at >= %(hour_ago)s
    ORDER BY queue DESC, succeeded_at DESC LIMIT %(cap)s
) AS newest
UNION ALL
SELECT 'failed', q.queue, counted.n, counted.oldest
FROM failed_queues AS q CROSS JOIN LATERAL (
    SELECT count(*) AS n, min(at) AS oldest FROM (
        SELECT f.failed_at AS at FROM jobs_failed AS f
        WHERE f.queue = q.queue AND f.failed_at >= %(day_ago)s
        ORDER BY f.queue DESC, f.failed_at DESC, f.id DESC LIMIT %(cap)s
    ) AS newest
) AS counted
WHERE q.queue IS NOT NULL
UNION ALL
SELECT 'failed', NULL, count(*), min(at) FROM (
    SELECT failed_at AS at FROM jobs_failed
    WHERE queue IS NULL AND failed_at >= %(day_ago)s
    ORDER BY queue DESC, failed_at DESC LIMIT %(cap)s
) AS newest

-- name: finished_per_minute
-- Jobs finished in each minute [start, end) of %(starts)s / %(ends)s: at most the
-- %(cap)s newest rows of a minute are read, walking the time index backwards
-- from the minute's end; `oldest` is the oldest row read (the summary
-- estimates a busier minute from the stretch those rows cover).
WITH minutes(start, stop) AS (
    SELECT * FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[])
)
SELECT 'succeeded' AS outcome, m.start, counted.n, counted.oldest
FROM minutes AS m CROSS JOIN LATERAL (
    SELECT count(*) AS n, min(at) AS oldest FROM (
        SELECT succeeded_at AS at FROM jobs_succeeded
        WHERE succeeded_at >= m.start AND succeeded_at < m.stop
        ORDER BY succeeded_at DESC LIMIT %(cap)s
    ) AS newest
) AS counted
UNION ALL
SELECT 'failed', m.start, counted.n, counted.oldest
FROM minutes AS m CROSS JOIN LATERAL (
    SELECT count(*) AS n, min(at) AS oldest FROM (
        SELECT failed_at AS at FROM jobs_failed
        WHERE failed_at >= m.start AND failed_at < m.stop
        ORDER BY failed_at DESC LIMIT %(cap)s
    ) AS newest
) AS counted

-- name: scheduled_rows
-- Each schedule's row, whether it is paused, and whether it was added at runtime.
SELECT j.*, p.paused_at,
       EXISTS (SELECT 1 FROM jobs_schedules s WHERE s.key = j.scheduled_job AND NOT s.removed)
           AS added_at_runtime
FROM jobs j LEFT JOIN jobs_schedule_pauses p ON p.key = j.scheduled_job
WHERE j.scheduled_job IS NOT NULL ORDER BY j.scheduled_job
