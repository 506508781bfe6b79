-- Fewer secondary indexes to write per task on the hot path (insert, claim, move to success):
-- MySQL/MariaDB have no partial indexes, so every index holds every row and a claim rewrites
-- each index that has status in its key. Four remain instead of six:
--   idx_queue_jobs_claim (status, priority DESC, run_at, id): claims; status counts;
--   idx_queue_jobs_status_run_at (status, run_at): promote_due, the oldest waiting task, and
--     the few executing rows that rescue and release_claim read (idx_queue_jobs_executing went);
--   idx_queue_jobs_failed (status, failed_at): failed listing newest first;
--   idx_queue_jobs_group (group_name, status, priority DESC, run_at, id): claims restricted to
--     groups, pause/resume and the per-group counts (replaces the two group indexes).
-- One statement, so a failure leaves the indexes as they were.
ALTER TABLE queue_jobs
    DROP INDEX idx_queue_jobs_executing,
    DROP INDEX idx_queue_jobs_group_claim,
    DROP INDEX idx_queue_jobs_group,
    ADD INDEX idx_queue_jobs_group (group_name, status, priority DESC, run_at, id);
