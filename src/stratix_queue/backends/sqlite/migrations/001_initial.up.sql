-- The pre-update layout (the seed's "before"): no 'failed' status, no error columns,
-- queue_success.metadata, and failed tasks copied to a separate queue_failures table.
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
    CONSTRAINT chk_queue_jobs_status CHECK (status IN ('waiting', 'executing', 'delayed', 'paused'))
);
CREATE INDEX idx_queue_jobs_status_run_at ON queue_jobs (status, run_at);
CREATE INDEX idx_queue_jobs_group ON queue_jobs (group_name, status);

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
    completed_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    metadata TEXT
);
CREATE INDEX idx_queue_success_completed ON queue_success (completed_at);

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

CREATE TABLE queue_groups (
    group_name VARCHAR(255) PRIMARY KEY,
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    updated_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT chk_queue_groups_status CHECK (status IN ('active', 'paused'))
);
