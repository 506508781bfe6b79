-- The latest schema in one script: what an empty database gets from `migrate` (and prints with
-- `migrate --sql`), recorded as every version. It must equal what the numbered migrations make
-- step by step (tests/migrations/test_schema_file.py checks it): a new migration changes both.
CREATE TABLE queue_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- AUTOINCREMENT: ids are never reused
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
    lease_token VARCHAR(64),
    timeout_seconds REAL,
    CONSTRAINT chk_queue_jobs_status
        CHECK (status IN ('waiting', 'executing', 'delayed', 'paused', 'failed'))
);
-- Partial indexes; status leads the keys where SQLite's planner needs it (see 005_leaner_indexes).
CREATE INDEX idx_queue_jobs_claim ON queue_jobs (status, priority DESC, run_at, id)
    WHERE status = 'waiting';
CREATE INDEX idx_queue_jobs_delayed ON queue_jobs (status, run_at) WHERE status = 'delayed';
CREATE INDEX idx_queue_jobs_executing ON queue_jobs (locked_until) WHERE status = 'executing';
CREATE INDEX idx_queue_jobs_failed ON queue_jobs (status, failed_at) WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_group ON queue_jobs (group_name, status, priority DESC, run_at, id)
    WHERE group_name IS NOT NULL;

CREATE TABLE queue_success (
    id INTEGER PRIMARY KEY,
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255),
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 1,
    execution_time INTEGER,
    created_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    completed_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now'))
);
CREATE INDEX idx_queue_success_completed ON queue_success (completed_at);

CREATE TABLE queue_groups (
    group_name VARCHAR(255) PRIMARY KEY,
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    updated_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT chk_queue_groups_status CHECK (status IN ('active', 'paused'))
);

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
