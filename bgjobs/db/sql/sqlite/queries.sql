-- Named queries for SQLite. Every name and value is a bound parameter; lists
-- arrive as one JSON array parameter read with json_each. `:now` always comes
-- from the runtime's clock, never from SQLite.

-- name: insert_job
-- Positional: run with executemany, once per job, where binding by position is cheaper.
INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, queue, priority, unique_key,
                  timeout_seconds)
VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING

-- name: recently_succeeded_by_key
-- The latest success of a unique key since :since (unique-for-a-period).
SELECT * FROM jobs_succeeded
WHERE unique_key = :key AND succeeded_at >= :since
ORDER BY succeeded_at DESC LIMIT 1

-- name: jobs_by_unique_key
SELECT * FROM jobs WHERE unique_key IN (SELECT value FROM json_each(:keys))

-- name: count_claimable
-- How many jobs a claim could take now, up to :limit. Walks only due rows.
-- None while the queue is paused: the claim takes what this counts.
SELECT count(*) FROM (
    SELECT 1 FROM jobs INDEXED BY jobs_due
    WHERE reserved_by IS NULL AND scheduled_job IS NULL AND available_at <= :now
      AND name IN (SELECT value FROM json_each(:names))
      AND (queue IS NULL OR queue = :queue)
      AND NOT EXISTS (SELECT 1 FROM jobs_queues WHERE name = :queue AND paused_at IS NOT NULL)
    LIMIT :limit
)

-- name: claim_jobs
UPDATE jobs SET reserved_at = :now, reserved_by = :owner, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM jobs INDEXED BY jobs_claim_order
    WHERE reserved_by IS NULL AND scheduled_job IS NULL AND available_at <= :now
      AND name IN (SELECT value FROM json_each(:names))
      AND (queue IS NULL OR queue = :queue)
    ORDER BY priority DESC, available_at, id
    LIMIT :limit
)
RETURNING *

-- name: forget_old_starts
-- Starts more than two windows old (one window of margin for claims whose
-- clocks read a little earlier).
DELETE FROM jobs_queue_starts WHERE queue = :queue AND reserved_at <= :margin_start

-- name: count_limited_running
-- Reserved jobs this queue could have claimed: its job names, routed to it or to no queue.
SELECT count(*) FROM jobs INDEXED BY jobs_reserved_by
WHERE reserved_by IS NOT NULL
  AND name IN (SELECT value FROM json_each(:names))
  AND (queue IS NULL OR queue = :queue)

-- name: rate_window
-- For a rate-limited queue (rows are in time order, numbered by `total`; see
-- migration 0006 of PostgreSQL): the newest start, the newest one before the
-- window, and the oldest one kept. Three probes of the primary key.
SELECT l.reserved_at AS last_at, l.total AS total,
       (SELECT b.total FROM jobs_queue_starts b
        WHERE b.queue = :queue AND b.reserved_at <= :window_start
        ORDER BY b.reserved_at DESC, b.total DESC LIMIT 1) AS before,
       (SELECT f.reserved_at FROM jobs_queue_starts f
        WHERE f.queue = :queue ORDER BY f.reserved_at, f.total LIMIT 1) AS first_at,
       (SELECT f.total FROM jobs_queue_starts f
        WHERE f.queue = :queue ORDER BY f.reserved_at, f.total LIMIT 1) AS first
FROM (SELECT reserved_at, total FROM jobs_queue_starts
      WHERE queue = :queue ORDER BY reserved_at DESC, total DESC LIMIT 1) AS l

-- name: log_limited_starts
INSERT INTO jobs_queue_starts (queue, reserved_at, total)
SELECT :queue, :now, :total + key + 1 FROM json_each(:ids)

-- name: claim_scheduled_job
UPDATE jobs SET reserved_at = :now, reserved_by = :owner, attempts = attempts + 1
WHERE scheduled_job = :key AND reserved_by IS NULL AND available_at <= :now
  -- a paused schedule (from code or added at runtime) is never claimed, so pausing
  -- takes effect at once
  AND NOT EXISTS (SELECT 1 FROM jobs_schedule_pauses p WHERE p.key = :key)
RETURNING *

-- name: copy_to_succeeded
INSERT INTO jobs_succeeded
    (id, name, payload, attempts, queue, priority, created_at, available_at, succeeded_at, result,
     unique_key)
SELECT id, name, payload, attempts, queue, priority, created_at, available_at, :now, :result,
       unique_key
FROM jobs WHERE id = :id AND reserved_by = :owner AND attempts = :attempts

-- name: copy_to_failed
INSERT INTO jobs_failed
    (id, name, payload, attempts, queue, priority, created_at, available_at,
     exception, traceback, failed_at)
SELECT id, name, payload, attempts, queue, priority, created_at, available_at,
       :exception, :traceback, :now
FROM jobs WHERE id = :id AND reserved_by = :owner AND attempts = :attempts

-- name: delete_reserved_job
DELETE FROM jobs WHERE id = :id AND reserved_by = :owner AND attempts = :attempts

-- name: retry_job
UPDATE jobs SET reserved_at = NULL, reserved_by = NULL,
                available_at = :available_at, last_error = :last_error
WHERE id = :id AND reserved_by = :owner AND attempts = :attempts

-- name: release_job
-- :available_at is set for a snoozed job, NULL for one that never started.
UPDATE jobs SET reserved_at = NULL, reserved_by = NULL, attempts = attempts - 1,
                available_at = coalesce(:available_at, available_at)
WHERE id = :id AND reserved_by = :owner AND attempts = :attempts

-- name: was_succeeded
SELECT 1 FROM jobs_succeeded WHERE id = :id AND attempts = :attempts

-- name: was_failed
SELECT 1 FROM jobs_failed WHERE id = :id AND attempts = :attempts

-- name: was_retried
SELECT 1 FROM jobs
WHERE id = :id AND reserved_by IS NULL AND attempts = :attempts
  AND available_at = :available_at AND last_error IS :last_error

-- name: was_released
SELECT 1 FROM jobs WHERE id = :id AND reserved_by IS NULL AND attempts = :attempts - 1

-- name: insert_scheduled_job
-- Not for a key whose runtime schedule was removed while its run was going.
INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, priority, scheduled_job, schedule)
SELECT :id, :name, :payload, 0, :now, :available_at, 0, :key, :schedule
WHERE NOT EXISTS (SELECT 1 FROM jobs_schedules WHERE key = :key AND removed)
ON CONFLICT DO NOTHING

-- name: get_scheduled_job
SELECT * FROM jobs WHERE scheduled_job = :key

-- name: replace_scheduled_job
UPDATE jobs SET schedule = :schedule, available_at = :available_at,
                name = :name, payload = :payload
WHERE scheduled_job = :key AND reserved_by IS NULL

-- name: next_available_at
SELECT available_at FROM jobs INDEXED BY jobs_due
WHERE reserved_by IS NULL AND scheduled_job IS NULL
  AND name IN (SELECT value FROM json_each(:names))
  AND (queue IS NULL OR queue = :queue)
  AND NOT EXISTS (SELECT 1 FROM jobs_queues WHERE name = :queue AND paused_at IS NOT NULL)
ORDER BY available_at
LIMIT 1

-- name: register_worker
INSERT INTO jobs_workers (id, hostname, pid, started_at, heartbeat_at, queues, job_names, heartbeat_ms,
                          lease_ms)
VALUES (:id, :hostname, :pid, :now, :now, :queues, :job_names, :heartbeat_ms, :lease_ms)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at

-- name: heartbeat_worker
UPDATE jobs_workers SET heartbeat_at = :now,
                        abandoned_threads = coalesce(:abandoned_threads, abandoned_threads)
WHERE id = :id

-- name: remove_worker
DELETE FROM jobs_workers WHERE id = :id

-- name: list_workers
SELECT * FROM jobs_workers ORDER BY started_at, id

-- name: rescue_jobs
-- Reservations whose owner's heartbeat is older than the lease, or whose owner
-- row is gone and which are older than the lease themselves (the same rule as
-- PostgreSQL, where a just-registered process could be invisible to the
-- statement). Attempts are kept; the job is available at once. last_error says it
-- was rescued: the runtime runs such a job's last allowed attempt alone
-- (see runtime/outcomes.py).
UPDATE jobs SET reserved_at = NULL, reserved_by = NULL, available_at = min(available_at, :now),
                last_error = 'WorkerLost: worker process ' || reserved_by
                             || ' stopped heartbeating while holding the job'
WHERE reserved_by IS NOT NULL
  AND (reserved_by IN (SELECT id FROM jobs_workers WHERE heartbeat_at < :cutoff)
       OR (reserved_at < :cutoff AND reserved_by NOT IN (SELECT id FROM jobs_workers)))
RETURNING *

-- name: release_untracked_jobs
-- A live process gives back its own reservations that none of its threads
-- holds; claimed before :before, so a claim still being read is left alone.
UPDATE jobs SET reserved_at = NULL, reserved_by = NULL, attempts = attempts - 1
WHERE reserved_by = :owner AND reserved_at < :before
  AND id NOT IN (SELECT value FROM json_each(:keep))
RETURNING *

-- name: delete_dead_workers
DELETE FROM jobs_workers WHERE heartbeat_at < :cutoff

-- name: prune_succeeded
DELETE FROM jobs_succeeded WHERE id IN (
    SELECT id FROM jobs_succeeded WHERE succeeded_at < :older_than
    ORDER BY succeeded_at LIMIT :batch_size
)

-- name: prune_failed
DELETE FROM jobs_failed WHERE id IN (
    SELECT id FROM jobs_failed WHERE failed_at < :older_than
    ORDER BY failed_at LIMIT :batch_size
)

-- name: prune_schedule_runs_succeeded
-- History entries of runs that succeeded and of skipped slots (the partial index
-- jobs_schedule_runs_kept_time has exactly these).
DELETE FROM jobs_schedule_runs WHERE id IN (
    SELECT id FROM jobs_schedule_runs AS r
    WHERE outcome <> 'failed' AND finished_at < :older_than
      -- the newest entry of a schedule that still has its row stays: it is the
      -- schedule's last run, whatever its age (a removed or ended one's goes too)
      AND (EXISTS (SELECT 1 FROM jobs_schedule_runs AS n
                   WHERE n.key = r.key AND n.finished_at > r.finished_at)
           OR NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.scheduled_job = r.key))
    ORDER BY finished_at LIMIT :batch_size
)

-- name: prune_schedule_runs_failed
DELETE FROM jobs_schedule_runs WHERE id IN (
    SELECT id FROM jobs_schedule_runs AS r
    WHERE outcome = 'failed' AND finished_at < :older_than
      -- the newest entry of a schedule that still has its row stays: it is the
      -- schedule's last run, whatever its age (a removed or ended one's goes too)
      AND (EXISTS (SELECT 1 FROM jobs_schedule_runs AS n
                   WHERE n.key = r.key AND n.finished_at > r.finished_at)
           OR NOT EXISTS (SELECT 1 FROM jobs AS j WHERE j.scheduled_job = r.key))
    ORDER BY finished_at LIMIT :batch_size
)

-- name: list_waiting
SELECT * FROM jobs
WHERE (:name IS NULL OR name = :name) AND (:queue IS NULL OR queue = :queue)
ORDER BY priority DESC, available_at, id LIMIT :limit

-- name: list_succeeded
SELECT * FROM jobs_succeeded
WHERE (:name IS NULL OR name = :name) AND (:queue IS NULL OR queue = :queue)
ORDER BY succeeded_at DESC, id DESC LIMIT :limit

-- name: list_failed
SELECT * FROM jobs_failed
WHERE (:name IS NULL OR name = :name) AND (:queue IS NULL OR queue = :queue)
ORDER BY failed_at DESC, id DESC LIMIT :limit

-- name: count_listed_waiting
SELECT count(*) FROM jobs
WHERE (:name IS NULL OR name = :name) AND (:queue IS NULL OR queue = :queue)

-- name: count_listed_succeeded
SELECT count(*) FROM jobs_succeeded
WHERE (:name IS NULL OR name = :name) AND (:queue IS NULL OR queue = :queue)

-- name: count_listed_failed
SELECT count(*) FROM jobs_failed
WHERE (:name IS NULL OR name = :name) AND (:queue IS NULL OR queue = :queue)

-- name: take_failed_batch
DELETE FROM jobs_failed WHERE id IN (
    SELECT id FROM jobs_failed
    WHERE (:name IS NULL OR name = :name) AND (:queue IS NULL OR queue = :queue)
    ORDER BY failed_at, id LIMIT :limit
)
RETURNING *

-- name: get_waiting
SELECT * FROM jobs WHERE id = :id

-- name: get_succeeded
SELECT * FROM jobs_succeeded WHERE id = :id

-- name: get_failed
SELECT * FROM jobs_failed WHERE id = :id

-- name: take_failed_job
DELETE FROM jobs_failed WHERE id = :id RETURNING *

-- name: insert_retried_job
INSERT INTO jobs (id, name, payload, attempts, created_at, available_at, queue, priority, last_error)
VALUES (:id, :name, :payload, 0, :created_at, :now, :queue, :priority, :last_error)

-- name: cancel_waiting_job
-- Only an unreserved job: a running one is asked to stop instead (request_cancel).
INSERT INTO jobs_failed
    (id, name, payload, attempts, queue, priority, created_at, available_at,
     exception, traceback, failed_at)
SELECT id, name, payload, attempts, queue, priority, created_at, available_at,
       :exception, '', :now
FROM jobs WHERE id = :id AND reserved_by IS NULL

-- name: delete_unreserved_job
DELETE FROM jobs WHERE id = :id AND reserved_by IS NULL

-- name: request_cancel
UPDATE jobs SET cancel_requested = 1 WHERE id = :id AND reserved_by IS NOT NULL

-- name: cancel_requests
SELECT id FROM jobs INDEXED BY jobs_reserved_by
WHERE reserved_by = :owner AND cancel_requested

-- name: delete_waiting
DELETE FROM jobs WHERE id = :id

-- name: delete_succeeded
DELETE FROM jobs_succeeded WHERE id = :id

-- name: delete_failed
DELETE FROM jobs_failed WHERE id = :id

-- name: count_waiting_by_name
SELECT name,
       sum(reserved_by IS NULL) AS waiting,
       sum(reserved_by IS NOT NULL) AS running,
       sum(reserved_by IS NULL AND available_at <= :now) AS due
FROM jobs GROUP BY name

-- name: count_succeeded_by_name
SELECT name, count(*) AS n FROM jobs_succeeded GROUP BY name

-- name: count_failed_by_name
SELECT name, count(*) AS n FROM jobs_failed GROUP BY name

-- name: pause_queue
INSERT INTO jobs_queues (name, paused_at, updated_at) VALUES (:name, :now, :now)
ON CONFLICT (name) DO UPDATE
SET paused_at = coalesce(jobs_queues.paused_at, excluded.paused_at), updated_at = excluded.updated_at

-- name: resume_queue
UPDATE jobs_queues SET paused_at = NULL, updated_at = :now
WHERE name = :name AND paused_at IS NOT NULL

-- name: queue_paused
SELECT 1 FROM jobs_queues WHERE name = :queue AND paused_at IS NOT NULL

-- name: register_queues
INSERT INTO jobs_queues (name, updated_at)
SELECT value, :now FROM json_each(:names) WHERE true
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

-- name: applied_versions
SELECT version FROM jobs_schema

-- name: record_version
INSERT INTO jobs_schema (version) VALUES (:version)

-- name: record_schedule_run
-- A schedule's history entry; written with the run's outcome, so it is there exactly
-- when the outcome is (a retried statement finds its own row and inserts nothing).
INSERT INTO jobs_schedule_runs (id, key, slot, started_at, finished_at, outcome, error, note)
VALUES (:run_id, :key, :slot, :started_at, :now, :outcome, :error, :note)
ON CONFLICT (id) DO NOTHING

-- name: schedule_history
SELECT * FROM jobs_schedule_runs WHERE key = :key
ORDER BY finished_at DESC, id DESC LIMIT :limit

-- name: list_schedules
SELECT j.scheduled_job, j.name, j.schedule, j.available_at, j.reserved_by, p.paused_at,
       r.id AS r_id, r.key AS r_key, r.slot AS r_slot, r.started_at AS r_started_at,
       r.finished_at AS r_finished_at, r.outcome AS r_outcome, r.error AS r_error,
       r.note AS r_note
FROM jobs j
LEFT JOIN jobs_schedule_runs r ON r.id = (
    SELECT id FROM jobs_schedule_runs WHERE key = j.scheduled_job
    ORDER BY finished_at DESC, id DESC LIMIT 1)
LEFT JOIN jobs_schedule_pauses p ON p.key = j.scheduled_job
WHERE j.scheduled_job IS NOT NULL
ORDER BY j.scheduled_job

-- name: reserved_slot
-- The slot (available_at) of a row still held under this lease.
SELECT available_at FROM jobs WHERE id = :id AND reserved_by = :owner AND attempts = :attempts

-- name: add_schedule
-- A new key, or one whose schedule was removed (its tombstone is replaced); an
-- active one changes nothing (no row returned).
INSERT INTO jobs_schedules (key, job_name, schedule, payload, misfire, grace_ms, created_at)
VALUES (:key, :name, :schedule, :payload, :misfire, :grace_ms, :now)
ON CONFLICT (key) DO UPDATE SET job_name = excluded.job_name, schedule = excluded.schedule,
    payload = excluded.payload, misfire = excluded.misfire, grace_ms = excluded.grace_ms,
    removed = excluded.removed, created_at = excluded.created_at, paused = 0
WHERE jobs_schedules.removed
RETURNING key

-- name: remove_schedule
UPDATE jobs_schedules SET removed = 1 WHERE key = :key AND NOT removed

-- name: delete_waiting_schedule_row
-- A running row stays: its outcome moves it, and the tombstone keeps out a next row.
DELETE FROM jobs WHERE scheduled_job = :key AND reserved_by IS NULL

-- name: schedule_exists
-- A schedule from code (it has a row) or one added at runtime, unless removed (a
-- removed one's last run may still hold its row).
SELECT 1 AS found
WHERE (EXISTS (SELECT 1 FROM jobs WHERE scheduled_job = :key)
       OR EXISTS (SELECT 1 FROM jobs_schedules WHERE key = :key AND NOT removed))
  AND NOT EXISTS (SELECT 1 FROM jobs_schedules WHERE key = :key AND removed)

-- name: insert_schedule_pause
INSERT INTO jobs_schedule_pauses (key, paused_at) VALUES (:key, :now)
ON CONFLICT (key) DO NOTHING

-- name: mirror_schedule_pause
-- The pause as the previous version stored it, for its processes still running
-- during a rolling deploy (this version reads jobs_schedule_pauses only).
UPDATE jobs_schedules SET paused = 1 WHERE key = :key AND NOT removed

-- name: mirror_schedule_resume
UPDATE jobs_schedules SET paused = 0 WHERE key = :key AND paused

-- name: delete_schedule_pause
DELETE FROM jobs_schedule_pauses WHERE key = :key

-- name: move_waiting_schedule_row
-- A resumed schedule's row, if its time passed while paused (one due later missed nothing).
UPDATE jobs SET available_at = :available_at
WHERE scheduled_job = :key AND reserved_by IS NULL AND available_at <= :now

-- name: schedule_row_exists
SELECT 1 FROM jobs WHERE scheduled_job = :key

-- name: stored_schedules
SELECT s.key, s.job_name, s.schedule, s.payload, s.misfire, s.grace_ms,
       EXISTS (SELECT 1 FROM jobs_schedule_pauses p WHERE p.key = s.key) AS paused,
       j.available_at, j.reserved_by
FROM jobs_schedules s LEFT JOIN jobs j ON j.scheduled_job = s.key
WHERE NOT s.removed
ORDER BY s.key
