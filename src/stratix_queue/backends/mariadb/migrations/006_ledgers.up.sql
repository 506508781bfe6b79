-- The failure ledger and the success ledger (docs/triage.md).
-- A fingerprint per failure (fingerprint.py): on the task while it is failed, and on each
-- attempt's error in the history.
-- Failed tasks page newest first by keyset (failed_at, id), alone or filtered by executor,
-- error code or fingerprint. No partial indexes here, so the keys hold no status: failed_at is
-- set only while a task is failed, and a claim (which changes status) rewrites none of them;
-- the (status, failed_at) index goes for the same reason. One statement: all or nothing.
ALTER TABLE queue_jobs
    ADD COLUMN fingerprint VARCHAR(16) NULL,
    DROP INDEX idx_queue_jobs_failed,
    ADD INDEX idx_queue_jobs_failed (failed_at),
    ADD INDEX idx_queue_jobs_failed_executor (executor, failed_at),
    ADD INDEX idx_queue_jobs_failed_code (error_code, failed_at),
    ADD INDEX idx_queue_jobs_failed_fingerprint (fingerprint, failed_at);
ALTER TABLE queue_job_errors ADD COLUMN fingerprint VARCHAR(16) NULL;

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
