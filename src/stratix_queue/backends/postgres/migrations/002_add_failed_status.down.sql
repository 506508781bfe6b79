-- Back to the pre-update layout without losing a row: failed tasks move to queue_failures.
CREATE TABLE queue_failures (
    id BIGINT PRIMARY KEY,
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255),
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 1,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    error_message TEXT,
    error_stack TEXT,
    error_code VARCHAR(100),
    created_at TIMESTAMP NOT NULL,
    failed_at TIMESTAMP NOT NULL DEFAULT timezone('UTC', now()),
    metadata TEXT
);
CREATE INDEX idx_queue_failures_failed ON queue_failures (failed_at);
INSERT INTO queue_failures (id, job_name, executor, group_name, payload, priority, attempts,
                            max_attempts, error_message, error_stack, error_code, created_at,
                            failed_at)
SELECT id, job_name, executor, group_name, payload, priority, attempts, max_attempts,
       error_message, error_stack, error_code, created_at, COALESCE(failed_at, updated_at)
FROM queue_jobs WHERE status = 'failed';
DELETE FROM queue_jobs WHERE status = 'failed';
ALTER TABLE queue_jobs DROP CONSTRAINT chk_queue_jobs_status;
ALTER TABLE queue_jobs ADD CONSTRAINT chk_queue_jobs_status
    CHECK (status IN ('waiting', 'executing', 'delayed', 'paused'));
ALTER TABLE queue_jobs
    DROP COLUMN error_message,
    DROP COLUMN error_stack,
    DROP COLUMN error_code,
    DROP COLUMN failed_at;
ALTER TABLE queue_success ADD COLUMN metadata TEXT;
