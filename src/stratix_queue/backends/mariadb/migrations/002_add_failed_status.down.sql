-- Back to the pre-update layout without losing a row: failed tasks move to queue_failures.
CREATE TABLE queue_failures (
    id BIGINT NOT NULL PRIMARY KEY,
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255) NULL,
    payload LONGTEXT NOT NULL,
    priority INT NOT NULL DEFAULT 0,
    attempts INT NOT NULL DEFAULT 1,
    max_attempts INT NOT NULL DEFAULT 1,
    error_message TEXT NULL,
    error_stack TEXT NULL,
    error_code VARCHAR(100) NULL,
    created_at DATETIME(6) NOT NULL,
    failed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    metadata LONGTEXT NULL,
    KEY idx_queue_failures_failed (failed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
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
ALTER TABLE queue_success ADD COLUMN metadata LONGTEXT NULL;
