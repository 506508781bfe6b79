-- Back to version 6: limits, timed pauses, breakers, schedules and unique keys go; the tasks
-- stay.
DROP TABLE queue_schedules;
ALTER TABLE queue_workers DROP COLUMN executors;
DROP TABLE queue_group_starts;
ALTER TABLE queue_groups DROP COLUMN concurrency_limit;
ALTER TABLE queue_groups DROP COLUMN rate_limit;
ALTER TABLE queue_groups DROP COLUMN rate_period;
ALTER TABLE queue_groups DROP COLUMN paused_until;
ALTER TABLE queue_groups DROP COLUMN pause_reason;
ALTER TABLE queue_groups DROP COLUMN breaker_threshold;
ALTER TABLE queue_groups DROP COLUMN breaker_min_tasks;
ALTER TABLE queue_groups DROP COLUMN breaker_window;
ALTER TABLE queue_groups DROP COLUMN breaker_cooldown;
ALTER TABLE queue_groups DROP COLUMN breaker_state;
ALTER TABLE queue_groups DROP COLUMN breaker_changed_at;
ALTER TABLE queue_groups DROP COLUMN probe_job_id;
DROP INDEX idx_queue_jobs_unique;
DROP INDEX idx_queue_jobs_claim;
ALTER TABLE queue_jobs DROP COLUMN gate;
ALTER TABLE queue_jobs DROP COLUMN unique_key;
ALTER TABLE queue_jobs DROP COLUMN unique_failed;
CREATE INDEX idx_queue_jobs_claim ON queue_jobs (status, priority DESC, run_at, id)
    WHERE status = 'waiting';
