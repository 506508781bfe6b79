-- Named queries for MySQL 8 / MariaDB 10.6+ (PyMySQL, named %(params)s; a literal percent is %%).
-- Every block name here exists in sqlite.sql and postgres.sql too.
-- Sessions run with time_zone '+00:00' and READ COMMITTED; timestamps are DATETIME(6) in UTC.
-- INSERT ... RETURNING is MariaDB syntax (10.5+); MySQL 8 lacks it (see docs/backends.md).

-- name: insert_jobs
INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                        status, run_at, created_at, updated_at)
VALUES {rows}
RETURNING *;

-- name: insert_job_row
(%(name__N__)s, %(executor__N__)s, %(group__N__)s, %(payload__N__)s, %(priority__N__)s,
 %(max_attempts__N__)s,
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
UPDATE queue_jobs
SET status = 'failed', error_message = %(message)s, error_stack = %(stack)s,
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
