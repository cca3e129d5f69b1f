-- bgjobs schema version 6 (PostgreSQL): queue pause, global concurrency and
-- rate limits, unique keys kept on succeeded jobs.

-- One row per queue name a process configured, paused or limited. A paused
-- queue (paused_at set) is claimed by no process; the row's lock serialises
-- the claims of a limited queue across every process and host.
CREATE TABLE jobs_queues (
    name       text COLLATE "C" NOT NULL PRIMARY KEY,
    paused_at  timestamptz,
    updated_at timestamptz NOT NULL
);

-- The start log of rate-limited queues: one row per job claimed, kept for two
-- windows. Claims of other queues write nothing here. Within a queue, rows
-- are written in time order (a claim whose clock reads earlier than the last
-- start recorded counts as starting at that last start), and `total` numbers
-- them 1, 2, 3, ...: the starts inside a window are the newest row's total
-- minus the total of the newest row before the window, two index probes
-- however many starts a window holds.
CREATE TABLE jobs_queue_starts (
    queue       text COLLATE "C" NOT NULL,
    reserved_at timestamptz NOT NULL,
    total       bigint NOT NULL,
    PRIMARY KEY (queue, reserved_at, total)
);
ALTER TABLE jobs_queue_starts SET (autovacuum_vacuum_scale_factor = 0.02);

-- Unique-for-a-period: a succeeded job keeps its key, found by key and time.
ALTER TABLE jobs_succeeded ADD COLUMN unique_key text COLLATE "C";
CREATE INDEX jobs_succeeded_unique_key ON jobs_succeeded (unique_key, succeeded_at)
    WHERE unique_key IS NOT NULL;

-- The claim of a limited queue, called as one statement. It is a VOLATILE
-- function because each statement inside then takes a fresh snapshot: once
-- the first has the queue row's lock, the second (one statement: count,
-- claim, log) sees every claim and completion committed before the lock was
-- granted. Inside one plain statement the counts would come from the snapshot
-- taken before waiting for the lock.
-- Running jobs are counted in `jobs` itself: reserved jobs this queue could
-- have claimed (its job names, routed to it or to no queue). Every way out of
-- "reserved" (success, failure, retry, release, rescue) frees the slot at once.
-- p_look_first: answer "nothing due" without taking the lock (an idle queue's
-- polls then write nothing); a busy queue skips that look.
-- enable_seqscan and enable_sort are off inside the function only: on a table
-- just bulk-filled and never analyzed, the planner would count the few
-- reserved jobs by reading the whole table, and claim by sorting every due job
-- instead of walking jobs_claim_order; every statement here has an index made
-- for it, so these settings only take the wrong plans away. Generic plans,
-- made once per connection: planning the claim afresh on every call would
-- cost more than running it.
CREATE FUNCTION jobs_claim_limited(
    p_names text[], p_queue text, p_limit integer, p_owner text, p_now timestamptz,
    p_concurrency integer, p_rate integer, p_per interval, p_look_first boolean
) RETURNS SETOF jobs
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
SET enable_sort = off
SET plan_cache_mode = force_generic_plan
SET jit = off
AS $$
DECLARE
    v_now timestamptz := p_now;
    v_total bigint := 0;
    v_last timestamptz;
    v_before bigint;
    v_first bigint;
    v_started bigint := 0;
BEGIN
    IF p_look_first AND NOT EXISTS (
        SELECT 1 FROM jobs
        WHERE reserved_by IS NULL AND scheduled_job IS NULL AND available_at <= p_now
          AND name = ANY(p_names) AND (queue IS NULL OR queue = p_queue)
    ) THEN
        RETURN;
    END IF;
    PERFORM 1 FROM jobs_queues WHERE name = p_queue AND paused_at IS NULL FOR UPDATE;
    IF NOT FOUND THEN
        -- Paused, or no row yet: make the row and look again.
        INSERT INTO jobs_queues (name, updated_at) VALUES (p_queue, p_now)
        ON CONFLICT (name) DO NOTHING;
        PERFORM 1 FROM jobs_queues WHERE name = p_queue AND paused_at IS NULL FOR UPDATE;
        IF NOT FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF p_rate IS NOT NULL THEN
        -- The newest start, the newest before the window and the oldest kept:
        -- three probes of the primary key in one statement.
        SELECT l.reserved_at, l.total,
               (SELECT b.total FROM jobs_queue_starts b
                WHERE b.queue = p_queue AND b.reserved_at <= greatest(p_now, l.reserved_at) - p_per
                ORDER BY b.reserved_at DESC, b.total DESC LIMIT 1),
               (SELECT f.total FROM jobs_queue_starts f
                WHERE f.queue = p_queue ORDER BY f.reserved_at, f.total LIMIT 1)
        INTO v_last, v_total, v_before, v_first
        FROM (SELECT reserved_at, total FROM jobs_queue_starts
              WHERE queue = p_queue ORDER BY reserved_at DESC, total DESC LIMIT 1) AS l;
        v_now := greatest(p_now, v_last);
        v_total := coalesce(v_total, 0);
        -- No start before the window: every start kept is inside it (older
        -- ones, already forgotten, were before it).
        v_started := v_total - coalesce(v_before, v_first - 1, v_total);
    END IF;
    RETURN QUERY
    WITH forgotten AS (
        -- Starts more than two windows old (one window of margin for claims
        -- whose clocks read a little earlier); none when there is no rate limit.
        DELETE FROM jobs_queue_starts
        WHERE queue = p_queue AND reserved_at <= v_now - 2 * p_per
    ), running AS (
        SELECT count(*) AS n FROM jobs
        WHERE reserved_by IS NOT NULL AND p_concurrency IS NOT NULL
          AND name = ANY(p_names) AND (queue IS NULL OR queue = p_queue)
    ), picked AS (
        SELECT id FROM jobs
        WHERE reserved_by IS NULL AND scheduled_job IS NULL AND available_at <= v_now
          AND name = ANY(p_names) AND (queue IS NULL OR queue = p_queue)
        ORDER BY priority DESC, available_at, id
        LIMIT greatest(0, least(p_limit,
                                p_concurrency - (SELECT n FROM running),
                                p_rate - v_started))
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE jobs j SET reserved_at = v_now, reserved_by = p_owner, attempts = j.attempts + 1
        FROM picked WHERE j.id = picked.id
        RETURNING j.*
    ), logged AS (
        INSERT INTO jobs_queue_starts (queue, reserved_at, total)
        SELECT p_queue, v_now, v_total + row_number() OVER () FROM claimed
        WHERE p_rate IS NOT NULL
    )
    SELECT * FROM claimed;
END
$$;
