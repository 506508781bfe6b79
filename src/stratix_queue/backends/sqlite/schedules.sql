-- Schedules (schedule_ops.py): queue_schedules, and the compare-and-set that enqueues a due
-- tick once. A write here runs inside BEGIN IMMEDIATE, which holds the database: two
-- schedulers run one after the other, and no row lock is needed.

-- name: schedule_clock
SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') AS db_now;

-- name: upsert_schedule
-- Create or replace. A replaced schedule keeps its status and last run, and its next_run_at
-- unless its cron or time zone changed (the values of SET are those of the row before).
INSERT INTO queue_schedules (name, cron, timezone, job_name, executor, payload, group_name,
                             priority, max_attempts, missed, status, next_run_at)
VALUES (:name, :cron, :timezone, :job_name, :executor, :payload, :group, :priority,
        :max_attempts, :missed, 'active', :next_run_at)
ON CONFLICT (name) DO UPDATE SET
    next_run_at = CASE WHEN cron = excluded.cron AND timezone = excluded.timezone
                       THEN next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron,
    timezone = excluded.timezone,
    job_name = excluded.job_name,
    executor = excluded.executor,
    payload = excluded.payload,
    group_name = excluded.group_name,
    priority = excluded.priority,
    max_attempts = excluded.max_attempts,
    missed = excluded.missed,
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now');

-- name: get_schedule
SELECT * FROM queue_schedules WHERE name = :name;

-- name: lock_schedule
SELECT * FROM queue_schedules WHERE name = :name;

-- name: list_schedules
SELECT * FROM queue_schedules ORDER BY name;

-- name: set_schedule_status
-- A schedule that resumes moves to :next_run_at (its next tick after now) when one is given.
UPDATE queue_schedules
SET next_run_at = CASE WHEN status = 'paused' AND :next_run_at IS NOT NULL
                       THEN :next_run_at ELSE next_run_at END,
    status = :status,
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE name = :name AND status <> :status;

-- name: delete_schedule
DELETE FROM queue_schedules WHERE name = :name;

-- name: record_schedule_run
-- A task enqueued by hand (run now): next_run_at stays.
UPDATE queue_schedules
SET last_run_at = strftime('%Y-%m-%d %H:%M:%f', 'now'), last_job_id = :job_id,
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE name = :name;

-- name: due_schedules
-- Through idx_queue_schedules_due (status, next_run_at).
SELECT s.*, strftime('%Y-%m-%d %H:%M:%f', 'now') AS db_now FROM queue_schedules s
WHERE s.status = 'active' AND s.next_run_at <= strftime('%Y-%m-%d %H:%M:%f', 'now')
ORDER BY s.next_run_at
LIMIT :limit;

-- name: advance_schedule
-- The compare-and-set: applies only if no other scheduler moved the schedule since :seen was
-- read (and it was not paused meanwhile).
UPDATE queue_schedules
SET next_run_at = :next_run_at, last_run_at = COALESCE(:ran_at, last_run_at),
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE name = :name AND next_run_at = :seen AND status = 'active';

-- name: set_schedule_job
UPDATE queue_schedules SET last_job_id = :job_id WHERE name = :name;
