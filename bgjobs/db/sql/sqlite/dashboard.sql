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
-- failed since :day_ago, each count reading at most the :cap newest rows;
-- `oldest` (only when a count reached :cap) is the oldest row read, which says
-- how far back the count reached. The queue values come from a loose index
-- scan (one probe per value); each count is a range of the covering
-- (queue, time) index, walked backwards.
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
), succeeded_counts(queue, n) AS (
    SELECT q.queue, (
        SELECT count(*) FROM (
            SELECT 1 FROM jobs_succeeded AS s
            WHERE s.queue IS q.queue AND s.succeeded_at >= :hour_ago LIMIT :cap
        )
    )
    FROM (SELECT queue FROM succeeded_queues WHERE queue IS NOT NULL UNION ALL SELECT NULL) AS q
), failed_counts(queue, n) AS (
    SELECT q.queue, (
        SELECT count(*) FROM (
            SELECT 1 FROM jobs_failed AS f
            WHERE f.queue IS q.queue AND f.failed_at >= :day_ago LIMIT :cap
        )
    )
    FROM (SELECT queue FROM failed_queues WHERE queue IS NOT NULL UNION ALL SELECT NULL) AS q
)
SELECT 'succeeded' AS outcome, c.queue, c.n, CASE WHEN c.n >= :cap THEN (
    SELECT succeeded_at FROM jobs_succeeded AS s
    WHERE s.queue IS c.queue AND s.succeeded_at >= :hour_ago
    ORDER BY s.succeeded_at DESC LIMIT 1 OFFSET :cap - 1
) END AS oldest
FROM succeeded_counts AS c
UNION ALL
SELECT 'failed', c.queue, c.n, CASE WHEN c.n >= :cap THEN (
    SELECT failed_at FROM jobs_failed AS f
    WHERE f.queue IS c.queue AND f.failed_at >= :day_ago
    ORDER BY f.failed_at DESC LIMIT 1 OFFSET :cap - 1
) END
FROM failed_counts AS c

-- name: finished_per_minute
-- Jobs finished in each minute [start, end) of :minutes (a JSON array of
-- [start, end] pairs): at most the :cap newest rows of a minute are counted,
-- in the covering time index; `oldest` (only when a minute reached :cap) is
-- the oldest row counted (the summary estimates a busier minute from the
-- stretch those rows cover).
WITH minutes(start, stop) AS (
    SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:minutes)
), succeeded_counts(start, stop, n) AS (
    SELECT start, stop, (
        SELECT count(*) FROM (
            SELECT 1 FROM jobs_succeeded
            WHERE succeeded_at >= m.start AND succeeded_at < m.stop LIMIT :cap
        )
    )
    FROM minutes AS m
), failed_counts(start, stop, n) AS (
    SELECT start, stop, (
        SELECT count(*) FROM (
            SELECT 1 FROM jobs_failed WHERE failed_at >= m.start AND failed_at < m.stop LIMIT :cap
        )
    )
    FROM minutes AS m
)
SELECT 'succeeded' AS outcome, c.start, c.n, CASE WHEN c.n >= :cap THEN (
    SELECT succeeded_at FROM jobs_succeeded
    WHERE succeeded_at >= c.start AND succeeded_at < c.stop
    ORDER BY succeeded_at DESC LIMIT 1 OFFSET :cap - 1
) END AS oldest
FROM succeeded_counts AS c
UNION ALL
SELECT 'failed', c.start, c.n, CASE WHEN c.n >= :cap THEN (
    SELECT failed_at FROM jobs_failed
    WHERE failed_at >= c.start AND failed_at < c.stop
    ORDER BY failed_at DESC LIMIT 1 OFFSET :cap - 1
) END
FROM failed_counts AS c

-- name: scheduled_rows
-- Each schedule's row, whether it is paused, and whether it was added at runtime.
SELECT j.*, p.paused_at,
       EXISTS (SELECT 1 FROM jobs_schedules s WHERE s.key = j.scheduled_job AND NOT s.removed)
           AS added_at_runtime
FROM jobs j LEFT JOIN jobs_schedule_pauses p ON p.key = j.scheduled_job
WHERE j.scheduled_job IS NOT NULL ORDER BY j.scheduled_job
