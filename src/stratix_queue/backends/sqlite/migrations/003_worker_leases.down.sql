DROP INDEX idx_queue_jobs_executing;
DROP INDEX idx_queue_jobs_failed;
DROP INDEX idx_queue_jobs_claim;
ALTER TABLE queue_jobs DROP COLUMN lease_token;
