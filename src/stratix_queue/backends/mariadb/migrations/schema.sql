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
    fingerprint VARCHAR(16) NULL,
    gate VARCHAR(255) NOT NULL DEFAULT '',
    unique_key VARCHAR(255) NULL,
    unique_failed SMALLINT NOT NULL DEFAULT 0,
    unique_live VARCHAR(255)
        AS (CASE WHEN status <> 'failed' OR unique_failed = 1 THEN unique_key END) VIRTUAL,
    CONSTRAINT chk_queue_jobs_status
        CHECK (status IN ('waiting', 'executing', 'delayed', 'paused', 'failed')),
    KEY idx_queue_jobs_claim (status, gate, executor, priority DESC, run_at, id),
    UNIQUE KEY idx_queue_jobs_unique (unique_live),
    KEY idx_queue_jobs_status_run_at (status, run_at),
    KEY idx_queue_jobs_failed (failed_at),
    KEY idx_queue_jobs_failed_executor (executor, failed_at),
    KEY idx_queue_jobs_failed_code (error_code, failed_at),
    KEY idx_queue_jobs_failed_fingerprint (fingerprint, failed_at),
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
    concurrency_limit INT NULL,
    rate_limit INT NULL,
    rate_period DOUBLE NULL,
    paused_until DATETIME(6) NULL,
    pause_reason TEXT NULL,
    breaker_threshold DOUBLE NULL,
    breaker_min_tasks INT NULL,
    breaker_window DOUBLE NULL,
    breaker_cooldown DOUBLE NULL,
    breaker_state VARCHAR(20) NULL,
    breaker_changed_at DATETIME(6) NULL,
    probe_job_id BIGINT NULL,
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
    executors TEXT NULL,
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
    fingerprint VARCHAR(16) NULL,
    KEY idx_queue_job_errors_job (job_id, attempt)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The failed tasks counted per fingerprint, executor, group and code, kept up to date by the
-- transactions that fail a task and that take it out of failed (retry, discard); a row leaves
-- at zero. '' stands for no group, no code, or no fingerprint (a failure older than 006, until
-- it is fingerprinted). Stats read this table, never the failed rows.
CREATE TABLE queue_failure_counts (
    fingerprint VARCHAR(16) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255) NOT NULL,
    error_code VARCHAR(100) NOT NULL,
    failed BIGINT NOT NULL,
    first_seen DATETIME(6) NOT NULL,
    last_seen DATETIME(6) NOT NULL,
    sample_message TEXT NULL,
    PRIMARY KEY (fingerprint, executor, group_name, error_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Discarded (failed) and cancelled (waiting, delayed, paused) tasks: the row as it was, its
-- last error, who removed it and why. Pruned by the worker after a retention period.
CREATE TABLE queue_removed (
    id BIGINT NOT NULL PRIMARY KEY,
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255) NULL,
    payload LONGTEXT NOT NULL,
    priority INT NOT NULL,
    attempts INT NOT NULL,
    max_attempts INT NOT NULL,
    status VARCHAR(20) NOT NULL,
    outcome VARCHAR(20) NOT NULL,
    error_message TEXT NULL,
    error_stack TEXT NULL,
    error_code VARCHAR(100) NULL,
    fingerprint VARCHAR(16) NULL,
    created_at DATETIME(6) NOT NULL,
    failed_at DATETIME(6) NULL,
    removed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    removed_by VARCHAR(255) NOT NULL,
    reason TEXT NULL,
    CONSTRAINT chk_queue_removed_outcome CHECK (outcome IN ('discarded', 'cancelled')),
    KEY idx_queue_removed_at (removed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A task's earlier payloads: each replaced by an operator (fix, then retry).
CREATE TABLE queue_payload_history (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job_id BIGINT NOT NULL,
    payload LONGTEXT NOT NULL,
    replaced_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    replaced_by VARCHAR(255) NOT NULL,
    reason TEXT NULL,
    KEY idx_queue_payload_history_job (job_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every operator action: when, who, what (a filter as its CLI line, or ids), how many, why.
CREATE TABLE queue_audit (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    actor VARCHAR(255) NOT NULL,
    action VARCHAR(40) NOT NULL,
    target LONGTEXT NULL,
    count INT NOT NULL DEFAULT 0,
    reason TEXT NULL,
    plan_id BIGINT NULL,
    KEY idx_queue_audit_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Bulk retries and discards as durable plans: the filter, the ids matched once (items), and
-- progress; each batch marks its items in the transaction that acts on the tasks.
CREATE TABLE queue_plans (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    action VARCHAR(20) NOT NULL,
    filter TEXT NOT NULL,
    command TEXT NOT NULL,
    status VARCHAR(20) NOT NULL,
    total INT NOT NULL DEFAULT 0,
    done INT NOT NULL DEFAULT 0,
    skipped INT NOT NULL DEFAULT 0,
    rate DOUBLE NULL,
    batch_size INT NOT NULL,
    actor VARCHAR(255) NOT NULL,
    reason TEXT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT chk_queue_plans_status
        CHECK (status IN ('planned', 'running', 'paused', 'done', 'aborted'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE queue_plan_items (
    plan_id BIGINT NOT NULL,
    job_id BIGINT NOT NULL,
    state VARCHAR(10) NOT NULL DEFAULT 'pending',
    PRIMARY KEY (plan_id, job_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Outcomes per minute, executor and group (rollups.py): successes per run-time bucket with
-- their total and longest run time; bucket -1 holds the other outcomes. Written by the
-- transactions that record the outcomes; '' is no group.
CREATE TABLE queue_rollups (
    minute DATETIME(6) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255) NOT NULL,
    bucket SMALLINT NOT NULL,
    succeeded BIGINT NOT NULL DEFAULT 0,
    failed BIGINT NOT NULL DEFAULT 0,
    retried BIGINT NOT NULL DEFAULT 0,
    rescued BIGINT NOT NULL DEFAULT 0,
    cancelled BIGINT NOT NULL DEFAULT 0,
    run_ms_total BIGINT NOT NULL DEFAULT 0,
    run_ms_max BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, executor, group_name, bucket)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Claims of rate-limited groups: how many started when (the window is read back from here).
CREATE TABLE queue_group_starts (
    group_name VARCHAR(255) NOT NULL,
    started_at DATETIME(6) NOT NULL,
    count INT NOT NULL,
    KEY idx_queue_group_starts (group_name, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Schedules: each tick enqueues one task (docs/flow_control.md).
CREATE TABLE queue_schedules (
    name VARCHAR(255) NOT NULL PRIMARY KEY,
    cron VARCHAR(255) NOT NULL,
    timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    payload LONGTEXT NOT NULL,
    group_name VARCHAR(255) NULL,
    priority INT NOT NULL DEFAULT 0,
    max_attempts INT NOT NULL DEFAULT 1,
    missed VARCHAR(10) NOT NULL DEFAULT 'skip',
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    next_run_at DATETIME(6) NOT NULL,
    last_run_at DATETIME(6) NULL,
    last_job_id BIGINT NULL,
    created_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY idx_queue_schedules_due (status, next_run_at),
    CONSTRAINT chk_queue_schedules_missed CHECK (missed IN ('skip', 'once')),
    CONSTRAINT chk_queue_schedules_status CHECK (status IN ('active', 'paused'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
