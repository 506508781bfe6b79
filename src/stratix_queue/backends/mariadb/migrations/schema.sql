-- The latest schema in one script: what an empty database gets from `migrate` (and prints with
-- `migrate --sql`), recorded as every version. It must equal what the numbered migrations make
-- step by step (tests/migrations/test_schema_file.py checks it): a new migration changes both.
-- utf8mb4_bin: names compare exactly, as on SQLite and PostgreSQL. Times are UTC DATETIME(6).
-- No partial indexes here, so status leads the keys; DESC keys need MariaDB 10.8+ (see
-- 005_leaner_indexes for why these four).
CREATE TABLE queue_jobs (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255) NULL,
    payload LONGTEXT NOT NULL,
    status VARCHAR(20) NOT NULL DEFAULT 'waiting',
    priority INT NOT NULL DEFAULT 0,
    attempts INT NOT NULL DEFAULT 0,
    max_attempts INT NOT NULL DEFAULT 1,
    run_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    started_at DATETIME(6) NULL,
    locked_by VARCHAR(255) NULL,
    locked_until DATETIME(6) NULL,
    error_message TEXT NULL,
    error_stack TEXT NULL,
    error_code VARCHAR(100) NULL,
    failed_at DATETIME(6) NULL,
    lease_token VARCHAR(64) NULL,
    timeout_seconds DOUBLE NULL,
    CONSTRAINT chk_queue_jobs_status
        CHECK (status IN ('waiting', 'executing', 'delayed', 'paused', 'failed')),
    KEY idx_queue_jobs_claim (status, priority DESC, run_at, id),
    KEY idx_queue_jobs_status_run_at (status, run_at),
    KEY idx_queue_jobs_failed (status, failed_at),
    KEY idx_queue_jobs_group (group_name, status, priority DESC, run_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE queue_success (
    id BIGINT NOT NULL PRIMARY KEY,
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255) NULL,
    payload LONGTEXT NOT NULL,
    priority INT NOT NULL DEFAULT 0,
    attempts INT NOT NULL DEFAULT 1,
    execution_time INT NULL,
    created_at DATETIME(6) NOT NULL,
    started_at DATETIME(6) NULL,
    completed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY idx_queue_success_completed (completed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE queue_groups (
    group_name VARCHAR(255) NOT NULL PRIMARY KEY,
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT chk_queue_groups_status CHECK (status IN ('active', 'paused'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

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
