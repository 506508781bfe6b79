-- Named queries for MySQL 8 / MariaDB 10.6+ (PyMySQL, named %(params)s; a literal percent is %%).
-- Every block name here exists in sqlite.sql and postgres.sql too.
-- Sessions run with time_zone '+00:00' and READ COMMITTED; timestamps are DATETIME(6) in UTC.
-- INSERT ... RETURNING is MariaDB syntax (10.5+); MySQL 8 lacks it (see docs/backends.md).

-- name: insert_jobs
INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                        timeout_seconds, status, run_at, created_at, updated_at)
VALUES {rows}
RETURNING *;

-- name: insert_job_row
(%(name__N__)s, %(executor__N__)s, %(group__N__)s, %(payload__N__)s, %(priority__N__)s,
 %(max_attempts__N__)s, %(timeout__N__)s,
 CASE WHEN EXISTS (SELECT 1 FROM queue_groups g
                   WHERE g.group_name = %(group__N__)s AND g.status = 'paused') THEN 'paused'
      WHEN %(delayed__N__)s THEN 'delayed' ELSE 'waiting' END,
 COALESCE(%(run_at__N__)s,
          UTC_TIMESTAMP(6) + INTERVAL ROUND(%(delay__N__)s * 1000000) MICROSECOND),
 UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))

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

-- name: claim_jobs
-- No UPDATE ... RETURNING here: lock the ids with SKIP LOCKED, mark them, then read them back,
-- all in one transaction. {ids} is the list the previous statement returned.
SELECT id FROM queue_jobs
WHERE status = 'waiting'
ORDER BY priority DESC, run_at, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;
UPDATE queue_jobs
SET status = 'executing', attempts = attempts + 1, locked_by = %(worker_id)s,
    lease_token = %(lease_token)s,
    locked_until = UTC_TIMESTAMP(6) + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND,
    started_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6)
WHERE id IN ({ids});
SELECT * FROM queue_jobs WHERE id IN ({ids});

-- name: move_to_success
-- Two statements in one transaction; both must touch exactly one row or it rolls back (under
-- READ COMMITTED the INSERT reads a snapshot; the DELETE's locking read re-checks the fence).
INSERT INTO queue_success (id, job_name, executor, group_name, payload, priority, attempts,
                           execution_time, created_at, started_at, completed_at)
SELECT id, job_name, executor, group_name, payload, priority, attempts, %(execution_time)s,
       created_at, started_at, UTC_TIMESTAMP(6)
FROM queue_jobs WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;
DELETE FROM queue_jobs WHERE id = %(id)s AND status = %(status)s
  AND lease_token <=> %(lease_token)s;

-- name: mark_as_failed
-- The attempt's error joins the history in the same transaction (both fenced).
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at)
SELECT id, attempts, %(message)s, %(stack)s, %(code)s, locked_by, UTC_TIMESTAMP(6)
FROM queue_jobs WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;
UPDATE queue_jobs
SET status = 'failed', error_message = %(message)s, error_stack = %(stack)s,
    error_code = %(code)s, failed_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6),
    locked_by = NULL, locked_until = NULL, lease_token = NULL
WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;

-- name: retry_later
-- The attempt's error joins the history in the same transaction (both fenced).
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at)
SELECT id, attempts, %(message)s, %(stack)s, %(code)s, locked_by, UTC_TIMESTAMP(6)
FROM queue_jobs WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;
UPDATE queue_jobs
SET status = 'delayed', error_message = %(message)s, error_stack = %(stack)s,
    error_code = %(code)s,
    run_at = UTC_TIMESTAMP(6) + INTERVAL ROUND(%(delay)s * 1000000) MICROSECOND,
    updated_at = UTC_TIMESTAMP(6),
    locked_by = NULL, locked_until = NULL, lease_token = NULL
WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;

-- name: promote_due
UPDATE queue_jobs SET status = 'waiting', updated_at = UTC_TIMESTAMP(6)
WHERE status = 'delayed' AND run_at <= UTC_TIMESTAMP(6);

-- name: retry_failed
-- The locking read sees the latest committed status, so two concurrent retries of one task
-- return it once between them.
SELECT id, job_name, executor FROM queue_jobs
WHERE id IN ({ids}) AND status = 'failed'
FOR UPDATE;
UPDATE queue_jobs AS j
LEFT JOIN queue_groups AS g ON g.group_name = j.group_name AND g.status = 'paused'
SET j.status = IF(g.group_name IS NULL, 'waiting', 'paused'),
    j.attempts = 0, j.error_message = NULL, j.error_stack = NULL, j.error_code = NULL,
    j.failed_at = NULL, j.locked_by = NULL, j.locked_until = NULL, j.lease_token = NULL,
    j.run_at = UTC_TIMESTAMP(6), j.updated_at = UTC_TIMESTAMP(6)
WHERE j.id IN ({ids}) AND j.status = 'failed';

-- name: pause_group
INSERT INTO queue_groups (group_name, status, updated_at)
VALUES (%(group)s, 'paused', UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE status = 'paused', updated_at = UTC_TIMESTAMP(6);
UPDATE queue_jobs SET status = 'paused', updated_at = UTC_TIMESTAMP(6)
WHERE group_name = %(group)s AND status IN ('waiting', 'delayed');

-- name: resume_group
INSERT INTO queue_groups (group_name, status, updated_at)
VALUES (%(group)s, 'active', UTC_TIMESTAMP(6))
ON DUPLICATE KEY UPDATE status = 'active', updated_at = UTC_TIMESTAMP(6);
UPDATE queue_jobs
SET status = IF(run_at > UTC_TIMESTAMP(6), 'delayed', 'waiting'),
    updated_at = UTC_TIMESTAMP(6)
WHERE group_name = %(group)s AND status = 'paused';

-- name: table_exists
SELECT 1 AS present FROM information_schema.tables
WHERE table_schema = DATABASE() AND table_name = %(table)s;

-- name: create_migrations_table
CREATE TABLE IF NOT EXISTS stratix_queue_migrations (
    version INT PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- name: applied_migrations
SELECT version, name, applied_at FROM stratix_queue_migrations ORDER BY version;

-- name: record_migration
INSERT INTO stratix_queue_migrations (version, name) VALUES (%(version)s, %(name)s);

-- name: forget_migration
DELETE FROM stratix_queue_migrations WHERE version = %(version)s;

-- name: lock_migrations
-- A named server lock: one migrator at a time per server (DDL cannot run in a transaction).
SELECT GET_LOCK(CONCAT('stratix_queue_migrate:', DATABASE()), 600) AS locked;

-- name: unlock_migrations
SELECT RELEASE_LOCK(CONCAT('stratix_queue_migrate:', DATABASE())) AS unlocked;

-- name: claim_jobs_in_groups
-- A worker restricted to some groups ({groups} expands to one placeholder per group).
SELECT id FROM queue_jobs
WHERE status = 'waiting' AND group_name IN ({groups})
ORDER BY priority DESC, run_at, id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;
UPDATE queue_jobs
SET status = 'executing', attempts = attempts + 1, locked_by = %(worker_id)s,
    lease_token = %(lease_token)s,
    locked_until = UTC_TIMESTAMP(6) + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND,
    started_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6)
WHERE id IN ({ids});
SELECT * FROM queue_jobs WHERE id IN ({ids});

-- name: heartbeat_jobs
-- Renew the leases of the tasks this worker is running, fenced by their lease tokens: a task
-- it claimed without learning so (a reply lost with the connection) is not renewed.
UPDATE queue_jobs SET locked_until = UTC_TIMESTAMP(6) + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND
WHERE id IN ({ids}) AND lease_token IN ({tokens}) AND status = 'executing';

-- name: give_back
-- Graceful shutdown: an unfinished task returns to waiting, its interrupted attempt not counted.
UPDATE queue_jobs
SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g WHERE g.group_name = queue_jobs.group_name
                               AND g.status = 'paused') THEN 'paused' ELSE 'waiting' END,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = UTC_TIMESTAMP(6)
WHERE id = %(id)s AND status = %(status)s AND lease_token <=> %(lease_token)s;

-- name: register_worker
INSERT INTO queue_workers (id, hostname, pid, concurrency, group_names, started_at,
                           last_heartbeat_at)
VALUES (%(worker_id)s, %(hostname)s, %(pid)s, %(concurrency)s, %(group_names)s, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6));

-- name: heartbeat_worker
UPDATE queue_workers SET last_heartbeat_at = UTC_TIMESTAMP(6) WHERE id = %(worker_id)s;

-- name: unregister_worker
DELETE FROM queue_workers WHERE id = %(worker_id)s;

-- name: prune_workers
DELETE FROM queue_workers WHERE last_heartbeat_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(stale_seconds)s * 1000000) MICROSECOND;

-- name: list_workers
SELECT * FROM queue_workers ORDER BY started_at, id;

-- name: list_attempt_errors
SELECT * FROM queue_job_errors WHERE job_id = %(id)s ORDER BY attempt, id;

-- name: rescue_expired
-- Tasks whose lease ran out (the database's clock decides): back to waiting with the attempt
-- counted, or failed with WORKER_LOST once attempts are used up. SKIP LOCKED: two rescuers
-- never wait on each other. Returns the rows as they were before the update.
SELECT id, job_name, executor, group_name, attempts, max_attempts, locked_by FROM queue_jobs
WHERE status = 'executing' AND locked_until < UTC_TIMESTAMP(6)
ORDER BY locked_until LIMIT 500 FOR UPDATE SKIP LOCKED;
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at)
SELECT id, attempts, %(message)s, NULL, 'WORKER_LOST', locked_by, UTC_TIMESTAMP(6)
FROM queue_jobs WHERE id IN ({ids});
UPDATE queue_jobs
SET status = CASE WHEN attempts >= max_attempts THEN 'failed'
                  WHEN EXISTS (SELECT 1 FROM queue_groups g
                               WHERE g.group_name = queue_jobs.group_name
                                 AND g.status = 'paused') THEN 'paused'
                  ELSE 'waiting' END,
    error_message = %(message)s, error_stack = NULL, error_code = 'WORKER_LOST',
    failed_at = CASE WHEN attempts >= max_attempts THEN UTC_TIMESTAMP(6) ELSE NULL END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = UTC_TIMESTAMP(6)
WHERE id IN ({ids}) AND status = 'executing';

-- name: notify_added
-- Only PostgreSQL has LISTEN/NOTIFY; elsewhere workers poll (never run on this backend).
SELECT 1 AS notified;

-- name: listen
-- Only PostgreSQL has LISTEN/NOTIFY (never run on this backend).
SELECT 1 AS listening;

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

-- name: move_many_to_success
-- A batch of successes in one transaction. %(items)s is JSON [[id, lease_token, ms], ...]; the
-- fenced rows are locked first, then copied and deleted by id; their ids are returned.
SELECT j.id FROM JSON_TABLE(%(items)s, '$[*]' COLUMNS (
        id BIGINT PATH '$[0]', token VARCHAR(64) PATH '$[1]')) AS d
JOIN queue_jobs AS j ON j.id = d.id
WHERE j.status = 'executing' AND j.lease_token = d.token
FOR UPDATE;
INSERT INTO queue_success (id, job_name, executor, group_name, payload, priority, attempts,
                           execution_time, created_at, started_at, completed_at)
SELECT j.id, j.job_name, j.executor, j.group_name, j.payload, j.priority, j.attempts, d.ms,
       j.created_at, j.started_at, UTC_TIMESTAMP(6)
FROM JSON_TABLE(%(items)s, '$[*]' COLUMNS (id BIGINT PATH '$[0]', ms INT PATH '$[2]')) AS d
JOIN queue_jobs AS j ON j.id = d.id
WHERE j.id IN ({ids});
DELETE FROM queue_jobs WHERE id IN ({ids});

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
       UTC_TIMESTAMP(6) AS db_now;

-- name: count_prunable
SELECT COUNT(*) AS count FROM queue_success WHERE completed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND;

-- name: prune_success
-- One batch at a time (the caller repeats until a batch comes back short).
DELETE FROM queue_success
WHERE completed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
ORDER BY id LIMIT %(batch)s;

-- name: prune_attempt_errors
-- The attempt history of tasks that left queue_jobs (succeeded, then pruned) ages out too.
DELETE FROM queue_job_errors
WHERE failed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
  AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = queue_job_errors.job_id);

-- name: data_version
-- SQLite only (PostgreSQL has LISTEN/NOTIFY; MySQL/MariaDB poll): never run here.
SELECT 1 AS data_version;
