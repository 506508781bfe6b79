-- Production worker: per-task timeouts, a registry of live workers, and each attempt's error.
ALTER TABLE queue_jobs ADD COLUMN timeout_seconds REAL;
CREATE INDEX idx_queue_jobs_group_claim
    ON queue_jobs (status, group_name, priority DESC, run_at, id);

CREATE TABLE queue_workers (
    id VARCHAR(255) PRIMARY KEY,
    hostname VARCHAR(255) NOT NULL,
    pid INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    group_names TEXT,
    started_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    last_heartbeat_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX idx_queue_workers_heartbeat ON queue_workers (last_heartbeat_at);

CREATE TABLE queue_job_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT NOT NULL,
    attempt INTEGER NOT NULL,
    error_message TEXT,
    error_stack TEXT,
    error_code VARCHAR(100),
    worker_id VARCHAR(255),
    failed_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX idx_queue_job_errors_job ON queue_job_errors (job_id, attempt);
