-- Flow control (docs/flow_control.md).
-- gate: the group whose limits a waiting task is claimed under ('' for none: the open lane).
-- unique_key holds while the task waits, is delayed, paused or executing, and while it is
-- failed if unique_failed is 1 (a success leaves queue_jobs and frees it). No partial indexes
-- here: unique_live is the key while it holds and NULL otherwise, and a unique index allows
-- any number of NULLs. The claim walks one lane at a time: gate, then executor (a worker
-- claims only the executors it has), in claim order. One statement: all or nothing.
ALTER TABLE queue_jobs
    ADD COLUMN gate VARCHAR(255) NOT NULL DEFAULT '',
    ADD COLUMN unique_key VARCHAR(255) NULL,
    ADD COLUMN unique_failed SMALLINT NOT NULL DEFAULT 0,
    ADD COLUMN unique_live VARCHAR(255)
        AS (CASE WHEN status <> 'failed' OR unique_failed = 1 THEN unique_key END) VIRTUAL,
    DROP INDEX idx_queue_jobs_claim,
    ADD INDEX idx_queue_jobs_claim (status, gate, executor, priority DESC, run_at, id),
    ADD UNIQUE INDEX idx_queue_jobs_unique (unique_live);

-- A group's limits, timed pause and breaker. NULL: not set.
ALTER TABLE queue_groups
    ADD COLUMN concurrency_limit INT NULL,
    ADD COLUMN rate_limit INT NULL,
    ADD COLUMN rate_period DOUBLE NULL,
    ADD COLUMN paused_until DATETIME(6) NULL,
    ADD COLUMN pause_reason TEXT NULL,
    ADD COLUMN breaker_threshold DOUBLE NULL,
    ADD COLUMN breaker_min_tasks INT NULL,
    ADD COLUMN breaker_window DOUBLE NULL,
    ADD COLUMN breaker_cooldown DOUBLE NULL,
    ADD COLUMN breaker_state VARCHAR(20) NULL,
    ADD COLUMN breaker_changed_at DATETIME(6) NULL,
    ADD COLUMN probe_job_id BIGINT NULL;

-- Claims of rate-limited groups: how many started when (the window is read back from here).
CREATE TABLE queue_group_starts (
    group_name VARCHAR(255) NOT NULL,
    started_at DATETIME(6) NOT NULL,
    count INT NOT NULL,
    KEY idx_queue_group_starts (group_name, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The executors each live worker has registered (a JSON array).
ALTER TABLE queue_workers ADD COLUMN executors TEXT NULL;

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
