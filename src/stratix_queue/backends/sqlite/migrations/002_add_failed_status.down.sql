-- Back to the pre-update layout without losing a row: failed tasks move to queue_failures.
CREATE TABLE queue_failures (
    id INTEGER PRIMARY KEY,
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
    failed_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    metadata TEXT
);
CREATE INDEX idx_queue_failures_failed ON queue_failures (failed_at);
INSERT INTO queue_failures (id, job_name, executor, group_name, payload, priority, attempts,
                            max_attempts, error_message, error_stack, error_code, created_at,
                            failed_at)
SELECT id, job_name, executor, group_name, payload, priority, attempts, max_attempts,
       error_message, error_stack, error_code, created_at,
       COALESCE(failed_at, updated_at)
FROM queue_jobs WHERE status = 'failed';
DELETE FROM queue_jobs WHERE status = 'failed';
CREATE TABLE queue_jobs_old (
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
    CONSTRAINT chk_queue_jobs_status CHECK (status IN ('waiting', 'executing', 'delayed', 'paused'))
);
INSERT INTO queue_jobs_old (id, job_name, executor, group_name, payload, status, priority,
                            attempts, max_attempts, run_at, created_at, updated_at,
                            started_at, locked_by, locked_until)
SELECT id, job_name, executor, group_name, payload, status, priority, attempts, max_attempts,
       run_at, created_at, updated_at, started_at, locked_by, locked_until
FROM queue_jobs;
DELETE FROM sqlite_sequence WHERE name = 'queue_jobs_old';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'queue_jobs_old', COALESCE(MAX(x), 0) FROM (
    SELECT seq AS x FROM sqlite_sequence WHERE name = 'queue_jobs'
    UNION ALL SELECT MAX(id) FROM queue_jobs_old
    UNION ALL SELECT MAX(id) FROM queue_failures
    UNION ALL SELECT MAX(id) FROM queue_success
);
DROP TABLE queue_jobs;
ALTER TABLE queue_jobs_old RENAME TO queue_jobs;
CREATE INDEX idx_queue_jobs_status_run_at ON queue_jobs (status, run_at);
CREATE INDEX idx_queue_jobs_group ON queue_jobs (group_name, status);
ALTER TABLE queue_success ADD COLUMN metadata TEXT;
