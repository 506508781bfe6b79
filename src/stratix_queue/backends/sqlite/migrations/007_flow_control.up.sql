-- Flow control (docs/flow_control.md).
-- gate: the group whose limits a waiting task is claimed under ('' for none: the open lane).
-- unique_key holds while the task waits, is delayed, paused or executing, and while it is
-- failed if unique_failed is 1 (a success leaves queue_jobs and frees it).
ALTER TABLE queue_jobs ADD COLUMN gate VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE queue_jobs ADD COLUMN unique_key VARCHAR(255);
ALTER TABLE queue_jobs ADD COLUMN unique_failed SMALLINT NOT NULL DEFAULT 0;
-- The claim walks one lane at a time: gate, then executor (a worker claims only the executors
-- it has), in claim order.
DROP INDEX idx_queue_jobs_claim;
CREATE INDEX idx_queue_jobs_claim
    ON queue_jobs (status, gate, executor, priority DESC, run_at, id) WHERE status = 'waiting';
CREATE UNIQUE INDEX idx_queue_jobs_unique ON queue_jobs (unique_key)
    WHERE unique_key IS NOT NULL AND (status <> 'failed' OR unique_failed = 1);

-- A group's limits, timed pause and breaker. NULL: not set.
ALTER TABLE queue_groups ADD COLUMN concurrency_limit INTEGER;
ALTER TABLE queue_groups ADD COLUMN rate_limit INTEGER;
ALTER TABLE queue_groups ADD COLUMN rate_period REAL;
ALTER TABLE queue_groups ADD COLUMN paused_until TIMESTAMP;
ALTER TABLE queue_groups ADD COLUMN pause_reason TEXT;
ALTER TABLE queue_groups ADD COLUMN breaker_threshold REAL;
ALTER TABLE queue_groups ADD COLUMN breaker_min_tasks INTEGER;
ALTER TABLE queue_groups ADD COLUMN breaker_window REAL;
ALTER TABLE queue_groups ADD COLUMN breaker_cooldown REAL;
ALTER TABLE queue_groups ADD COLUMN breaker_state VARCHAR(20);
ALTER TABLE queue_groups ADD COLUMN breaker_changed_at TIMESTAMP;
ALTER TABLE queue_groups ADD COLUMN probe_job_id BIGINT;

-- Claims of rate-limited groups: how many started when (the window is read back from here).
CREATE TABLE queue_group_starts (
    group_name VARCHAR(255) NOT NULL,
    started_at TIMESTAMP NOT NULL,
    count INTEGER NOT NULL
);
CREATE INDEX idx_queue_group_starts ON queue_group_starts (group_name, started_at);

-- The executors each live worker has registered (a JSON array).
ALTER TABLE queue_workers ADD COLUMN executors TEXT;

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
