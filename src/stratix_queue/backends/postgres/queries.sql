-- Named queries for PostgreSQL (psycopg 3, named %(params)s; a literal percent sign is %%).
-- One statement per name; an operation of several is named in order by sql_driver.py or driver.py.
-- Timestamps are TIMESTAMP (without time zone) holding UTC: timezone('UTC', now()).

-- name: insert_jobs
-- A batch of tasks in one statement (one round trip; in autocommit when it is the whole
-- batch). %(tasks)s is a JSON array with one array per task, in the order given: [name,
-- executor, group, payload, priority, max_attempts, delayed (1/0), run_at (text or null), delay
-- seconds, timeout seconds]. One parameter whatever the size, so the statement is prepared once.
-- ORDER BY the array index: ids are handed out in the given order. Only what the database
-- decides comes back, run_at and updated_at as NULL where they equal created_at (one timestamp
-- to decode for a task due at once); the caller builds each Job from its input and these.
-- One lookup of the task's group decides both its status (paused) and its gate (the group,
-- when it has a limit or a probing breaker; '' otherwise).
-- Listening workers are woken by the same statement (pg_notify, delivered at commit) when a
-- task waits; `woken` is referenced below, or it would not run.
WITH inserted AS (
    INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                            timeout_seconds, status, gate, run_at, created_at, updated_at)
    SELECT t.v ->> 0, t.v ->> 1, t.v ->> 2, t.v ->> 3, (t.v ->> 4)::int, (t.v ->> 5)::int,
           (t.v ->> 9)::float8,
           CASE WHEN g.status = 'paused' THEN 'paused'
                WHEN (t.v ->> 6)::boolean THEN 'delayed' ELSE 'waiting' END,
           CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                     OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
           COALESCE((t.v ->> 7)::timestamp,
                    timezone('UTC', now()) + (t.v ->> 8)::float8 * interval '1 second'),
           timezone('UTC', now()), timezone('UTC', now())
    FROM jsonb_array_elements(%(tasks)s::jsonb) WITH ORDINALITY AS t(v, n)
    LEFT JOIN queue_groups g ON g.group_name = t.v ->> 2
    ORDER BY t.n
    RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
              NULLIF(updated_at, created_at) AS updated_at, timeout_seconds
), woken AS (
    SELECT pg_notify('stratix_queue', '') FROM inserted WHERE status = 'waiting' LIMIT 1
)
SELECT id, status, created_at, run_at, updated_at, timeout_seconds FROM inserted
WHERE (SELECT COUNT(*) FROM woken) >= 0;

-- name: insert_job_row
-- One task (add_task): the row of insert_jobs from named parameters, with the same wake-up.
-- A task without a group skips the group lookup (the generic plan would run it).
WITH inserted AS (
    INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                            timeout_seconds, status, gate, run_at, created_at, updated_at)
    SELECT %(name)s::varchar, %(executor)s::varchar, %(group)s::varchar, %(payload)s::text,
           %(priority)s::int, %(max_attempts)s::int, %(timeout)s::float8,
           CASE WHEN g.status = 'paused' THEN 'paused'
                WHEN %(delayed)s::boolean THEN 'delayed' ELSE 'waiting' END,
           CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                     OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
           COALESCE(%(run_at)s::timestamp,
                    timezone('UTC', now()) + %(delay)s::float8 * interval '1 second'),
           timezone('UTC', now()), timezone('UTC', now())
    FROM (SELECT 1) AS one
    LEFT JOIN queue_groups g
           ON %(group)s::varchar IS NOT NULL AND g.group_name = %(group)s::varchar
    RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
              NULLIF(updated_at, created_at) AS updated_at, timeout_seconds
), woken AS (
    SELECT pg_notify('stratix_queue', '') FROM inserted WHERE status = 'waiting'
)
SELECT id, status, created_at, run_at, updated_at, timeout_seconds FROM inserted
WHERE (SELECT COUNT(*) FROM woken) >= 0;

-- name: insert_jobs_unique
-- insert_jobs for a batch where some task has a unique key (docs/unique_tasks.md): each array
-- adds [unique key or null, unique_while_failed (1/0)]. A task whose key another task holds
-- (the partial unique index idx_queue_jobs_unique, named by its predicate) is not inserted
-- and has no row here: the caller reads the holder (unique_holders). ON CONFLICT waits for a
-- concurrent insert of the key to commit or roll back, so concurrent adders insert it once.
-- The caller sends each key once.
WITH inserted AS (
    INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                            timeout_seconds, status, gate, run_at, created_at, updated_at,
                            unique_key, unique_failed)
    SELECT t.v ->> 0, t.v ->> 1, t.v ->> 2, t.v ->> 3, (t.v ->> 4)::int, (t.v ->> 5)::int,
           (t.v ->> 9)::float8,
           CASE WHEN g.status = 'paused' THEN 'paused'
                WHEN (t.v ->> 6)::boolean THEN 'delayed' ELSE 'waiting' END,
           CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                     OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
           COALESCE((t.v ->> 7)::timestamp,
                    timezone('UTC', now()) + (t.v ->> 8)::float8 * interval '1 second'),
           timezone('UTC', now()), timezone('UTC', now()),
           t.v ->> 10, (t.v ->> 11)::smallint
    FROM jsonb_array_elements(%(tasks)s::jsonb) WITH ORDINALITY AS t(v, n)
    LEFT JOIN queue_groups g ON g.group_name = t.v ->> 2
    ORDER BY t.n
    ON CONFLICT (unique_key)
        WHERE unique_key IS NOT NULL AND (status <> 'failed' OR unique_failed = 1)
        DO NOTHING
    RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
              NULLIF(updated_at, created_at) AS updated_at, timeout_seconds, unique_key
), woken AS (
    SELECT pg_notify('stratix_queue', '') FROM inserted WHERE status = 'waiting' LIMIT 1
)
SELECT id, status, created_at, run_at, updated_at, timeout_seconds, unique_key FROM inserted
WHERE (SELECT COUNT(*) FROM woken) >= 0;

-- name: unique_holders
-- The tasks holding the keys {keys} (through idx_queue_jobs_unique: its predicate repeated).
SELECT * FROM queue_jobs
WHERE unique_key IN ({keys}) AND unique_key IS NOT NULL
  AND (status <> 'failed' OR unique_failed = 1);

-- name: get_job
SELECT * FROM queue_jobs WHERE id = %(id)s;

-- name: list_failed
SELECT * FROM queue_jobs WHERE status = 'failed'
ORDER BY failed_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: failed_by_executor
SELECT executor AS key, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY executor;

-- name: failed_by_group
SELECT group_name AS key, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY group_name;

-- name: count_by_status
SELECT status, COUNT(*) AS count FROM queue_jobs GROUP BY status;

-- name: claim_jobs
-- SKIP LOCKED lets concurrent workers pick disjoint rows without waiting on each other. The
-- attempt is counted now; started_at stays empty until the task has run a while (mark_started),
-- so a lost worker's rescue gives back uncounted what it never started.
-- The open gate only (gate = ''; a limited group's tasks are claimed by flow.sql's claim_gate),
-- and only the executors the worker has (%(executors)s): one lane of the claim index per
-- executor, each read from its head in claim order, merged, the first %(limit)s taken (a lane's
-- rows beyond them are locked until commit, not claimed). A task of a paused group, or of a
-- group limited since it was added (an insert that raced set_group_limits: maintenance moves it
-- to its gate), is never claimed here: promote_due marks a paused group's task paused again.
WITH picked AS (
    SELECT lane.id FROM unnest(%(executors)s::varchar[]) AS e(executor)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM queue_jobs
        WHERE status = 'waiting' AND gate = '' AND executor = e.executor
          AND (group_name IS NULL
               OR NOT EXISTS (SELECT 1 FROM queue_groups g
                              WHERE g.group_name = queue_jobs.group_name
                                AND (g.status = 'paused' OR g.concurrency_limit IS NOT NULL
                                     OR g.rate_limit IS NOT NULL
                                     OR g.breaker_state = 'probing')))
        ORDER BY priority DESC, run_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS lane
    ORDER BY lane.priority DESC, lane.run_at, lane.id
    LIMIT %(limit)s
)
UPDATE queue_jobs AS j
SET status = 'executing', attempts = j.attempts + 1, locked_by = %(worker_id)s,
    lease_token = %(lease_token)s,
    locked_until = timezone('UTC', now()) + %(lease_seconds)s::float8 * interval '1 second',
    started_at = NULL, updated_at = timezone('UTC', now())
FROM picked WHERE j.id = picked.id
-- The claimed rows' columns: job.CLAIMED_COLUMNS.
RETURNING j.id, j.job_name, j.executor, j.group_name, NULL AS payload_value, j.payload, j.priority,
          j.attempts, j.max_attempts, j.run_at, j.created_at, j.updated_at, j.locked_until,
          j.error_message, j.error_stack, j.error_code, j.failed_at, j.timeout_seconds;

-- name: move_to_success
-- One statement: the row leaves queue_jobs and enters queue_success together, or neither.
WITH moved AS (
    DELETE FROM queue_jobs
    WHERE id = %(id)s AND status = %(status)s
      AND lease_token IS NOT DISTINCT FROM %(lease_token)s::varchar
    RETURNING *
), counted AS (
    -- The success ledger (rollups.sql): the moved row, if any, added to its minute's rollup.
    INSERT INTO queue_rollups AS r (minute, executor, group_name, bucket, succeeded,
                                    run_ms_total, run_ms_max)
    SELECT date_trunc('minute', timezone('UTC', now())), executor, COALESCE(group_name, ''),
           %(bucket)s, 1, %(execution_time)s, %(execution_time)s
    FROM moved
    ON CONFLICT (minute, executor, group_name, bucket) DO UPDATE
    SET succeeded = r.succeeded + EXCLUDED.succeeded,
        run_ms_total = r.run_ms_total + EXCLUDED.run_ms_total,
        run_ms_max = GREATEST(r.run_ms_max, EXCLUDED.run_ms_max)
)
INSERT INTO queue_success (id, job_name, executor, group_name, payload, priority, attempts,
                           execution_time, created_at, started_at, completed_at)
SELECT id, job_name, executor, group_name, payload, priority, attempts, %(execution_time)s,
       created_at, COALESCE(started_at, updated_at), timezone('UTC', now())
FROM moved;

-- name: record_attempt_error
-- The attempt's error joins the history in the same transaction (both fenced).
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at, fingerprint)
SELECT id, attempts, %(message)s, %(stack)s, %(code)s, locked_by, timezone('UTC', now()),
       %(fingerprint)s
FROM queue_jobs WHERE id = %(id)s AND status = %(status)s
  AND lease_token IS NOT DISTINCT FROM %(lease_token)s::varchar;

-- name: mark_as_failed
UPDATE queue_jobs
SET status = 'failed', fingerprint = %(fingerprint)s,
    error_message = %(message)s, error_stack = %(stack)s,
    error_code = %(code)s, failed_at = timezone('UTC', now()),
    updated_at = timezone('UTC', now()),
    locked_by = NULL, locked_until = NULL, lease_token = NULL
WHERE id = %(id)s AND status = %(status)s
  AND lease_token IS NOT DISTINCT FROM %(lease_token)s::varchar;

-- name: retry_later
UPDATE queue_jobs
SET status = 'delayed', error_message = %(message)s, error_stack = %(stack)s,
    error_code = %(code)s,
    run_at = timezone('UTC', now()) + %(delay)s::float8 * interval '1 second',
    updated_at = timezone('UTC', now()),
    locked_by = NULL, locked_until = NULL, lease_token = NULL
WHERE id = %(id)s AND status = %(status)s
  AND lease_token IS NOT DISTINCT FROM %(lease_token)s::varchar;

-- name: any_waiting
-- Whether a task of the worker's executors waits, in any gate (a burst worker's last look
-- before it stops: SKIP LOCKED can make one claim come back empty while a task waits, locked
-- for a moment by another transaction; a limited group's task runs once a slot frees).
SELECT lane.id FROM unnest(%(executors)s::varchar[]) AS e(executor)
CROSS JOIN LATERAL (
    SELECT id FROM queue_jobs
    WHERE status = 'waiting' AND executor = e.executor
      AND (group_name IS NULL
           OR NOT EXISTS (SELECT 1 FROM queue_groups g
                          WHERE g.group_name = queue_jobs.group_name AND g.status = 'paused'))
    LIMIT 1
) AS lane
LIMIT 1;

-- name: any_waiting_in_groups
SELECT id FROM queue_jobs
WHERE status = 'waiting' AND group_name IS NOT NULL AND group_name IN ({groups})
  AND executor = ANY (%(executors)s::varchar[])
  AND NOT EXISTS (SELECT 1 FROM queue_groups g
                  WHERE g.group_name = queue_jobs.group_name AND g.status = 'paused')
LIMIT 1;

-- name: recently_prefetched
-- Whether another worker claimed a task less than :seconds ago that has not run for long
-- (started_at is written once it has run 50 ms): a burst worker waits for it rather than stop
-- (it is short, starts soon, or comes back from a busy buffer: slot_threads.py).
SELECT id FROM queue_jobs
WHERE status = 'executing' AND started_at IS NULL AND locked_by <> %(worker_id)s
  AND updated_at > timezone('UTC', now()) - %(seconds)s::float8 * interval '1 second'
LIMIT 1;

-- name: recently_prefetched_in_groups
SELECT id FROM queue_jobs
WHERE status = 'executing' AND started_at IS NULL AND locked_by <> %(worker_id)s
  AND group_name IS NOT NULL AND group_name IN ({groups})
  AND updated_at > timezone('UTC', now()) - %(seconds)s::float8 * interval '1 second'
LIMIT 1;

-- name: pause_jobs_of_paused_groups
-- First a task of a paused group that is not paused becomes paused (an insert that raced
-- pause_group, a retry scheduled while its group was paused; the claim passes over them
-- meanwhile), then the delayed tasks that fell due become waiting.
UPDATE queue_jobs SET status = 'paused', updated_at = timezone('UTC', now())
WHERE status IN ('waiting', 'delayed') AND group_name IS NOT NULL
  AND group_name IN (SELECT group_name FROM queue_groups WHERE status = 'paused');

-- name: promote_due
UPDATE queue_jobs SET status = 'waiting', updated_at = timezone('UTC', now())
WHERE status = 'delayed' AND run_at <= timezone('UTC', now());

-- name: retry_failed
-- The rows given were locked and read by lock_failed (ledger.sql) in the same transaction:
-- that read decides which of two concurrent retries resets a task.
UPDATE queue_jobs AS j
SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g
                               WHERE g.group_name = j.group_name AND g.status = 'paused')
                  THEN 'paused' ELSE 'waiting' END,
    attempts = 0, error_message = NULL, error_stack = NULL, error_code = NULL,
    fingerprint = NULL,
    failed_at = NULL, locked_by = NULL, locked_until = NULL, lease_token = NULL,
    run_at = timezone('UTC', now()), updated_at = timezone('UTC', now())
WHERE j.id IN ({ids}) AND j.status = 'failed';

-- name: pause_group
INSERT INTO queue_groups (group_name, status, updated_at)
VALUES (%(group)s, 'paused', timezone('UTC', now()))
ON CONFLICT (group_name) DO UPDATE SET status = 'paused', updated_at = EXCLUDED.updated_at;

-- name: pause_group_jobs
UPDATE queue_jobs SET status = 'paused', updated_at = timezone('UTC', now())
WHERE group_name = %(group)s AND status IN ('waiting', 'delayed');

-- name: resume_group
INSERT INTO queue_groups (group_name, status, updated_at)
VALUES (%(group)s, 'active', timezone('UTC', now()))
ON CONFLICT (group_name) DO UPDATE SET status = 'active', updated_at = EXCLUDED.updated_at;

-- name: resume_group_jobs
UPDATE queue_jobs
SET status = CASE WHEN run_at > timezone('UTC', now()) THEN 'delayed' ELSE 'waiting' END,
    updated_at = timezone('UTC', now())
WHERE group_name = %(group)s AND status = 'paused';

-- name: table_exists
SELECT 1 AS present FROM information_schema.tables
WHERE table_schema = current_schema() AND table_name = %(table)s;

-- name: column_exists
SELECT 1 AS present FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = %(table)s AND column_name = %(column)s;

-- name: create_migrations_table
-- method: how each version got there: applied (its up script ran), schema (a fresh install
-- from schema.sql), adopted (its schema was found in place and finished), legacy (the
-- pre-update layout recognised as version 1).
CREATE TABLE IF NOT EXISTS stratix_queue_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT timezone('UTC', now()),
    method VARCHAR(20) NOT NULL DEFAULT 'applied'
);

-- name: add_migrations_method
-- A version table made before the method column: its rows were all applied.
ALTER TABLE stratix_queue_migrations ADD COLUMN method VARCHAR(20) NOT NULL DEFAULT 'applied';

-- name: current_version
-- A worker's check at start: the newest version recorded (NULL: none).
SELECT MAX(version) AS version FROM stratix_queue_migrations;

-- name: applied_migrations
SELECT version, name, applied_at, method FROM stratix_queue_migrations ORDER BY version;

-- name: applied_migrations_without_method
SELECT version, name, applied_at, 'applied' AS method FROM stratix_queue_migrations
ORDER BY version;

-- name: record_migration
INSERT INTO stratix_queue_migrations (version, name, method)
VALUES (%(version)s, %(name)s, %(method)s);

-- name: forget_migration
DELETE FROM stratix_queue_migrations WHERE version = %(version)s;

-- name: lock_migrations
-- A session-level advisory lock: one migrator at a time per database.
SELECT pg_advisory_lock(8172635401) AS locked;

-- name: unlock_migrations
SELECT pg_advisory_unlock(8172635401) AS unlocked;

-- name: claim_jobs_in_groups
-- A worker restricted to some groups ({groups} expands to one placeholder per group): their
-- open-gate tasks of the worker's executors.
WITH picked AS (
    SELECT id FROM queue_jobs
    WHERE status = 'waiting' AND group_name IN ({groups}) AND gate = ''
      AND executor = ANY (%(executors)s::varchar[])
      AND NOT EXISTS (SELECT 1 FROM queue_groups g
                      WHERE g.group_name = queue_jobs.group_name
                        AND (g.status = 'paused' OR g.concurrency_limit IS NOT NULL
                             OR g.rate_limit IS NOT NULL OR g.breaker_state = 'probing'))
    ORDER BY priority DESC, run_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE queue_jobs AS j
SET status = 'executing', attempts = j.attempts + 1, locked_by = %(worker_id)s,
    lease_token = %(lease_token)s,
    locked_until = timezone('UTC', now()) + %(lease_seconds)s::float8 * interval '1 second',
    started_at = NULL, updated_at = timezone('UTC', now())
FROM picked WHERE j.id = picked.id
-- The claimed rows' columns: job.CLAIMED_COLUMNS.
RETURNING j.id, j.job_name, j.executor, j.group_name, NULL AS payload_value, j.payload, j.priority,
          j.attempts, j.max_attempts, j.run_at, j.created_at, j.updated_at, j.locked_until,
          j.error_message, j.error_stack, j.error_code, j.failed_at, j.timeout_seconds;

-- name: heartbeat_jobs
-- Renew the leases of the tasks this worker is running, fenced by their lease tokens: a task
-- it claimed without learning so (a reply lost with the connection) is not renewed. Each
-- (id, lease_token) pair is its own fence ({leases}); {ids} lets the primary key find the rows.
UPDATE queue_jobs SET locked_until = timezone('UTC', now()) + %(lease_seconds)s::float8 * interval '1 second'
WHERE id IN ({ids}) AND (id, lease_token) IN ({leases}) AND status = 'executing';

-- name: mark_started
-- Claimed tasks have started: from now on a lost worker's rescue counts their attempt (the worker
-- writes it once a task has run 50 ms, or before it runs a task a lost worker held). {leases}
-- are (id, lease_token) pairs, so each is marked only under its own lease; every task still held
-- counts, marked before or not.
UPDATE queue_jobs SET started_at = COALESCE(started_at, timezone('UTC', now()))
WHERE id IN ({ids}) AND (id, lease_token) IN ({leases}) AND status = 'executing';

-- name: give_back
-- Graceful shutdown, or a task that waited too long in a busy worker's buffer: it returns to
-- waiting, its attempt not counted, and idle workers are woken for it (at commit). One row back
-- when it applied (the fence held).
WITH given AS (
    UPDATE queue_jobs
    SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g
                                   WHERE g.group_name = queue_jobs.group_name
                                     AND g.status = 'paused') THEN 'paused' ELSE 'waiting' END,
        attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
        locked_by = NULL, locked_until = NULL, lease_token = NULL,
        updated_at = timezone('UTC', now())
    WHERE id = %(id)s AND status = %(status)s
      AND lease_token IS NOT DISTINCT FROM %(lease_token)s::varchar
    RETURNING id
)
SELECT id, pg_notify('stratix_queue', '') AS woken FROM given;

-- name: register_worker
INSERT INTO queue_workers (id, hostname, pid, concurrency, group_names, executors,
                           started_at, last_heartbeat_at)
VALUES (%(worker_id)s, %(hostname)s, %(pid)s, %(concurrency)s, %(group_names)s, %(executors)s, timezone('UTC', now()), timezone('UTC', now()));

-- name: heartbeat_worker
UPDATE queue_workers SET last_heartbeat_at = timezone('UTC', now()) WHERE id = %(worker_id)s;

-- name: unregister_worker
DELETE FROM queue_workers WHERE id = %(worker_id)s;

-- name: prune_workers
DELETE FROM queue_workers WHERE last_heartbeat_at < timezone('UTC', now()) - %(stale_seconds)s::float8 * interval '1 second';

-- name: list_workers
-- Each with the tasks it holds: running (for 50 ms or more: their start is written) and the
-- others (waiting in its buffer, or just begun).
SELECT w.*,
       (SELECT COUNT(*) FROM queue_jobs j WHERE j.status = 'executing' AND j.locked_by = w.id
          AND j.started_at IS NOT NULL) AS running,
       (SELECT COUNT(*) FROM queue_jobs j WHERE j.status = 'executing' AND j.locked_by = w.id
          AND j.started_at IS NULL) AS prefetched
FROM queue_workers w ORDER BY w.started_at, w.id;

-- name: list_attempt_errors
SELECT * FROM queue_job_errors WHERE job_id = %(id)s ORDER BY attempt, id;

-- name: pick_expired
-- Tasks whose lease ran out (the database's clock decides). One that had started goes back to
-- waiting with the attempt counted, or is failed with WORKER_LOST once attempts are used up; one
-- that never started (it waited in the lost worker's buffer) goes back uncounted. Both carry
-- WORKER_LOST, so the next worker writes their start before running them (worker.py): a task
-- that kills its worker uses up its attempts. SKIP LOCKED: two rescuers never wait on each
-- other. Returns the rows as they were before the update.
SELECT id, job_name, executor, group_name, attempts, max_attempts, locked_by,
       started_at IS NOT NULL AS started
FROM queue_jobs
WHERE status = 'executing' AND locked_until < timezone('UTC', now())
ORDER BY locked_until LIMIT 500 FOR UPDATE SKIP LOCKED;

-- name: record_lost_attempts
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at, fingerprint)
SELECT id, attempts, %(message)s, NULL, 'WORKER_LOST', locked_by, timezone('UTC', now()),
       %(lost_fingerprint)s
FROM queue_jobs WHERE id IN ({ids}) AND started_at IS NOT NULL;

-- name: rescue_jobs
UPDATE queue_jobs
SET status = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts THEN 'failed'
                  WHEN EXISTS (SELECT 1 FROM queue_groups g
                               WHERE g.group_name = queue_jobs.group_name
                                 AND g.status = 'paused') THEN 'paused'
                  ELSE 'waiting' END,
    attempts = CASE WHEN started_at IS NULL AND attempts > 0 THEN attempts - 1 ELSE attempts END,
    error_message = CASE WHEN started_at IS NULL THEN %(unstarted_message)s ELSE %(message)s END,
    error_stack = NULL, error_code = 'WORKER_LOST',
    fingerprint = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts
                       THEN %(lost_fingerprint)s ELSE NULL END,
    failed_at = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts
                     THEN timezone('UTC', now()) ELSE NULL END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = timezone('UTC', now())
WHERE id IN ({ids}) AND status = 'executing';

-- name: listen
LISTEN stratix_queue;

-- name: release_claim
-- A claim whose reply was lost with the connection may have committed: once the database is
-- back, the worker releases the rows it never learned it held (by the claim's lease token), so
-- they run again without the attempt being counted or waiting for the lease to expire. Idle
-- workers are woken for them (at commit).
WITH released AS (
    UPDATE queue_jobs
    SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g
                                   WHERE g.group_name = queue_jobs.group_name
                                     AND g.status = 'paused') THEN 'paused' ELSE 'waiting' END,
        attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
        locked_by = NULL, locked_until = NULL, lease_token = NULL,
        updated_at = timezone('UTC', now())
    WHERE status = 'executing' AND lease_token = %(lease_token)s
    RETURNING id
), woken AS (
    SELECT pg_notify('stratix_queue', '') FROM released LIMIT 1
)
SELECT id FROM released WHERE (SELECT COUNT(*) FROM woken) >= 0;

-- name: move_many_to_success
-- A batch of successes in one statement. %(items)s is JSON [[id, lease_token, ms, bucket], ...];
-- only rows still executing under that token move (fenced), and their ids are returned. The id
-- array makes the primary key drive the delete: one lookup per item, however many rows are
-- executing. The rows moved, and only they, are added to queue_rollups (the success ledger,
-- rollups.sql), one row per key and bucket, upserted in key order (concurrent batches lock
-- shared rollup rows in the same order).
WITH done AS (
    SELECT (d ->> 0)::bigint AS id, d ->> 1 AS token, (d ->> 2)::int AS ms,
           (d ->> 3)::smallint AS bucket
    FROM jsonb_array_elements(%(items)s::jsonb) AS d
), moved AS (
    DELETE FROM queue_jobs AS j USING done
    WHERE j.id = ANY (ARRAY(SELECT id FROM done)) AND j.id = done.id
      AND j.status = 'executing' AND j.lease_token = done.token
    RETURNING j.*, done.ms, done.bucket
), counted AS (
    INSERT INTO queue_rollups AS r (minute, executor, group_name, bucket, succeeded,
                                    run_ms_total, run_ms_max)
    SELECT date_trunc('minute', timezone('UTC', now())), executor, COALESCE(group_name, ''),
           bucket, COUNT(*), SUM(ms), MAX(ms)
    FROM moved GROUP BY executor, COALESCE(group_name, ''), bucket
    ORDER BY executor, COALESCE(group_name, ''), bucket
    ON CONFLICT (minute, executor, group_name, bucket) DO UPDATE
    SET succeeded = r.succeeded + EXCLUDED.succeeded,
        run_ms_total = r.run_ms_total + EXCLUDED.run_ms_total,
        run_ms_max = GREATEST(r.run_ms_max, EXCLUDED.run_ms_max)
)
INSERT INTO queue_success (id, job_name, executor, group_name, payload, priority, attempts,
                           execution_time, created_at, started_at, completed_at)
-- A task a slot started without writing so (short tasks: mark_started) started when claimed.
SELECT id, job_name, executor, group_name, payload, priority, attempts, ms,
       created_at, COALESCE(started_at, updated_at), timezone('UTC', now())
FROM moved
RETURNING id;

-- name: list_jobs
-- Operator listing; each filter applies only when given (NULL means any).
SELECT * FROM queue_jobs
WHERE (%(status)s::varchar IS NULL OR status = %(status)s::varchar)
  AND (%(group)s::varchar IS NULL OR group_name = %(group)s::varchar)
  AND (%(executor)s::varchar IS NULL OR executor = %(executor)s::varchar)
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: failed_by_code
SELECT error_code AS key, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY error_code;

-- name: failed_ids
-- The failed tasks an operator's bulk retry selects (each filter only when given).
SELECT id FROM queue_jobs
WHERE status = 'failed'
  AND (%(group)s::varchar IS NULL OR group_name = %(group)s::varchar)
  AND (%(executor)s::varchar IS NULL OR executor = %(executor)s::varchar)
  AND (%(code)s::varchar IS NULL OR error_code = %(code)s::varchar)
ORDER BY id;

-- name: group_counts
SELECT group_name, status, COUNT(*) AS count FROM queue_jobs
WHERE group_name IS NOT NULL GROUP BY group_name, status;

-- name: paused_groups
SELECT group_name FROM queue_groups WHERE status = 'paused';

-- name: queue_summary
-- Successes in the last :window_seconds, and the oldest runnable task with the database's now.
SELECT (SELECT COUNT(*) FROM queue_success
        WHERE completed_at >= timezone('UTC', now()) - %(window_seconds)s::float8 * interval '1 second') AS succeeded_recently,
       (SELECT MIN(run_at) FROM queue_jobs WHERE status = 'waiting') AS oldest_waiting,
       (SELECT COUNT(*) FROM queue_jobs WHERE status = 'executing' AND started_at IS NOT NULL)
       AS running,
       timezone('UTC', now()) AS db_now;

-- name: count_prunable
SELECT COUNT(*) AS count FROM queue_success WHERE completed_at < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second';

-- name: prune_success
-- One batch at a time (the caller repeats until a batch comes back short).
DELETE FROM queue_success WHERE id IN (
    SELECT id FROM queue_success
    WHERE completed_at < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second'
    ORDER BY id LIMIT %(batch)s);

-- name: ping
-- A LISTENing connection only receives: asked this now and then, it shows it still answers.
SELECT 1 AS alive;

-- name: session_limits
-- Set on every new connection (limits.py): the server cancels a statement that runs too long,
-- fails a lock wait before that, and ends a session left idle inside a transaction (its client
-- went silent between two statements) so that its row locks are released. Seconds; 0: no limit.
SELECT set_config('statement_timeout', round(%(statement_s)s::float8 * 1000)::text, false),
       set_config('lock_timeout', round(%(lock_s)s::float8 * 1000)::text, false),
       set_config('idle_in_transaction_session_timeout', round(%(idle_s)s::float8 * 1000)::text,
                  false);
