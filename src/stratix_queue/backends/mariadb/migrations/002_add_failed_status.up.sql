-- The seed's migration_add_failed_status. MySQL and MariaDB commit each DDL statement on its
-- own: if one fails, those before it stay applied and the version is not recorded.
-- failed_at is DATETIME(6) like every time column here (UTC, as TIMESTAMP is in PostgreSQL):
-- a MySQL TIMESTAMP would convert by the session time zone when copied from DATETIME.
-- part: error_columns
ALTER TABLE queue_jobs
    ADD COLUMN error_message TEXT NULL,
    ADD COLUMN error_stack TEXT NULL,
    ADD COLUMN error_code VARCHAR(100) NULL,
    ADD COLUMN failed_at DATETIME(6) NULL;
-- part: failed_status
-- (IF EXISTS: a hand run may have dropped it and stopped before adding it again)
ALTER TABLE queue_jobs DROP CONSTRAINT IF EXISTS chk_queue_jobs_status;
ALTER TABLE queue_jobs ADD CONSTRAINT chk_queue_jobs_status
    CHECK (status IN ('waiting', 'executing', 'delayed', 'paused', 'failed'));
-- part: failures
-- A task the old code copied to queue_failures but failed to delete is in both: it becomes
-- one failed row carrying the recorded error.
UPDATE queue_jobs AS j JOIN queue_failures AS f ON f.id = j.id
SET j.status = 'failed', j.error_message = f.error_message, j.error_stack = f.error_stack,
    j.error_code = f.error_code, j.failed_at = f.failed_at, j.locked_by = NULL,
    j.locked_until = NULL;
INSERT INTO queue_jobs (id, job_name, executor, group_name, payload, status, priority,
                        attempts, max_attempts, run_at, created_at, updated_at,
                        error_message, error_stack, error_code, failed_at)
SELECT f.id, f.job_name, f.executor, f.group_name, f.payload, 'failed', f.priority,
       f.attempts, f.max_attempts, f.failed_at, f.created_at, f.failed_at,
       f.error_message, f.error_stack, f.error_code, f.failed_at
FROM queue_failures AS f
WHERE NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = f.id);
-- Move the id counter past every id in use, so no new task reuses the id of an old failure or
-- success (legacy rows may have been written with explicit ids). ALTER needs a literal number.
SET @stratix_next_id = 1 + GREATEST(
    COALESCE((SELECT MAX(id) FROM queue_jobs), 0),
    COALESCE((SELECT MAX(id) FROM queue_success), 0));
SET @stratix_alter = CONCAT('ALTER TABLE queue_jobs AUTO_INCREMENT = ', @stratix_next_id);
PREPARE stratix_alter_stmt FROM @stratix_alter;
EXECUTE stratix_alter_stmt;
DEALLOCATE PREPARE stratix_alter_stmt;
DROP TABLE queue_failures;
-- part: success_without_metadata
ALTER TABLE queue_success DROP COLUMN metadata;
