-- Leases with fencing, and the indexes that serve the worker's hot path. Status leads each key
-- (SQLite's planner passes over partial indexes without statistics and sorts the backlog).
ALTER TABLE queue_jobs ADD COLUMN lease_token VARCHAR(64);
CREATE INDEX idx_queue_jobs_claim ON queue_jobs (status, priority DESC, run_at, id);
CREATE INDEX idx_queue_jobs_failed ON queue_jobs (status, failed_at);
CREATE INDEX idx_queue_jobs_executing ON queue_jobs (status, locked_until);
