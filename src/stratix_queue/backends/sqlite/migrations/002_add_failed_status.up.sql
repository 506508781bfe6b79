-- The seed's migration_add_failed_status. SQLite cannot alter a CHECK constraint, so
-- queue_jobs is rebuilt (create new, copy, drop, rename) inside the migration's transaction.
CREATE TABLE queue_jobs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255),
    payload TEXT NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'waiting',
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    run_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    started_at TIMESTAMP,
    locked_by VARCHAR(255),
    locked_until TIMESTAMP,
    error_message TEXT NULL,
    error_stack TEXT NULL,
    error_code VARCHAR(100) NULL,
    failed_at TIMESTAMP NULL,
    CONSTRAINT chk_queue_jobs_status
        CHECK (status IN ('waiting', 'executing', 'delayed', 'paused', 'failed'))
);
-- part: error_columns
INSERT INTO queue_jobs_new (id, job_name, executor, group_name, payload, status, priority,
                            attempts, max_attempts, run_at, created_at, updated_at,
                            started_at, locked_by, locked_until)
SELECT id, job_name, executor, group_name, payload, status, priority, attempts, max_attempts,
       run_at, created_at, updated_at, started_at, locked_by, locked_until
FROM queue_jobs;
-- part: failures
-- A task the old code copied to queue_failures but failed to delete is in both: it becomes
-- one failed row carrying the recorded error.
UPDATE queue_jobs_new
SET status = 'failed', error_message = f.error_message, error_stack = f.error_stack,
    error_code = f.error_code, failed_at = f.failed_at, locked_by = NULL, locked_until = NULL
FROM queue_failures AS f WHERE f.id = queue_jobs_new.id;
INSERT INTO queue_jobs_new (id, job_name, executor, group_name, payload, status, priority,
                            attempts, max_attempts, run_at, created_at, updated_at,
                            error_message, error_stack, error_code, failed_at)
SELECT f.id, f.job_name, f.executor, f.group_name, f.payload, 'failed', f.priority,
       f.attempts, f.max_attempts, f.failed_at, f.created_at, f.failed_at,
       f.error_message, f.error_stack, f.error_code, f.failed_at
FROM queue_failures AS f
WHERE NOT EXISTS (SELECT 1 FROM queue_jobs_new AS j WHERE j.id = f.id);
-- Keep the id counter past every id ever handed out, so no id is reused.
DELETE FROM sqlite_sequence WHERE name = 'queue_jobs_new';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'queue_jobs_new', COALESCE(MAX(x), 0) FROM (
    SELECT seq AS x FROM sqlite_sequence WHERE name = 'queue_jobs'
    UNION ALL SELECT MAX(id) FROM queue_jobs_new
    UNION ALL SELECT MAX(id) FROM queue_success
);
DROP TABLE queue_jobs;
ALTER TABLE queue_jobs_new RENAME TO queue_jobs;
CREATE INDEX idx_queue_jobs_status_run_at ON queue_jobs (status, run_at);
CREATE INDEX idx_queue_jobs_group ON queue_jobs (group_name, status);
DROP TABLE queue_failures;
-- part: success_without_metadata
ALTER TABLE queue_success DROP COLUMN metadata;
