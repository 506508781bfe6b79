-- The failure ledger and the success ledger (docs/triage.md).
-- A fingerprint per failure (fingerprint.py): on the task while it is failed, and on each
-- attempt's error in the history.
ALTER TABLE queue_jobs ADD COLUMN fingerprint VARCHAR(16);
ALTER TABLE queue_job_errors ADD COLUMN fingerprint VARCHAR(16);
-- Failed tasks page newest first by keyset (failed_at, id), alone or filtered by executor,
-- group, error code or fingerprint: one partial index each, holding failed rows only (a claim
-- or a success never writes to them).
DROP INDEX idx_queue_jobs_failed;
CREATE INDEX idx_queue_jobs_failed ON queue_jobs (failed_at, id) WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_failed_executor ON queue_jobs (executor, failed_at, id)
    WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_failed_group ON queue_jobs (group_name, failed_at, id)
    WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_failed_code ON queue_jobs (error_code, failed_at, id)
    WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_failed_fingerprint ON queue_jobs (fingerprint, failed_at, id)
    WHERE status = 'failed';

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
INSERT INTO queue_failure_counts (fingerprint, executor, group_name, error_code, failed,
                                  first_seen, last_seen, sample_message)
SELECT COALESCE(fingerprint, ''), executor, COALESCE(group_name, ''), COALESCE(error_code, ''),
       COUNT(*), MIN(COALESCE(failed_at, updated_at)), MAX(COALESCE(failed_at, updated_at)),
       MAX(error_message)
FROM queue_jobs WHERE status = 'failed'
GROUP BY COALESCE(fingerprint, ''), executor, COALESCE(group_name, ''), COALESCE(error_code, '');

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
