DROP INDEX idx_queue_jobs_executing ON queue_jobs;
DROP INDEX idx_queue_jobs_failed ON queue_jobs;
DROP INDEX idx_queue_jobs_claim ON queue_jobs;
ALTER TABLE queue_jobs DROP COLUMN lease_token;
