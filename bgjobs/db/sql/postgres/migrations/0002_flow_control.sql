-- bgjobs schema version 2 (PostgreSQL): queue pause, global concurrency and
-- rate limits, unique keys kept on succeeded jobs.

-- One row per queue name a process configured, paused or limited. A paused
-- queue (paused_at set) is claimed by no process; the row's lock serialises
-- the claims of a limited queue across every process and host.
CREATE TABLE jobs_queues (
    name       text COLLATE "C" NOT NULL PRIMARY KEY,
    paused_at  timestamptz,
    updated_at timestamptz NOT NULL
);

-- One row per job a limited queue claimed. A row holds one of the queue's
-- concurrency slots while its job is still reserved by that very claim (same
-- owner and claim time), and counts against the rate limit while its claim
-- time is inside the window. Rows that do neither are deleted by later claims.
CREATE TABLE jobs_queue_claims (
    queue       text COLLATE "C" NOT NULL,
    reserved_at timestamptz NOT NULL,
    job_id      text COLLATE "C" NOT NULL,
    reserved_by text COLLATE "C" NOT NULL,
    PRIMARY KEY (queue, reserved_at, job_id)
);

-- Unique-for-a-period: a succeeded job keeps its key, found by key and time.
ALTER TABLE jobs_succeeded ADD COLUMN unique_key text COLLATE "C";
CREATE INDEX jobs_succeeded_unique_key ON jobs_succeeded (unique_key, succeeded_at)
    WHERE unique_key IS NOT NULL;

-- The claim of a limited queue, called as one statement. It is a VOLATILE
-- function because each statement inside then takes a fresh snapshot: after
-- waiting for the queue row's lock, the counts below see every claim and
-- completion committed before the lock was granted. (Inside one plain
-- statement the count would come from the snapshot taken before the wait.)
CREATE FUNCTION jobs_claim_limited(
    p_names text[], p_queue text, p_limit integer, p_owner text, p_now timestamptz,
    p_concurrency integer, p_rate integer, p_per interval
) RETURNS SETOF jobs
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_paused timestamptz;
    v_allowed integer := p_limit;
    v_used integer;
BEGIN
    -- Nothing due: answer without taking (and writing) the queue row's lock.
    IF NOT EXISTS (
        SELECT 1 FROM jobs
        WHERE reserved_by IS NULL AND scheduled_job IS NULL AND available_at <= p_now
          AND name = ANY(p_names) AND (queue IS NULL OR queue = p_queue)
    ) THEN
        RETURN;
    END IF;
    SELECT paused_at INTO v_paused FROM jobs_queues WHERE name = p_queue FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO jobs_queues (name, updated_at) VALUES (p_queue, p_now)
        ON CONFLICT (name) DO NOTHING;
        SELECT paused_at INTO v_paused FROM jobs_queues WHERE name = p_queue FOR UPDATE;
    END IF;
    IF v_paused IS NOT NULL THEN
        RETURN;
    END IF;
    -- Rows that hold no slot and lie out of the window (with one window of
    -- margin for claims whose clocks read a little earlier) are done with.
    DELETE FROM jobs_queue_claims c
    WHERE c.queue = p_queue
      AND (p_per IS NULL OR c.reserved_at < p_now - 2 * p_per)
      AND NOT EXISTS (SELECT 1 FROM jobs j
                      WHERE j.id = c.job_id AND j.reserved_by = c.reserved_by
                        AND j.reserved_at = c.reserved_at);
    IF p_concurrency IS NOT NULL THEN
        SELECT count(*) INTO v_used FROM jobs_queue_claims c
        JOIN jobs j ON j.id = c.job_id AND j.reserved_by = c.reserved_by
                   AND j.reserved_at = c.reserved_at
        WHERE c.queue = p_queue;
        v_allowed := least(v_allowed, p_concurrency - v_used);
    END IF;
    IF p_rate IS NOT NULL THEN
        SELECT count(*) INTO v_used FROM jobs_queue_claims c
        WHERE c.queue = p_queue AND c.reserved_at > p_now - p_per;
        v_allowed := least(v_allowed, p_rate - v_used);
    END IF;
    IF v_allowed <= 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH picked AS (
        SELECT id FROM jobs
        WHERE reserved_by IS NULL AND scheduled_job IS NULL AND available_at <= p_now
          AND name = ANY(p_names) AND (queue IS NULL OR queue = p_queue)
        ORDER BY priority DESC, available_at, id
        LIMIT v_allowed
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE jobs j SET reserved_at = p_now, reserved_by = p_owner, attempts = j.attempts + 1
        FROM picked WHERE j.id = picked.id
        RETURNING j.*
    ), logged AS (
        INSERT INTO jobs_queue_claims (queue, reserved_at, job_id, reserved_by)
        SELECT p_queue, p_now, claimed.id, p_owner FROM claimed
    )
    SELECT * FROM claimed;
END
$$;
