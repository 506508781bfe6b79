DROP TABLE queue_job_errors;
DROP TABLE queue_workers;
DROP INDEX idx_queue_jobs_group_claim;
ALTER TABLE queue_jobs DROP COLUMN timeout_seconds;
