-- Production worker: per-task timeouts, a registry of live workers, and each attempt's error.
-- (group_names, not groups: GROUPS is a reserved word in MySQL 8.)
ALTER TABLE queue_jobs ADD COLUMN timeout_seconds DOUBLE NULL;
CREATE INDEX idx_queue_jobs_group_claim ON queue_jobs (status, group_name, priority DESC, run_at, id);

CREATE TABLE queue_workers (
    id VARCHAR(255) NOT NULL PRIMARY KEY,
    hostname VARCHAR(255) NOT NULL,
    pid INT NOT NULL,
    concurrency INT NOT NULL,
    group_names TEXT NULL,
    started_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_heartbeat_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY idx_queue_workers_heartbeat (last_heartbeat_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE queue_job_errors (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    attempt INT NOT NULL,
    error_message TEXT NULL,
    error_stack TEXT NULL,
    error_code VARCHAR(100) NULL,
    worker_id VARCHAR(255) NULL,
    failed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY idx_queue_job_errors_job (job_id, attempt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
