-- Back to the indexes of migrations 001, 003 and 004 (every row stays; only indexes change).
DROP INDEX idx_queue_jobs_group;
DROP INDEX idx_queue_jobs_delayed;
CREATE INDEX idx_queue_jobs_status_run_at ON queue_jobs (status, run_at);
CREATE INDEX idx_queue_jobs_group ON queue_jobs (group_name, status);
CREATE INDEX idx_queue_jobs_group_claim ON queue_jobs (group_name, priority DESC, run_at, id)
    WHERE status = 'waiting';
