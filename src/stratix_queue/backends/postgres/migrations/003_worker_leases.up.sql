-- Leases with fencing, and partial indexes that serve the worker's hot path.
ALTER TABLE queue_jobs ADD COLUMN lease_token VARCHAR(64);
CREATE INDEX idx_queue_jobs_claim ON queue_jobs (priority DESC, run_at, id)
    WHERE status = 'waiting';
CREATE INDEX idx_queue_jobs_failed ON queue_jobs (failed_at) WHERE status = 'failed';
CREATE INDEX idx_queue_jobs_executing ON queue_jobs (locked_until) WHERE status = 'executing';
