-- Named queries for MySQL 8 / MariaDB 10.6+ (PyMySQL, named %(params)s; a literal percent is %%).
-- One statement per name; an operation of several is named in order by driver.py or sql_driver.py.
-- Sessions run with time_zone '+00:00' and READ COMMITTED; timestamps are DATETIME(6) in UTC.
-- INSERT ... RETURNING is MariaDB syntax (10.5+); MySQL 8 lacks it (see docs/backends.md).

-- name: insert_jobs
-- A batch of tasks in one statement (in autocommit when it is the whole batch). %(tasks)s is
-- a JSON array with one array per task, in the order given: [name, executor, group, payload,
-- priority, max_attempts, delayed (1/0), run_at (text or null), delay seconds, timeout
-- seconds]. ORDER BY the array index: ids are handed out in the given order. Only what the
-- database decides comes back, run_at and updated_at as NULL where they equal created_at (one
-- timestamp to decode for a task due at once); the caller builds each Job from its input and
-- these columns.
-- JSON_TABLE's text columns would compare case-insensitively (utf8mb4_general_ci): they are
-- utf8mb4_bin like the tables, so the group lookup matches names exactly. One lookup of the
-- task's group decides both its status (paused) and its gate (the group, when it has a limit
-- or a probing breaker; '' otherwise).
INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                        timeout_seconds, status, gate, run_at, created_at, updated_at)
SELECT t.job_name, t.executor, t.group_name, t.payload, t.priority, t.max_attempts,
       t.timeout_s,
       CASE WHEN g.status = 'paused' THEN 'paused'
            WHEN t.is_delayed THEN 'delayed' ELSE 'waiting' END,
       CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                 OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
       COALESCE(t.run_at, UTC_TIMESTAMP(6) + INTERVAL ROUND(t.delay_s * 1000000) MICROSECOND),
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)
FROM JSON_TABLE(%(tasks)s, '$[*]' COLUMNS (
         n FOR ORDINALITY,
         job_name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[0]',
         executor VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]',
         group_name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[2]',
         payload LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[3]',
         priority INT PATH '$[4]',
         max_attempts INT PATH '$[5]',
         is_delayed INT PATH '$[6]',
         run_at DATETIME(6) PATH '$[7]',
         delay_s DOUBLE PATH '$[8]',
         timeout_s DOUBLE PATH '$[9]')) AS t
LEFT JOIN queue_groups g ON g.group_name = t.group_name
ORDER BY t.n
RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
          NULLIF(updated_at, created_at) AS updated_at, timeout_seconds;

-- name: insert_job_row
-- One task (add_task): the row of insert_jobs, from named parameters.
INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                        timeout_seconds, status, gate, run_at, created_at, updated_at)
SELECT %(name)s, %(executor)s, %(group)s, %(payload)s, %(priority)s, %(max_attempts)s,
       %(timeout)s,
       CASE WHEN g.status = 'paused' THEN 'paused'
            WHEN %(delayed)s THEN 'delayed' ELSE 'waiting' END,
       CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                 OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
       COALESCE(%(run_at)s,
                UTC_TIMESTAMP(6) + INTERVAL ROUND(%(delay)s * 1000000) MICROSECOND),
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6)
FROM (SELECT 1) AS one
LEFT JOIN queue_groups g ON %(group)s IS NOT NULL AND g.group_name = %(group)s
RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
          NULLIF(updated_at, created_at) AS updated_at, timeout_seconds;

-- name: insert_jobs_unique
-- insert_jobs for a batch where some task has a unique key (docs/unique_tasks.md): each array
-- adds [unique key or null, unique_while_failed (1/0)]. A task whose key another task holds
-- (the unique index on unique_live) is not inserted: ON DUPLICATE KEY UPDATE leaves the holder
-- as it was (not INSERT IGNORE, which would hide any other error) and RETURNING answers the
-- holder's row. The assignment also appends the holder's id to @stratix_unique_held, which
-- the driver clears before and reads after (in one round trip), so its rows are told from the
-- inserted ones. The caller sends each key once.
INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                        timeout_seconds, status, gate, run_at, created_at, updated_at,
                        unique_key, unique_failed)
SELECT t.job_name, t.executor, t.group_name, t.payload, t.priority, t.max_attempts,
       t.timeout_s,
       CASE WHEN g.status = 'paused' THEN 'paused'
            WHEN t.is_delayed THEN 'delayed' ELSE 'waiting' END,
       CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                 OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
       COALESCE(t.run_at, UTC_TIMESTAMP(6) + INTERVAL ROUND(t.delay_s * 1000000) MICROSECOND),
       UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), t.unique_key, t.unique_failed
FROM JSON_TABLE(%(tasks)s, '$[*]' COLUMNS (
         n FOR ORDINALITY,
         job_name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[0]',
         executor VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]',
         group_name VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[2]',
         payload LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[3]',
         priority INT PATH '$[4]',
         max_attempts INT PATH '$[5]',
         is_delayed INT PATH '$[6]',
         run_at DATETIME(6) PATH '$[7]',
         delay_s DOUBLE PATH '$[8]',
         timeout_s DOUBLE PATH '$[9]',
         unique_key VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[10]',
         unique_failed INT PATH '$[11]')) AS t
LEFT JOIN queue_groups g ON g.group_name = t.group_name
ORDER BY t.n
ON DUPLICATE KEY UPDATE
    id = IF((@stratix_unique_held := CONCAT_WS(',', @stratix_unique_held, id)) IS NULL, id, id)
RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
          NULLIF(updated_at, created_at) AS updated_at, timeout_seconds, unique_key;

-- name: unique_holders_clear
SET @stratix_unique_held = NULL;

-- name: unique_holders_seen
-- The ids of the holders insert_jobs_unique met, comma-separated (NULL: none).
SELECT @stratix_unique_held AS held;

-- name: unique_holders
-- The tasks holding the keys {keys} (unique_live is the key while it holds).
SELECT * FROM queue_jobs WHERE unique_live IN ({keys});

-- name: get_job
SELECT * FROM queue_jobs WHERE id = %(id)s;

-- name: list_failed
SELECT * FROM queue_jobs WHERE status = 'failed'
ORDER BY failed_at DESC, id DESC LIMIT %(limit)s OFFSET %(offset)s;

-- name: failed_by_executor
SELECT executor AS `key`, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY executor;

-- name: failed_by_group
SELECT group_name AS `key`, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY group_name;

-- name: count_by_status
SELECT status, COUNT(*) AS count FROM queue_jobs GROUP BY status;

-- name: claim_read_head
-- One transaction in one round trip: MariadbDriver sends the claim's statements together
-- between BEGIN and COMMIT. There is no UPDATE ... RETURNING in MariaDB, so the ids travel in a
-- session variable from the statement that locks them to the UPDATE and the read-back (both by
-- primary key, STRAIGHT_JOIN from the id list). The open gate only (gate = ''; a limited
-- group's tasks are claimed by flow.sql's gate statements), and only the executors the worker
-- has: one lane of the claim index per executor (lane0 becomes lane1, lane2... per executor).
-- 1. Read the head of each lane WITHOUT locking (this statement, once per lane; the join on
--    one row sets the variables to NULL for an empty lane). A locking scan from the start of
--    the waiting range steps on every index entry that earlier claims left delete-marked until
--    purge removes them (thousands per claim during a drain, two pages each); a plain read
--    skips them.
-- 2. Lock up to `limit` waiting rows of each lane from its head on: a range scan of the claim
--    index, SKIP LOCKED so claimers never wait on each other (a locking read sees the latest
--    rows; the locks hold until COMMIT), merged and cut to `limit`. A task that became
--    runnable ahead of the head after step 1 goes to the next claim, as if it had come a
--    moment later.
-- 3. Claim them (the status test re-reads each locked row) and read them back by id. The
--    attempt is counted now; started_at stays empty until the task has run a while
--    (mark_started), so a lost worker's rescue gives back uncounted what it never started. A
--    task of a paused group, or of a group limited since it was added (an insert that raced
--    set_group_limits: maintenance moves it to its gate), is never claimed: it is locked with
--    the others but not claimed (filtering it in step 2 would turn the range scan into a scan
--    from the start of the index), and promote_due marks a paused group's task paused again.
-- A claim whose reply is lost with the connection is released by its token (release_claim).
SELECT h.priority, h.run_at, h.id
INTO @stratix_lane0_priority, @stratix_lane0_run_at, @stratix_lane0_id
FROM (SELECT 1 AS one) AS one_row
LEFT JOIN (SELECT priority, run_at, id FROM queue_jobs
           WHERE status = 'waiting' AND gate = '' AND executor = %(lane0)s
           ORDER BY priority DESC, run_at, id
           LIMIT 1) AS h ON TRUE;

-- name: claim_lock
SELECT JSON_ARRAYAGG(id) INTO @stratix_claimed
FROM (SELECT id FROM ({lanes}) AS lanes ORDER BY priority DESC, run_at, id LIMIT %(limit)s)
     AS picked;

-- name: claim_lane
-- FORCE INDEX: left to itself the optimizer reads the lane by ref from its start (the three
-- equalities), not by range from the head.
(SELECT id, priority, run_at FROM queue_jobs FORCE INDEX (idx_queue_jobs_claim)
 WHERE status = 'waiting' AND gate = '' AND executor = %(lane0)s
   AND (priority < @stratix_lane0_priority
        OR priority = @stratix_lane0_priority
           AND (run_at > @stratix_lane0_run_at
                OR run_at = @stratix_lane0_run_at AND id >= @stratix_lane0_id))
 ORDER BY priority DESC, run_at, id
 LIMIT %(limit)s
 FOR UPDATE SKIP LOCKED)

-- name: claim_mark
UPDATE JSON_TABLE(@stratix_claimed, '$[*]' COLUMNS (id BIGINT PATH '$')) AS c
STRAIGHT_JOIN queue_jobs AS j ON j.id = c.id
SET j.status = 'executing', j.attempts = j.attempts + 1, j.locked_by = %(worker_id)s,
    j.lease_token = %(lease_token)s,
    j.locked_until = UTC_TIMESTAMP(6) + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND,
    j.started_at = NULL, j.updated_at = UTC_TIMESTAMP(6)
WHERE j.status = 'waiting'
  AND (j.group_name IS NULL
       OR NOT EXISTS (SELECT 1 FROM queue_groups g
                      WHERE g.group_name = j.group_name
                        AND (g.status = 'paused' OR g.concurrency_limit IS NOT NULL
                             OR g.rate_limit IS NOT NULL OR g.breaker_state = 'probing')));

-- name: claim_read
-- The claimed rows' columns: job.CLAIMED_COLUMNS.
SELECT j.id, j.job_name, j.executor, j.group_name, NULL AS payload_value, j.payload, j.priority,
       j.attempts, j.max_attempts, j.run_at, j.created_at, j.updated_at, j.locked_until,
       j.error_message, j.error_stack, j.error_code, j.failed_at, j.timeout_seconds
FROM JSON_TABLE(@stratix_claimed, '$[*]' COLUMNS (id BIGINT PATH '$')) AS c
STRAIGHT_JOIN queue_jobs AS j ON j.id = c.id
WHERE j.status = 'executing' AND j.lease_token = %(lease_token)s;

-- name: copy_to_success
-- Two statements in one transaction; both must touch exactly one row or it rolls back (under
-- READ COMMITTED the INSERT reads a snapshot; the DELETE's locking read re-checks the fence).
INSERT INTO queue_success (id, job_name, executor, group_name, payload, priority, attempts,
                           execution_time, created_at, started_at, completed_at)
SELECT id, job_name, executor, group_name, payload, priority, attempts, %(execution_time)s,
       created_at, COALESCE(started_at, updated_at), UTC_TIMESTAMP(6)
FROM queue_jobs WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;

-- name: delete_succeeded
DELETE FROM queue_jobs WHERE id = %(id)s AND status = %(status)s
  AND lease_token <=> %(lease_token)s;

-- name: record_attempt_error
-- The attempt's error joins the history in the same transaction (both fenced).
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at, fingerprint)
SELECT id, attempts, %(message)s, %(stack)s, %(code)s, locked_by, UTC_TIMESTAMP(6),
       %(fingerprint)s
FROM queue_jobs WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;

-- name: mark_as_failed
UPDATE queue_jobs
SET status = 'failed', fingerprint = %(fingerprint)s,
    error_message = %(message)s, error_stack = %(stack)s,
    error_code = %(code)s, failed_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6),
    locked_by = NULL, locked_until = NULL, lease_token = NULL
WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;

-- name: retry_later
UPDATE queue_jobs
SET status = 'delayed', error_message = %(message)s, error_stack = %(stack)s,
    error_code = %(code)s,
    run_at = UTC_TIMESTAMP(6) + INTERVAL ROUND(%(delay)s * 1000000) MICROSECOND,
    updated_at = UTC_TIMESTAMP(6),
    locked_by = NULL, locked_until = NULL, lease_token = NULL
WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;

-- name: any_waiting
-- Whether a task of the worker's executors waits, in any gate (a burst worker's last look
-- before it stops: SKIP LOCKED can make one claim come back empty while a task waits, locked
-- for a moment by another transaction; a limited group's task runs once a slot frees).
SELECT id FROM queue_jobs
WHERE status = 'waiting' AND executor IN ({executors})
  AND (group_name IS NULL
       OR NOT EXISTS (SELECT 1 FROM queue_groups g
                      WHERE g.group_name = queue_jobs.group_name AND g.status = 'paused'))
LIMIT 1;

-- name: any_waiting_in_groups
SELECT id FROM queue_jobs
WHERE status = 'waiting' AND group_name IN ({groups}) AND executor IN ({executors})
  AND NOT EXISTS (SELECT 1 FROM queue_groups g
                  WHERE g.group_name = queue_jobs.group_name AND g.status = 'paused')
LIMIT 1;

-- name: recently_prefetched
-- Whether another worker claimed a task less than :seconds ago that has not run for long
-- (started_at is written once it has run 50 ms): a burst worker waits for it rather than stop
-- (it is short, starts soon, or comes back from a busy buffer: slot_threads.py).
SELECT id FROM queue_jobs
WHERE status = 'executing' AND started_at IS NULL AND locked_by <> %(worker_id)s
  AND updated_at > UTC_TIMESTAMP(6) - INTERVAL ROUND(%(seconds)s * 1000000) MICROSECOND
LIMIT 1;

-- name: recently_prefetched_in_groups
SELECT id FROM queue_jobs
WHERE status = 'executing' AND started_at IS NULL AND locked_by <> %(worker_id)s
  AND group_name IS NOT NULL AND group_name IN ({groups})
  AND updated_at > UTC_TIMESTAMP(6) - INTERVAL ROUND(%(seconds)s * 1000000) MICROSECOND
LIMIT 1;

-- name: pause_jobs_of_paused_groups
-- A task of a paused group that is not paused becomes paused (see postgres/queries.sql), then the
-- delayed tasks that fell due become waiting.
UPDATE queue_jobs SET status = 'paused', updated_at = UTC_TIMESTAMP(6)
WHERE status IN ('waiting', 'delayed') AND group_name IS NOT NULL
  AND group_name IN (SELECT group_name FROM queue_groups WHERE status = 'paused');

-- name: promote_due
UPDATE queue_jobs SET status = 'waiting', updated_at = UTC_TIMESTAMP(6)
WHERE status = 'delayed' AND run_at <= UTC_TIMESTAMP(6);

-- name: retry_failed
UPDATE queue_jobs AS j
LEFT JOIN queue_groups AS g ON g.group_name = j.group_name AND g.status = 'paused'
SET j.status = IF(g.group_name IS NULL, 'waiting', 'paused'),
    j.attempts = 0, j.error_message = NULL, j.error_stack = NULL, j.error_code = NULL,
    j.fingerprint = NULL,
    j.failed_at = NULL, j.locked_by = NULL, j.locked_until = NULL, j.lease_token = NULL,
    j.run_at = UTC_TIMESTAMP(6), j.updated_at = UTC_TIMESTAMP(6)
WHERE j.id IN ({ids}) AND j.status = 'failed';

-- name: pause_group
INSERT INTO queue_groups (group_name, status, updated_at)
VALUES (%(group)s, 'paused', UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE status = 'paused', updated_at = UTC_TIMESTAMP(6);

-- name: pause_group_jobs
UPDATE queue_jobs SET status = 'paused', updated_at = UTC_TIMESTAMP(6)
WHERE group_name = %(group)s AND status IN ('waiting', 'delayed');

-- name: resume_group
INSERT INTO queue_groups (group_name, status, updated_at)
VALUES (%(group)s, 'active', UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE status = 'active', updated_at = UTC_TIMESTAMP(6);

-- name: resume_group_jobs
UPDATE queue_jobs
SET status = IF(run_at > UTC_TIMESTAMP(6), 'delayed', 'waiting'),
    updated_at = UTC_TIMESTAMP(6)
WHERE group_name = %(group)s AND status = 'paused';

-- name: table_exists
SELECT 1 AS present FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_name = %(table)s;

-- name: column_exists
SELECT 1 AS present FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name = %(table)s AND column_name = %(column)s;

-- name: create_migrations_table
-- method: how each version got there: applied (its up script ran), schema (a fresh install
-- from schema.sql), adopted (its schema was found in place and finished), legacy (the
-- pre-update layout recognised as version 1).
CREATE TABLE IF NOT EXISTS stratix_queue_migrations (
    version INT PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    method VARCHAR(20) NOT NULL DEFAULT 'applied'
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

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
-- A named server lock: one migrator at a time per server (DDL cannot run in a transaction).
SELECT GET_LOCK(CONCAT('stratix_queue_migrate:', DATABASE()), 600) AS locked;

-- name: unlock_migrations
SELECT RELEASE_LOCK(CONCAT('stratix_queue_migrate:', DATABASE())) AS unlocked;

-- name: claim_read_head_in_groups
-- A worker restricted to some groups: their open-gate tasks of the worker's executors (the
-- claim index is not in group order: idx_queue_jobs_group is, filtered by row).
SELECT h.priority, h.run_at, h.id
INTO @stratix_head_priority, @stratix_head_run_at, @stratix_head_id
FROM (SELECT 1 AS one) AS one_row
LEFT JOIN (SELECT priority, run_at, id FROM queue_jobs
           WHERE status = 'waiting' AND group_name IN ({groups}) AND gate = ''
             AND executor IN ({executors})
           ORDER BY priority DESC, run_at, id
           LIMIT 1) AS h ON TRUE;

-- name: claim_lock_in_groups
SELECT JSON_ARRAYAGG(id) INTO @stratix_claimed
FROM (SELECT id FROM queue_jobs
      WHERE status = 'waiting' AND group_name IN ({groups}) AND gate = ''
        AND executor IN ({executors})
        AND (priority < @stratix_head_priority
             OR priority = @stratix_head_priority
                AND (run_at > @stratix_head_run_at
                     OR run_at = @stratix_head_run_at AND id >= @stratix_head_id))
      ORDER BY priority DESC, run_at, id
      LIMIT %(limit)s
      FOR UPDATE SKIP LOCKED) AS picked;

-- name: heartbeat_jobs
-- Renew the leases of the tasks this worker is running, fenced by their lease tokens: a task
-- it claimed without learning so (a reply lost with the connection) is not renewed. {leases}
-- expands to the (id, lease_token) pairs, so each id is renewed only under its own token
-- (a primary-key range scan, rows locked in id order like move_many_to_success).
UPDATE queue_jobs SET locked_until = UTC_TIMESTAMP(6) + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND
WHERE status = 'executing' AND (id, lease_token) IN ({leases});

-- name: mark_started
-- Claimed tasks have started: from now on a lost worker's rescue counts their attempt (the worker
-- writes it once a task has run 50 ms, or before it runs a task a lost worker held). {leases}
-- are (id, lease_token) pairs, so each is marked only under its own lease; every task still held
-- counts, marked before or not.
UPDATE queue_jobs SET started_at = COALESCE(started_at, UTC_TIMESTAMP(6))
WHERE id IN ({ids}) AND (id, lease_token) IN ({leases}) AND status = 'executing';

-- name: give_back
-- Graceful shutdown, or a task that waited too long in a busy worker's buffer: it returns to
-- waiting, its attempt not counted (the change marker wakes idle workers for it).
UPDATE queue_jobs
SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g WHERE g.group_name = queue_jobs.group_name
                               AND g.status = 'paused') THEN 'paused' ELSE 'waiting' END,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = UTC_TIMESTAMP(6)
WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;

-- name: register_worker
INSERT INTO queue_workers (id, hostname, pid, concurrency, group_names, executors,
                           started_at, last_heartbeat_at)
VALUES (%(worker_id)s, %(hostname)s, %(pid)s, %(concurrency)s, %(group_names)s, %(executors)s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));

-- name: heartbeat_worker
UPDATE queue_workers SET last_heartbeat_at = UTC_TIMESTAMP(6) WHERE id = %(worker_id)s;

-- name: unregister_worker
DELETE FROM queue_workers WHERE id = %(worker_id)s;

-- name: prune_workers
DELETE FROM queue_workers WHERE last_heartbeat_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(stale_seconds)s * 1000000) MICROSECOND;

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
-- other. Returns the rows as they were before the update. MariaDB assigns left to right, each
-- assignment seeing the ones before it: attempts changes last, after what reads it.
SELECT id, job_name, executor, group_name, attempts, max_attempts, locked_by,
       started_at IS NOT NULL AS started
FROM queue_jobs
WHERE status = 'executing' AND locked_until < UTC_TIMESTAMP(6)
ORDER BY locked_until LIMIT 500 FOR UPDATE SKIP LOCKED;

-- name: record_lost_attempts
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at, fingerprint)
SELECT id, attempts, %(message)s, NULL, 'WORKER_LOST', locked_by, UTC_TIMESTAMP(6),
       %(lost_fingerprint)s
FROM queue_jobs WHERE id IN ({ids}) AND started_at IS NOT NULL;

-- name: rescue_jobs
UPDATE queue_jobs
SET status = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts THEN 'failed'
                  WHEN EXISTS (SELECT 1 FROM queue_groups g
                               WHERE g.group_name = queue_jobs.group_name
                                 AND g.status = 'paused') THEN 'paused'
                  ELSE 'waiting' END,
    failed_at = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts
                     THEN UTC_TIMESTAMP(6) ELSE NULL END,
    error_message = CASE WHEN started_at IS NULL THEN %(unstarted_message)s ELSE %(message)s END,
    error_stack = NULL, error_code = 'WORKER_LOST',
    fingerprint = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts
                       THEN %(lost_fingerprint)s ELSE NULL END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = UTC_TIMESTAMP(6),
    attempts = CASE WHEN started_at IS NULL AND attempts > 0 THEN attempts - 1 ELSE attempts END
WHERE id IN ({ids}) AND status = 'executing';

-- name: release_claim
-- A claim whose reply was lost with the connection may have committed: once the database is
-- back, the worker releases the rows it never learned it held (by the claim's lease token), so
-- they run again without the attempt being counted or waiting for the lease to expire.
UPDATE queue_jobs
SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g
                               WHERE g.group_name = queue_jobs.group_name
                                 AND g.status = 'paused') THEN 'paused' ELSE 'waiting' END,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = UTC_TIMESTAMP(6)
WHERE status = 'executing' AND lease_token = %(lease_token)s;

-- name: success_copy
-- A batch of successes: one transaction in one round trip (MariadbDriver sends both statements
-- between BEGIN and COMMIT). %(items)s is JSON [[id, lease_token, ms], ...] in id order and
-- {pairs} the same (id, lease_token) pairs as row constructors. The INSERT copies the rows still
-- executing under their token and, FOR UPDATE, locks them (a plain INSERT ... SELECT reads a
-- snapshot under READ COMMITTED); the DELETE removes exactly those locked rows and returns
-- their ids. STRAIGHT_JOIN: one primary-key lookup per item (left to itself the optimizer
-- scans every executing row). Tokens compare exactly (utf8mb4_bin), as in the DELETE.
INSERT INTO queue_success (id, job_name, executor, group_name, payload, priority, attempts,
                           execution_time, created_at, started_at, completed_at)
SELECT j.id, j.job_name, j.executor, j.group_name, j.payload, j.priority, j.attempts, d.ms,
       j.created_at, COALESCE(j.started_at, j.updated_at), UTC_TIMESTAMP(6)
FROM JSON_TABLE(%(items)s, '$[*]' COLUMNS (
        id BIGINT PATH '$[0]',
        token VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]',
        ms INT PATH '$[2]')) AS d
STRAIGHT_JOIN queue_jobs AS j ON j.id = d.id
WHERE j.status = 'executing' AND j.lease_token = d.token
FOR UPDATE;

-- name: success_delete
DELETE FROM queue_jobs
WHERE status = 'executing' AND (id, lease_token) IN ({pairs})
RETURNING id;

-- name: list_jobs
-- Operator listing; each filter applies only when given (NULL means any).
SELECT * FROM queue_jobs
WHERE (%(status)s IS NULL OR status = %(status)s)
  AND (%(group)s IS NULL OR group_name = %(group)s)
  AND (%(executor)s IS NULL OR executor = %(executor)s)
ORDER BY id LIMIT %(limit)s OFFSET %(offset)s;

-- name: failed_by_code
SELECT error_code AS `key`, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY error_code;

-- name: failed_ids
-- The failed tasks an operator's bulk retry selects (each filter only when given).
SELECT id FROM queue_jobs
WHERE status = 'failed'
  AND (%(group)s IS NULL OR group_name = %(group)s)
  AND (%(executor)s IS NULL OR executor = %(executor)s)
  AND (%(code)s IS NULL OR error_code = %(code)s)
ORDER BY id;

-- name: group_counts
SELECT group_name, status, COUNT(*) AS count FROM queue_jobs
WHERE group_name IS NOT NULL GROUP BY group_name, status;

-- name: paused_groups
SELECT group_name FROM queue_groups WHERE status = 'paused';

-- name: queue_summary
-- Successes in the last :window_seconds, and the oldest runnable task with the database's now.
SELECT (SELECT COUNT(*) FROM queue_success
        WHERE completed_at >= UTC_TIMESTAMP(6) - INTERVAL ROUND(%(window_seconds)s * 1000000) MICROSECOND) AS succeeded_recently,
       (SELECT MIN(run_at) FROM queue_jobs WHERE status = 'waiting') AS oldest_waiting,
       (SELECT COUNT(*) FROM queue_jobs WHERE status = 'executing' AND started_at IS NOT NULL)
       AS running,
       UTC_TIMESTAMP(6) AS db_now;

-- name: count_prunable
SELECT COUNT(*) AS count FROM queue_success WHERE completed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND;

-- name: prune_success
-- One batch at a time (the caller repeats until a batch comes back short).
DELETE FROM queue_success
WHERE completed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
ORDER BY id LIMIT %(batch)s;

-- name: change_marker
-- Counters that grow when a task becomes claimable, read every few milliseconds by hungry
-- workers on a connection of their own in place of PostgreSQL's NOTIFY: the newest id (a task
-- added; one primary-key lookup) and how many tasks wait, counted up to 100 through the claim
-- index (a task whose insert committed after a newer one's, a delayed task fallen due, a retry,
-- a task given back).
SELECT (SELECT MAX(id) FROM queue_jobs) AS newest,
       (SELECT COUNT(*) FROM (SELECT 1 FROM queue_jobs WHERE status = 'waiting' LIMIT 100) AS w)
       AS waiting;

-- name: session_limits
-- Set on every new connection (limits.py): the server interrupts a statement that runs too long,
-- fails a lock wait before that, and ends a session left idle inside a transaction (its client
-- went silent between two statements) so that its row locks are released. Seconds; 0: no limit
-- (innodb_lock_wait_timeout has no 0: its largest value, 100000000 s, stands for it).
SET SESSION max_statement_time = %(statement_s)s,
    innodb_lock_wait_timeout = IF(%(lock_s)s = 0, 100000000, %(lock_s)s),
    idle_transaction_timeout = %(idle_s)s;
