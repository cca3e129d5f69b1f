-- Named queries for PostgreSQL (psycopg %(name)s placeholders). Every name and
-- value is a bound parameter; batches arrive as arrays read with unnest, so a
-- whole batch is one statement. %(now)s always comes from the runtime's clock,
-- never from now(). Data-modifying CTEs do not see each other's changes, so
-- the "already applied" checks below read the table as it was before the
-- statement: exactly "was this outcome applied by an earlier attempt?".

-- name: insert_jobs
-- The batch is one JSON array parameter: far cheaper for the client to
-- encode than arrays, and unpacked by the server in one pass. The NOTIFY
-- rides in the same statement, so jobs and announcement commit together in
-- one round trip. Returns the inserted ids (and one NULL row if notified).
WITH inserted AS (
    INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, queue, priority, unique_key,
                      timeout_seconds)
    SELECT n.id, n.name, n.payload, 0, %(now)s, n.available_at, n.queue, n.priority, n.unique_key,
           n.timeout_seconds
    FROM ROWS FROM (
             json_to_recordset(%(rows)s::json) AS (id text, name text, payload text,
                 available_at timestamptz, queue text, priority integer, unique_key text,
                 timeout_seconds double precision)
         ) WITH ORDINALITY AS n(id, name, payload, available_at, queue, priority, unique_key,
                                timeout_seconds, position)
    ORDER BY n.position
    ON CONFLICT DO NOTHING
    RETURNING id
), notified AS (
    SELECT pg_notify(%(channel)s, %(payload)s) WHERE %(notify)s
)
SELECT id FROM inserted
UNION ALL
SELECT NULL FROM notified

-- name: insert_jobs_again
-- A retry after a lost connection: the first attempt may have committed, and
-- its jobs may even have run and finished since. Never insert those again.
WITH inserted AS (
    INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, queue, priority, unique_key,
                      timeout_seconds)
    SELECT n.id, n.name, n.payload, 0, %(now)s, n.available_at, n.queue, n.priority, n.unique_key,
           n.timeout_seconds
    FROM ROWS FROM (
             json_to_recordset(%(rows)s::json) AS (id text, name text, payload text,
                 available_at timestamptz, queue text, priority integer, unique_key text,
                 timeout_seconds double precision)
         ) WITH ORDINALITY AS n(id, name, payload, available_at, queue, priority, unique_key,
                                timeout_seconds, position)
    WHERE NOT EXISTS (SELECT 1 FROM jobs_succeeded s WHERE s.id = n.id)
      AND NOT EXISTS (SELECT 1 FROM jobs_failed f WHERE f.id = n.id)
    ORDER BY n.position
    ON CONFLICT DO NOTHING
    RETURNING id
), notified AS (
    SELECT pg_notify(%(channel)s, %(payload)s) WHERE %(notify)s
)
SELECT id FROM inserted
UNION ALL
SELECT NULL FROM notified

-- name: copy_jobs
-- Fresh ids, no unique keys: nothing to conflict with, so the fastest way in.
COPY jobs (id, name, payload, created_at, available_at, queue, priority, timeout_seconds) FROM STDIN

-- name: jobs_by_id_or_unique_key
SELECT * FROM jobs WHERE id = ANY(%(ids)s::text[]) OR unique_key = ANY(%(keys)s::text[])

-- name: recently_succeeded_by_key
-- The latest success of each unique key within its own period (unique-for-a-period).
SELECT DISTINCT ON (s.unique_key) s.*
FROM unnest(%(keys)s::text[], %(since)s::timestamptz[]) AS k(unique_key, since)
JOIN jobs_succeeded s ON s.unique_key = k.unique_key AND s.succeeded_at >= k.since
ORDER BY s.unique_key, s.succeeded_at DESC

-- name: delete_unclaimed_jobs
DELETE FROM jobs WHERE id = ANY(%(ids)s::text[]) AND reserved_by IS NULL

-- name: finished_ids
SELECT id FROM jobs_succeeded WHERE id = ANY(%(ids)s::text[])
UNION ALL
SELECT id FROM jobs_failed WHERE id = ANY(%(ids)s::text[])

-- name: notify
SELECT pg_notify(%(channel)s, %(payload)s)

-- name: claim_jobs
WITH picked AS (
    SELECT id FROM jobs
    WHERE reserved_by IS NULL AND scheduled_job IS NULL AND available_at <= %(now)s
      AND name = ANY(%(names)s::text[])
      AND (queue IS NULL OR queue = %(queue)s)
      AND NOT EXISTS (SELECT 1 FROM jobs_queues WHERE name = %(queue)s AND paused_at IS NOT NULL)
    ORDER BY priority DESC, available_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs j SET reserved_at = %(now)s, reserved_by = %(owner)s, attempts = j.attempts + 1
FROM picked WHERE j.id = picked.id
RETURNING j.*

-- name: claim_limited_jobs
-- The claim of a queue with a global concurrency or rate limit: see the
-- function in migration 0006 for why it is a function.
SELECT * FROM jobs_claim_limited(%(names)s::text[], %(queue)s, %(limit)s, %(owner)s, %(now)s,
                                 %(concurrency)s, %(rate)s, %(per)s::interval, %(look_first)s)

-- name: claim_scheduled_job
UPDATE jobs SET reserved_at = %(now)s, reserved_by = %(owner)s, attempts = attempts + 1
WHERE scheduled_job = %(key)s AND reserved_by IS NULL AND available_at <= %(now)s
  -- a paused schedule (from code or added at runtime) is never claimed, so pausing
  -- takes effect at once
  AND NOT EXISTS (SELECT 1 FROM jobs_schedule_pauses p WHERE p.key = %(key)s)
RETURNING *

-- name: still_claimed
-- After a lost connection during COMMIT: which of the rows this claim read are
-- really ours (same owner, attempt and claim time)?
SELECT j.* FROM jobs j
JOIN unnest(%(ids)s::text[], %(attempts)s::int[]) AS c(id, attempts)
  ON j.id = c.id AND j.attempts = c.attempts
WHERE j.reserved_by = %(owner)s AND j.reserved_at = %(now)s

-- name: succeed_jobs
WITH lease AS (
    SELECT * FROM unnest(%(ids)s::text[], %(owners)s::text[], %(attempts)s::int[],
                         %(results)s::text[])
        AS l(id, owner, attempts, result)
), moved AS (
    DELETE FROM jobs j USING lease l
    WHERE j.id = l.id AND j.reserved_by = l.owner AND j.attempts = l.attempts
    RETURNING j.id, j.name, j.payload, j.attempts, j.queue, j.priority, j.created_at,
              j.available_at, l.result, j.unique_key
), inserted AS (
    INSERT INTO jobs_succeeded
        (id, name, payload, attempts, queue, priority, created_at, available_at, succeeded_at,
         result, unique_key)
    SELECT id, name, payload, attempts, queue, priority, created_at, available_at, %(now)s, result,
           unique_key
    FROM moved
    RETURNING id
)
SELECT l.id,
       l.id IN (SELECT id FROM inserted) AS applied,
       EXISTS (SELECT 1 FROM jobs_succeeded s WHERE s.id = l.id AND s.attempts = l.attempts)
           AS already
FROM lease l

-- name: fail_jobs
WITH lease AS (
    SELECT * FROM unnest(%(ids)s::text[], %(owners)s::text[], %(attempts)s::int[],
                         %(exceptions)s::text[], %(tracebacks)s::text[])
        AS l(id, owner, attempts, exception, traceback)
), moved AS (
    DELETE FROM jobs j USING lease l
    WHERE j.id = l.id AND j.reserved_by = l.owner AND j.attempts = l.attempts
    RETURNING j.id, j.name, j.payload, j.attempts, j.queue, j.priority, j.created_at,
              j.available_at, l.exception, l.traceback
), inserted AS (
    INSERT INTO jobs_failed
        (id, name, payload, attempts, queue, priority, created_at, available_at,
         exception, traceback, failed_at)
    SELECT id, name, payload, attempts, queue, priority, created_at, available_at,
           exception, traceback, %(now)s
    FROM moved
    RETURNING id
)
SELECT l.id,
       l.id IN (SELECT id FROM inserted) AS applied,
       EXISTS (SELECT 1 FROM jobs_failed f WHERE f.id = l.id AND f.attempts = l.attempts)
           AS already
FROM lease l

-- name: retry_jobs
WITH lease AS (
    SELECT * FROM unnest(%(ids)s::text[], %(owners)s::text[], %(attempts)s::int[],
                         %(available_ats)s::timestamptz[], %(errors)s::text[])
        AS l(id, owner, attempts, available_at, last_error)
), updated AS (
    UPDATE jobs j SET reserved_at = NULL, reserved_by = NULL,
                      available_at = l.available_at, last_error = l.last_error
    FROM lease l
    WHERE j.id = l.id AND j.reserved_by = l.owner AND j.attempts = l.attempts
    RETURNING j.id
)
SELECT l.id,
       l.id IN (SELECT id FROM updated) AS applied,
       EXISTS (SELECT 1 FROM jobs j
               WHERE j.id = l.id AND j.reserved_by IS NULL AND j.attempts = l.attempts
                 AND j.available_at = l.available_at
                 AND j.last_error IS NOT DISTINCT FROM l.last_error) AS already
FROM lease l

-- name: release_jobs
-- available_at is set for a snoozed job, NULL for one that never started.
WITH lease AS (
    SELECT * FROM unnest(%(ids)s::text[], %(owners)s::text[], %(attempts)s::int[],
                         %(available_ats)s::timestamptz[])
        AS l(id, owner, attempts, available_at)
), updated AS (
    UPDATE jobs j SET reserved_at = NULL, reserved_by = NULL, attempts = j.attempts - 1,
                      available_at = coalesce(l.available_at, j.available_at)
    FROM lease l
    WHERE j.id = l.id AND j.reserved_by = l.owner AND j.attempts = l.attempts
    RETURNING j.id
)
SELECT l.id,
       l.id IN (SELECT id FROM updated) AS applied,
       EXISTS (SELECT 1 FROM jobs j
               WHERE j.id = l.id AND j.reserved_by IS NULL AND j.attempts = l.attempts - 1)
           AS already
FROM lease l

-- name: insert_scheduled_jobs
INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, priority, scheduled_job, schedule)
SELECT n.id, n.name, n.payload, 0, %(now)s, n.available_at, 0, n.key, n.schedule
FROM unnest(%(ids)s::text[], %(keys)s::text[], %(names)s::text[], %(payloads)s::text[],
            %(schedules)s::text[], %(available_ats)s::timestamptz[])
     AS n(id, key, name, payload, schedule, available_at)
-- Not for a key whose runtime schedule was removed while its run was going (a lookup
-- by key per row: the planner cannot turn a scalar subquery into a hash join).
WHERE NOT coalesce((SELECT s.removed FROM jobs_schedules s WHERE s.key = n.key), false)
ON CONFLICT DO NOTHING
RETURNING id

-- name: get_scheduled_job
SELECT * FROM jobs WHERE scheduled_job = %(key)s

-- name: replace_scheduled_job
UPDATE jobs SET schedule = %(schedule)s, available_at = %(available_at)s,
                name = %(name)s, payload = %(payload)s
WHERE scheduled_job = %(key)s AND reserved_by IS NULL

-- name: next_available_at
SELECT available_at FROM jobs
WHERE reserved_by IS NULL AND scheduled_job IS NULL
  AND name = ANY(%(names)s::text[])
  AND (queue IS NULL OR queue = %(queue)s)
  AND NOT EXISTS (SELECT 1 FROM jobs_queues WHERE name = %(queue)s AND paused_at IS NOT NULL)
ORDER BY available_at
LIMIT 1

-- name: register_worker
INSERT INTO jobs_workers (id, hostname, pid, started_at, heartbeat_at, queues, job_names,
                          heartbeat_ms, lease_ms)
VALUES (%(id)s, %(hostname)s, %(pid)s, %(now)s, %(now)s, %(queues)s, %(job_names)s,
        %(heartbeat_ms)s, %(lease_ms)s)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at

-- name: heartbeat_worker
UPDATE jobs_workers SET heartbeat_at = %(now)s,
                        abandoned_threads = coalesce(%(abandoned_threads)s::int, abandoned_threads)
WHERE id = %(id)s

-- name: remove_worker
DELETE FROM jobs_workers WHERE id = %(id)s

-- name: list_workers
SELECT * FROM jobs_workers ORDER BY started_at, id

-- name: rescue_jobs
-- Reservations whose owner's heartbeat is older than the lease, or whose owner
-- row is gone and which are older than the lease themselves (a process that
-- registered after this statement's snapshot is not mistaken for a dead one).
-- Attempts are kept; the job is available at once. last_error says it was rescued:
-- the runtime runs such a job's last allowed attempt alone (see runtime/outcomes.py).
UPDATE jobs SET reserved_at = NULL, reserved_by = NULL,
                available_at = LEAST(available_at, %(now)s),
                last_error = 'WorkerLost: worker process ' || reserved_by
                             || ' stopped heartbeating while holding the job'
WHERE reserved_by IS NOT NULL
  AND (reserved_by IN (SELECT id FROM jobs_workers WHERE heartbeat_at < %(cutoff)s)
       OR (reserved_at < %(cutoff)s AND reserved_by NOT IN (SELECT id FROM jobs_workers)))
RETURNING *

-- name: release_untracked_jobs
-- A live process gives back its own reservations that none of its threads
-- holds (a claim whose answer was lost); claimed before %(before)s, so a claim
-- whose answer is still being read is left alone. The attempt is given back.
UPDATE jobs SET reserved_at = NULL, reserved_by = NULL, attempts = attempts - 1
WHERE reserved_by = %(owner)s AND reserved_at < %(before)s
  AND NOT (id = ANY(%(keep)s::text[]))
RETURNING *

-- name: delete_dead_workers
DELETE FROM jobs_workers WHERE heartbeat_at < %(cutoff)s

-- name: prune_succeeded
DELETE FROM jobs_succeeded WHERE id IN (
    SELECT id FROM jobs_succeeded WHERE succeeded_at < %(older_than)s
    ORDER BY succeeded_at LIMIT %(batch_size)s
)

-- name: prune_failed
DELETE FROM jobs_failed WHERE id IN (
    SELECT id FROM jobs_failed WHERE failed_at < %(older_than)s
    ORDER BY failed_at LIMIT %(batch_size)s
)

-- name: prune_schedule_runs_succeeded
-- History entries of runs that succeeded and of skipped slots (the partial index
-- jobs_schedule_runs_kept_time has exactly these). Run with the plan pins: on a
-- history never analyzed the planner would bitmap-scan and sort every old entry
-- for each batch.
DELETE FROM jobs_schedule_runs WHERE id IN (
    SELECT id FROM jobs_schedule_runs AS r
    WHERE outcome <> 'failed' AND finished_at < %(older_than)s
      -- the newest entry of a schedule that still has its row stays: it is the
      -- schedule's last run, whatever its age (a removed or ended one's goes too)
      AND (EXISTS (SELECT 1 FROM jobs_schedule_runs AS n
                   WHERE n.key = r.key AND n.finished_at > r.finished_at)
           OR NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.scheduled_job = r.key))
    ORDER BY finished_at LIMIT %(batch_size)s
) RETURNING id

-- name: prune_schedule_runs_failed
DELETE FROM jobs_schedule_runs WHERE id IN (
    SELECT id FROM jobs_schedule_runs AS r
    WHERE outcome = 'failed' AND finished_at < %(older_than)s
      -- the newest entry of a schedule that still has its row stays: it is the
      -- schedule's last run, whatever its age (a removed or ended one's goes too)
      AND (EXISTS (SELECT 1 FROM jobs_schedule_runs AS n
                   WHERE n.key = r.key AND n.finished_at > r.finished_at)
           OR NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.scheduled_job = r.key))
    ORDER BY finished_at LIMIT %(batch_size)s
) RETURNING id

-- name: list_waiting
SELECT * FROM jobs
WHERE (%(name)s::text IS NULL OR name = %(name)s) AND (%(queue)s::text IS NULL OR queue = %(queue)s)
ORDER BY priority DESC, available_at, id LIMIT %(limit)s

-- name: list_succeeded
SELECT * FROM jobs_succeeded
WHERE (%(name)s::text IS NULL OR name = %(name)s) AND (%(queue)s::text IS NULL OR queue = %(queue)s)
ORDER BY succeeded_at DESC, id DESC LIMIT %(limit)s

-- name: list_failed
SELECT * FROM jobs_failed
WHERE (%(name)s::text IS NULL OR name = %(name)s) AND (%(queue)s::text IS NULL OR queue = %(queue)s)
ORDER BY failed_at DESC, id DESC LIMIT %(limit)s

-- name: count_listed_waiting
SELECT count(*) FROM jobs
WHERE (%(name)s::text IS NULL OR name = %(name)s) AND (%(queue)s::text IS NULL OR queue = %(queue)s)

-- name: count_listed_succeeded
SELECT count(*) FROM jobs_succeeded
WHERE (%(name)s::text IS NULL OR name = %(name)s) AND (%(queue)s::text IS NULL OR queue = %(queue)s)

-- name: count_listed_failed
SELECT count(*) FROM jobs_failed
WHERE (%(name)s::text IS NULL OR name = %(name)s) AND (%(queue)s::text IS NULL OR queue = %(queue)s)

-- name: retry_failed_batch
-- Up to %(limit)s failed jobs (oldest failure first) back to `jobs` as plain jobs.
WITH taken AS (
    DELETE FROM jobs_failed WHERE id IN (
        SELECT id FROM jobs_failed
        WHERE (%(name)s::text IS NULL OR name = %(name)s)
          AND (%(queue)s::text IS NULL OR queue = %(queue)s)
        ORDER BY failed_at, id LIMIT %(limit)s
    )
    RETURNING id, name, payload, created_at, queue, priority, exception
)
INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, queue, priority, last_error)
SELECT id, name, payload, 0, created_at, %(now)s, queue, priority, exception FROM taken
RETURNING *

-- name: get_waiting
SELECT * FROM jobs WHERE id = %(id)s

-- name: get_succeeded
SELECT * FROM jobs_succeeded WHERE id = %(id)s

-- name: get_failed
SELECT * FROM jobs_failed WHERE id = %(id)s

-- name: retry_failed_job
WITH taken AS (
    DELETE FROM jobs_failed WHERE id = %(id)s
    RETURNING id, name, payload, created_at, queue, priority, exception
)
INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, queue, priority, last_error)
SELECT id, name, payload, 0, created_at, %(now)s, queue, priority, exception FROM taken
RETURNING *

-- name: cancel_waiting_job
-- Only an unreserved job moves. A claim racing with us either took it first
-- (the DELETE re-checks the row it waited for and skips it: it is running) or
-- waits for us and finds it gone.
WITH taken AS (
    DELETE FROM jobs WHERE id = %(id)s AND reserved_by IS NULL
    RETURNING id, name, payload, attempts, queue, priority, created_at, available_at
)
INSERT INTO jobs_failed
    (id, name, payload, attempts, queue, priority, created_at, available_at,
     exception, traceback, failed_at)
SELECT id, name, payload, attempts, queue, priority, created_at, available_at,
       %(exception)s, '', %(now)s
FROM taken
RETURNING id

-- name: cancelled_by_this_call
-- The move a cancel made before its COMMIT answer was lost: the job in jobs_failed at
-- this call's time with the Cancelled exception.
SELECT 1 FROM jobs_failed WHERE id = %(id)s AND failed_at = %(now)s AND exception = %(exception)s

-- name: request_cancel
UPDATE jobs SET cancel_requested = true WHERE id = %(id)s AND reserved_by IS NOT NULL
RETURNING id

-- name: cancel_requests
SELECT id FROM jobs WHERE reserved_by = %(owner)s AND cancel_requested

-- name: delete_waiting
DELETE FROM jobs WHERE id = %(id)s

-- name: delete_succeeded
DELETE FROM jobs_succeeded WHERE id = %(id)s

-- name: delete_failed
DELETE FROM jobs_failed WHERE id = %(id)s

-- name: count_waiting_by_name
SELECT name,
       count(*) FILTER (WHERE reserved_by IS NULL) AS waiting,
       count(*) FILTER (WHERE reserved_by IS NOT NULL) AS running,
       count(*) FILTER (WHERE reserved_by IS NULL AND available_at <= %(now)s) AS due
FROM jobs GROUP BY name

-- name: count_succeeded_by_name
SELECT name, count(*) AS n FROM jobs_succeeded GROUP BY name

-- name: count_failed_by_name
SELECT name, count(*) AS n FROM jobs_failed GROUP BY name

-- name: pause_queue
INSERT INTO jobs_queues (name, paused_at, updated_at) VALUES (%(name)s, %(now)s, %(now)s)
ON CONFLICT (name) DO UPDATE
SET paused_at = coalesce(jobs_queues.paused_at, excluded.paused_at), updated_at = excluded.updated_at

-- name: resume_queue
-- The NOTIFY ("look at everything") lets idle processes claim at once.
WITH resumed AS (
    UPDATE jobs_queues SET paused_at = NULL, updated_at = %(now)s
    WHERE name = %(name)s AND paused_at IS NOT NULL
    RETURNING name
)
SELECT pg_notify(%(channel)s, '') FROM resumed

-- name: register_queues
INSERT INTO jobs_queues (name, updated_at)
SELECT name, %(now)s FROM unnest(%(names)s::text[]) AS n(name)
ON CONFLICT (name) DO NOTHING

-- name: list_queues
SELECT name, paused_at, updated_at FROM jobs_queues ORDER BY name

-- name: running_by_owner
SELECT reserved_by, count(*) AS running FROM jobs WHERE reserved_by IS NOT NULL GROUP BY reserved_by

-- name: count_waiting_groups
-- Plain jobs waiting, by name and target queue (for the unhandled-name check).
-- A scheduled row is made by a process that runs it, so it is never misnamed.
SELECT name, queue, count(*) AS n FROM jobs
WHERE reserved_by IS NULL AND scheduled_job IS NULL
GROUP BY name, queue

-- name: table_columns
SELECT c.relname AS table_name, a.attname AS column_name
FROM pg_class c
JOIN pg_namespace s ON s.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE s.nspname = current_schema() AND c.relname = ANY(%(tables)s::text[])

-- name: current_schema
-- NULL current_schema: no schema named in the search_path exists.
SELECT current_schema() AS current_schema, current_setting('search_path') AS search_path

-- name: lock_migrations
SELECT pg_advisory_xact_lock(%(key)s)

-- name: applied_versions
SELECT version FROM jobs_schema

-- name: record_version
INSERT INTO jobs_schema (version) VALUES (%(version)s)

-- name: record_schedule_runs
-- Schedules' history entries; written with the runs' outcomes, in their transaction.
INSERT INTO jobs_schedule_runs (id, key, slot, started_at, finished_at, outcome, error, note)
SELECT r.id, r.key, r.slot, r.started_at, %(now)s, r.outcome, r.error, r.note
FROM unnest(%(run_ids)s::text[], %(keys)s::text[], %(slots)s::timestamptz[],
            %(started_ats)s::timestamptz[], %(outcomes)s::text[], %(errors)s::text[],
            %(notes)s::text[]) AS r(id, key, slot, started_at, outcome, error, note)
ON CONFLICT (id) DO NOTHING

-- name: schedule_history
SELECT * FROM jobs_schedule_runs WHERE key = %(key)s
ORDER BY finished_at DESC, id DESC LIMIT %(limit)s

-- name: list_schedules
SELECT j.scheduled_job, j.name, j.schedule, j.available_at, j.reserved_by, p.paused_at,
       r.id AS r_id, r.key AS r_key, r.slot AS r_slot, r.started_at AS r_started_at,
       r.finished_at AS r_finished_at, r.outcome AS r_outcome, r.error AS r_error,
       r.note AS r_note
FROM jobs j
LEFT JOIN LATERAL (
    SELECT * FROM jobs_schedule_runs WHERE key = j.scheduled_job
    ORDER BY finished_at DESC, id DESC LIMIT 1) r ON true
LEFT JOIN jobs_schedule_pauses p ON p.key = j.scheduled_job
WHERE j.scheduled_job IS NOT NULL
ORDER BY j.scheduled_job

-- name: release_scheduled_slot
-- Give back the claim on a schedule's row without running it; returns the slot it had.
UPDATE jobs j SET reserved_at = NULL, reserved_by = NULL, attempts = j.attempts - 1,
                  available_at = %(available_at)s
FROM (SELECT id, available_at FROM jobs WHERE id = %(id)s FOR UPDATE) old
WHERE j.id = old.id AND j.reserved_by = %(owner)s AND j.attempts = %(attempts)s
RETURNING old.available_at AS slot

-- name: was_released
SELECT 1 FROM jobs
WHERE id = %(id)s AND reserved_by IS NULL AND attempts = %(attempts)s - 1
  AND available_at = %(available_at)s

-- name: add_schedule
-- A new key, or one whose schedule was removed (its tombstone is replaced); an
-- active one changes nothing (no row returned).
INSERT INTO jobs_schedules (key, job_name, schedule, payload, misfire, grace_ms, created_at)
VALUES (%(key)s, %(name)s, %(schedule)s, %(payload)s, %(misfire)s, %(grace_ms)s, %(now)s)
ON CONFLICT (key) DO UPDATE SET job_name = excluded.job_name, schedule = excluded.schedule,
    payload = excluded.payload, misfire = excluded.misfire, grace_ms = excluded.grace_ms,
    removed = excluded.removed, created_at = excluded.created_at, paused = false
WHERE jobs_schedules.removed
RETURNING key

-- name: remove_schedule
UPDATE jobs_schedules SET removed = true WHERE key = %(key)s AND NOT removed

-- name: delete_waiting_schedule_row
-- A running row stays: its outcome moves it, and the tombstone keeps out a next row.
DELETE FROM jobs WHERE scheduled_job = %(key)s AND reserved_by IS NULL

-- name: schedule_exists
-- A schedule from code (it has a row) or one added at runtime, unless removed (a
-- removed one's last run may still hold its row).
SELECT 1 AS found
WHERE (EXISTS (SELECT 1 FROM jobs WHERE scheduled_job = %(key)s)
       OR EXISTS (SELECT 1 FROM jobs_schedules WHERE key = %(key)s AND NOT removed))
  AND NOT EXISTS (SELECT 1 FROM jobs_schedules WHERE key = %(key)s AND removed)

-- name: insert_schedule_pause
INSERT INTO jobs_schedule_pauses (key, paused_at) VALUES (%(key)s, %(now)s)
ON CONFLICT (key) DO NOTHING

-- name: mirror_schedule_pause
-- The pause as the previous version stored it, for its processes still running
-- during a rolling deploy (this version reads jobs_schedule_pauses only).
UPDATE jobs_schedules SET paused = true WHERE key = %(key)s AND NOT removed

-- name: mirror_schedule_resume
UPDATE jobs_schedules SET paused = false WHERE key = %(key)s AND paused

-- name: delete_schedule_pause
DELETE FROM jobs_schedule_pauses WHERE key = %(key)s

-- name: move_waiting_schedule_row
-- A resumed schedule's row, if its time passed while paused (one due later missed nothing).
UPDATE jobs SET available_at = %(available_at)s
WHERE scheduled_job = %(key)s AND reserved_by IS NULL AND available_at <= %(now)s

-- name: schedule_row_exists
SELECT 1 FROM jobs WHERE scheduled_job = %(key)s

-- name: stored_schedules
SELECT s.key, s.job_name, s.schedule, s.payload, s.misfire, s.grace_ms,
       EXISTS (SELECT 1 FROM jobs_schedule_pauses p WHERE p.key = s.key) AS paused,
       j.available_at, j.reserved_by
FROM jobs_schedules s LEFT JOIN jobs j ON j.scheduled_job = s.key
WHERE NOT s.removed
ORDER BY s.key
