-- The seed's migration_add_failed_status, run in one transaction.
-- part: error_columns
ALTER TABLE queue_jobs
    ADD COLUMN error_message TEXT NULL,
    ADD COLUMN error_stack TEXT NULL,
    ADD COLUMN error_code VARCHAR(100) NULL,
    ADD COLUMN failed_at TIMESTAMP NULL;
-- part: failed_status
-- (IF EXISTS: a hand run may have dropped it and stopped before adding it again)
ALTER TABLE queue_jobs DROP CONSTRAINT IF EXISTS chk_queue_jobs_status;
ALTER TABLE queue_jobs ADD CONSTRAINT chk_queue_jobs_status
    CHECK (status IN ('waiting', 'executing', 'delayed', 'paused', 'failed'));
-- part: failures
-- A task the old code copied to queue_failures but failed to delete is in both: it becomes
-- one failed row carrying the recorded error.
UPDATE queue_jobs AS j
SET status = 'failed', error_message = f.error_message, error_stack = f.error_stack,
    error_code = f.error_code, failed_at = f.failed_at, locked_by = NULL, locked_until = NULL
FROM queue_failures AS f WHERE f.id = j.id;
INSERT INTO queue_jobs (id, job_name, executor, group_name, payload, status, priority,
                        attempts, max_attempts, run_at, created_at, updated_at,
                        error_message, error_stack, error_code, failed_at)
SELECT f.id, f.job_name, f.executor, f.group_name, f.payload, 'failed', f.priority,
       f.attempts, f.max_attempts, f.failed_at, f.created_at, f.failed_at,
       f.error_message, f.error_stack, f.error_code, f.failed_at
FROM queue_failures AS f
WHERE NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = f.id);
-- Move the id generator past every id in use, so no new task reuses the id of an old failure
-- or success (legacy rows may have been written with explicit ids).
-- (is_called is false when no id was ever used, so an empty database still starts at 1)
SELECT setval(pg_get_serial_sequence('queue_jobs', 'id'), GREATEST(used.id, 1), used.id > 0)
FROM (SELECT GREATEST(
    (SELECT COALESCE(MAX(id), 0) FROM queue_jobs),
    (SELECT COALESCE(MAX(id), 0) FROM queue_success),
    COALESCE(pg_sequence_last_value(pg_get_serial_sequence('queue_jobs', 'id')::regclass), 0)
) AS id) AS used;
DROP TABLE queue_failures;
-- part: success_without_metadata
ALTER TABLE queue_success DROP COLUMN IF EXISTS metadata;
