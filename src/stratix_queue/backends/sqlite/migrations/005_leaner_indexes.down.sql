-- Back to the indexes of migrations 003 and 004 (every row stays; only indexes change).
DROP INDEX idx_queue_jobs_group;
DROP INDEX idx_queue_jobs_failed;
DROP INDEX idx_queue_jobs_executing;
DROP INDEX idx_queue_jobs_delayed;
DROP INDEX idx_queue_jobs_claim;
CREATE INDEX idx_queue_jobs_status_run_at ON queue_jobs (status, run_at);
CREATE INDEX idx_queue_jobs_group ON queue_jobs (group_name, status);
CREATE INDEX idx_queue_jobs_claim ON queue_jobs (status, priority DESC, run_at, id);
CREATE INDEX idx_queue_jobs_failed ON queue_jobs (status, failed_at);
CREATE INDEX idx_queue_jobs_executing ON queue_jobs (status, locked_until);
CREATE INDEX idx_queue_jobs_group_claim
    ON queue_jobs (status, group_name, priority DESC, run_at, id);
