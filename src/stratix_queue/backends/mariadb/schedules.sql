-- Schedules (schedule_ops.py): queue_schedules, and the compare-and-set that enqueues a due
-- tick once. An UPDATE reads the latest committed row (a locking read, whatever the
-- isolation): the second of two schedulers waits for the first's row lock, then finds
-- next_run_at moved on and matches nothing.

-- name: schedule_clock
SELECT UTC_TIMESTAMP(6) AS db_now;

-- name: upsert_schedule
-- Create or replace. A replaced schedule keeps its status and last run, and its next_run_at
-- unless its cron or time zone changed. MariaDB assigns left to right, each assignment seeing
-- the ones before it: next_run_at comes first, while cron and timezone are still the old ones.
INSERT INTO queue_schedules (name, cron, timezone, job_name, executor, payload, group_name,
                             priority, max_attempts, missed, status, next_run_at)
VALUES (%(name)s, %(cron)s, %(timezone)s, %(job_name)s, %(executor)s, %(payload)s, %(group)s,
        %(priority)s, %(max_attempts)s, %(missed)s, 'active', %(next_run_at)s)
ON DUPLICATE KEY UPDATE
    next_run_at = IF(cron = VALUES(cron) AND timezone = VALUES(timezone),
                     next_run_at, VALUES(next_run_at)),
    cron = VALUES(cron),
    timezone = VALUES(timezone),
    job_name = VALUES(job_name),
    executor = VALUES(executor),
    payload = VALUES(payload),
    group_name = VALUES(group_name),
    priority = VALUES(priority),
    max_attempts = VALUES(max_attempts),
    missed = VALUES(missed),
    updated_at = UTC_TIMESTAMP(6);

-- name: get_schedule
SELECT * FROM queue_schedules WHERE name = %(name)s;

-- name: lock_schedule
SELECT * FROM queue_schedules WHERE name = %(name)s FOR UPDATE;

-- name: list_schedules
SELECT * FROM queue_schedules ORDER BY name;

-- name: set_schedule_status
-- A schedule that resumes moves to %(next_run_at)s (its next tick after now) when one is
-- given; next_run_at is assigned first, while status is still the old one.
UPDATE queue_schedules
SET next_run_at = IF(status = 'paused' AND %(next_run_at)s IS NOT NULL,
                     %(next_run_at)s, next_run_at),
    status = %(status)s,
    updated_at = UTC_TIMESTAMP(6)
WHERE name = %(name)s AND status <> %(status)s;

-- name: delete_schedule
DELETE FROM queue_schedules WHERE name = %(name)s;

-- name: record_schedule_run
-- A task enqueued by hand (run now): next_run_at stays.
UPDATE queue_schedules
SET last_run_at = UTC_TIMESTAMP(6), last_job_id = %(job_id)s, updated_at = UTC_TIMESTAMP(6)
WHERE name = %(name)s;

-- name: due_schedules
-- Through idx_queue_schedules_due (status, next_run_at).
SELECT s.*, UTC_TIMESTAMP(6) AS db_now FROM queue_schedules s
WHERE s.status = 'active' AND s.next_run_at <= UTC_TIMESTAMP(6)
ORDER BY s.next_run_at
LIMIT %(limit)s;

-- name: advance_schedule
-- The compare-and-set: applies only if no other scheduler moved the schedule since %(seen)s
-- was read (and it was not paused meanwhile).
UPDATE queue_schedules
SET next_run_at = %(next_run_at)s, last_run_at = COALESCE(%(ran_at)s, last_run_at),
    updated_at = UTC_TIMESTAMP(6)
WHERE name = %(name)s AND next_run_at = %(seen)s AND status = 'active';

-- name: set_schedule_job
UPDATE queue_schedules SET last_job_id = %(job_id)s WHERE name = %(name)s;
