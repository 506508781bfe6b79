-- Back to the indexes of migrations 001, 003 and 004 (every row stays; only indexes change).
ALTER TABLE queue_jobs
    DROP INDEX idx_queue_jobs_group,
    ADD INDEX idx_queue_jobs_group (group_name, status),
    ADD INDEX idx_queue_jobs_executing (status, locked_until),
    ADD INDEX idx_queue_jobs_group_claim (status, group_name, priority DESC, run_at, id);
