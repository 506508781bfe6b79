-- Back to version 6: limits, timed pauses, breakers, schedules and unique keys go; the tasks
-- stay.
DROP TABLE queue_schedules;
ALTER TABLE queue_workers DROP COLUMN executors;
DROP TABLE queue_group_starts;
ALTER TABLE queue_groups
    DROP COLUMN concurrency_limit,
    DROP COLUMN rate_limit,
    DROP COLUMN rate_period,
    DROP COLUMN paused_until,
    DROP COLUMN pause_reason,
    DROP COLUMN breaker_threshold,
    DROP COLUMN breaker_min_tasks,
    DROP COLUMN breaker_window,
    DROP COLUMN breaker_cooldown,
    DROP COLUMN breaker_state,
    DROP COLUMN breaker_changed_at,
    DROP COLUMN probe_job_id;
ALTER TABLE queue_jobs
    DROP INDEX idx_queue_jobs_unique,
    DROP INDEX idx_queue_jobs_claim,
    DROP COLUMN unique_live,
    DROP COLUMN gate,
    DROP COLUMN unique_key,
    DROP COLUMN unique_failed,
    ADD INDEX idx_queue_jobs_claim (status, priority DESC, run_at, id);
