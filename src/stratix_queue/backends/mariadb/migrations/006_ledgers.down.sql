-- Back to version 5: the ledgers' tables go (counts, rollups, plans and audit are derived or
-- operator records); discarded and cancelled tasks stay gone from queue_jobs.
DROP TABLE queue_rollups;
DROP TABLE queue_plan_items;
DROP TABLE queue_plans;
DROP TABLE queue_audit;
DROP TABLE queue_payload_history;
DROP TABLE queue_removed;
DROP TABLE queue_failure_counts;
ALTER TABLE queue_job_errors DROP COLUMN fingerprint;
ALTER TABLE queue_jobs
    DROP INDEX idx_queue_jobs_failed_fingerprint,
    DROP INDEX idx_queue_jobs_failed_code,
    DROP INDEX idx_queue_jobs_failed_executor,
    DROP INDEX idx_queue_jobs_failed,
    ADD INDEX idx_queue_jobs_failed (status, failed_at),
    DROP COLUMN fingerprint;
