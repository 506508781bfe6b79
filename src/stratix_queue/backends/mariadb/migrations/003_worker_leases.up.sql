-- Leases with fencing, and the indexes that serve the worker's hot path (no partial indexes
-- here, so status leads each key; DESC keys need MySQL 8 / MariaDB 10.8+).
ALTER TABLE queue_jobs ADD COLUMN lease_token VARCHAR(64) NULL;
CREATE INDEX idx_queue_jobs_claim ON queue_jobs (status, priority DESC, run_at, id);
CREATE INDEX idx_queue_jobs_failed ON queue_jobs (status, failed_at);
CREATE INDEX idx_queue_jobs_executing ON queue_jobs (status, locked_until);
