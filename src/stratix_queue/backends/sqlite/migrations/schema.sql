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
    fingerprint VARCHAR(16),
    gate VARCHAR(255) NOT NULL DEFAULT '',
    unique_key VARCHAR(255),
    unique_failed SMALLINT NOT NULL DEFAULT 0,
    CONSTRAINT chk_queue_jobs_status
        CHECK (status IN ('waiting', 'executing', 'delayed', 'paused', 'failed'))
);
-- Partial indexes; status leads the keys where SQLite's planner needs it (see 005_leaner_indexes).
CREATE INDEX idx_queue_jobs_claim
    ON queue_jobs (status, gate, executor, priority DESC, run_at, id) WHERE status = 'waiting';
CREATE UNIQUE INDEX idx_queue_jobs_unique ON queue_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND (status <> 'failed' OR unique_failed = 1);
CREATE INDEX idx_queue_jobs_delayed ON queue_jobs (status, run_at) WHERE status = 'delayed';
CREATE INDEX idx_queue_jobs_executing ON queue_jobs (locked_until) WHERE status = 'executing';
CREATE INDEX idx_queue_jobs_failed ON queue_jobs (failed_at, id) WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_failed_executor ON queue_jobs (executor, failed_at, id)
    WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_failed_group ON queue_jobs (group_name, failed_at, id)
    WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_failed_code ON queue_jobs (error_code, failed_at, id)
    WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_failed_fingerprint ON queue_jobs (fingerprint, failed_at, id)
    WHERE status = 'failed';
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
    concurrency_limit INTEGER,
    rate_limit INTEGER,
    rate_period REAL,
    paused_until TIMESTAMP,
    pause_reason TEXT,
    breaker_threshold REAL,
    breaker_min_tasks INTEGER,
    breaker_window REAL,
    breaker_cooldown REAL,
    breaker_state VARCHAR(20),
    breaker_changed_at TIMESTAMP,
    probe_job_id BIGINT,
    CONSTRAINT chk_queue_groups_status CHECK (status IN ('active', 'paused'))
);

CREATE TABLE queue_workers (
    id VARCHAR(255) PRIMARY KEY,
    hostname VARCHAR(255) NOT NULL,
    pid INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    group_names TEXT,
    started_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    last_heartbeat_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    executors TEXT
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
    failed_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    fingerprint VARCHAR(16)
);
CREATE INDEX idx_queue_job_errors_job ON queue_job_errors (job_id, attempt);

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
    first_seen TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    sample_message TEXT,
    PRIMARY KEY (fingerprint, executor, group_name, error_code)
);

-- Discarded (failed) and cancelled (waiting, delayed, paused) tasks: the row as it was, its
-- last error, who removed it and why. Pruned by the worker after a retention period.
CREATE TABLE queue_removed (
    id BIGINT PRIMARY KEY,
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    group_name VARCHAR(255),
    payload TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    status VARCHAR(20) NOT NULL,
    outcome VARCHAR(20) NOT NULL,
    error_message TEXT,
    error_stack TEXT,
    error_code VARCHAR(100),
    fingerprint VARCHAR(16),
    created_at TIMESTAMP NOT NULL,
    failed_at TIMESTAMP,
    removed_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    removed_by VARCHAR(255) NOT NULL,
    reason TEXT,
    CONSTRAINT chk_queue_removed_outcome CHECK (outcome IN ('discarded', 'cancelled'))
);
CREATE INDEX idx_queue_removed_at ON queue_removed (removed_at);

-- A task's earlier payloads: each replaced by an operator (fix, then retry).
CREATE TABLE queue_payload_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT NOT NULL,
    payload TEXT NOT NULL,
    replaced_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    replaced_by VARCHAR(255) NOT NULL,
    reason TEXT
);
CREATE INDEX idx_queue_payload_history_job ON queue_payload_history (job_id, id);

-- Every operator action: when, who, what (a filter as its CLI line, or ids), how many, why.
CREATE TABLE queue_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    actor VARCHAR(255) NOT NULL,
    action VARCHAR(40) NOT NULL,
    target TEXT,
    count INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    plan_id BIGINT
);
CREATE INDEX idx_queue_audit_at ON queue_audit (at);

-- Bulk retries and discards as durable plans: the filter, the ids matched once (items), and
-- progress; each batch marks its items in the transaction that acts on the tasks.
CREATE TABLE queue_plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action VARCHAR(20) NOT NULL,
    filter TEXT NOT NULL,
    command TEXT NOT NULL,
    status VARCHAR(20) NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    rate REAL,
    batch_size INTEGER NOT NULL,
    actor VARCHAR(255) NOT NULL,
    reason TEXT,
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT chk_queue_plans_status
        CHECK (status IN ('planned', 'running', 'paused', 'done', 'aborted'))
);
CREATE TABLE queue_plan_items (
    plan_id BIGINT NOT NULL,
    job_id BIGINT NOT NULL,
    state VARCHAR(10) NOT NULL DEFAULT 'pending',
    PRIMARY KEY (plan_id, job_id)
);

-- Outcomes per minute, executor and group (rollups.py): successes per run-time bucket with
-- their total and longest run time; bucket -1 holds the other outcomes. Written by the
-- transactions that record the outcomes; '' is no group.
CREATE TABLE queue_rollups (
    minute TIMESTAMP NOT NULL,
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
);

-- Claims of rate-limited groups: how many started when (the window is read back from here).
CREATE TABLE queue_group_starts (
    group_name VARCHAR(255) NOT NULL,
    started_at TIMESTAMP NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX idx_queue_group_starts ON queue_group_starts (group_name, started_at);

-- Schedules: each tick enqueues one task (docs/flow_control.md).
CREATE TABLE queue_schedules (
    name VARCHAR(255) PRIMARY KEY,
    cron VARCHAR(255) NOT NULL,
    timezone VARCHAR(64) NOT NULL DEFAULT 'UTC',
    job_name VARCHAR(255) NOT NULL,
    executor VARCHAR(255) NOT NULL,
    payload TEXT NOT NULL,
    group_name VARCHAR(255),
    priority INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 1,
    missed VARCHAR(10) NOT NULL DEFAULT 'skip',
    status VARCHAR(20) NOT NULL DEFAULT 'active',
    next_run_at TIMESTAMP NOT NULL,
    last_run_at TIMESTAMP,
    last_job_id BIGINT,
    created_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    updated_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    CONSTRAINT chk_queue_schedules_missed CHECK (missed IN ('skip', 'once')),
    CONSTRAINT chk_queue_schedules_status CHECK (status IN ('active', 'paused'))
);
CREATE INDEX idx_queue_schedules_due ON queue_schedules (status, next_run_at);
