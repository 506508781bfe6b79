-- Schedules (schedule_ops.py): queue_schedules, and the compare-and-set that enqueues a due
-- tick once. Under READ COMMITTED an UPDATE that waited for another's row lock re-checks its
-- WHERE on the committed row: the second of two schedulers finds next_run_at moved on.

-- name: schedule_clock
SELECT timezone('UTC', now()) AS db_now;

-- name: upsert_schedule
-- Create or replace. A replaced schedule keeps its status and last run, and its next_run_at
-- unless its cron or time zone changed (the row's own columns are the values before).
INSERT INTO queue_schedules AS s (name, cron, timezone, job_name, executor, payload, group_name,
                                  priority, max_attempts, missed, status, next_run_at)
VALUES (%(name)s, %(cron)s, %(timezone)s, %(job_name)s, %(executor)s, %(payload)s, %(group)s,
        %(priority)s, %(max_attempts)s, %(missed)s, 'active', %(next_run_at)s)
ON CONFLICT (name) DO UPDATE SET
    next_run_at = CASE WHEN s.cron = excluded.cron AND s.timezone = excluded.timezone
                       THEN s.next_run_at ELSE excluded.next_run_at END,
    cron = excluded.cron,
    timezone = excluded.timezone,
    job_name = excluded.job_name,
    executor = excluded.executor,
    payload = excluded.payload,
    group_name = excluded.group_name,
    priority = excluded.priority,
    max_attempts = excluded.max_attempts,
    missed = excluded.missed,
    updated_at = timezone('UTC', now());

-- name: get_schedule
SELECT * FROM queue_schedules WHERE name = %(name)s;

-- name: lock_schedule
SELECT * FROM queue_schedules WHERE name = %(name)s FOR UPDATE;

-- name: list_schedules
SELECT * FROM queue_schedules ORDER BY name;

-- name: set_schedule_status
-- A schedule that resumes moves to %(next_run_at)s (its next tick after now) when one is given.
UPDATE queue_schedules
SET next_run_at = CASE WHEN status = 'paused' AND %(next_run_at)s::timestamp IS NOT NULL
                       THEN %(next_run_at)s::timestamp ELSE next_run_at END,
    status = %(status)s,
    updated_at = timezone('UTC', now())
WHERE name = %(name)s AND status <> %(status)s;

-- name: delete_schedule
DELETE FROM queue_schedules WHERE name = %(name)s;

-- name: record_schedule_run
-- A task enqueued by hand (run now): next_run_at stays.
UPDATE queue_schedules
SET last_run_at = timezone('UTC', now()), last_job_id = %(job_id)s,
    updated_at = timezone('UTC', now())
WHERE name = %(name)s;

-- name: due_schedules
-- Through idx_queue_schedules_due (status, next_run_at).
SELECT s.*, timezone('UTC', now()) AS db_now FROM queue_schedules s
WHERE s.status = 'active' AND s.next_run_at <= timezone('UTC', now())
ORDER BY s.next_run_at
LIMIT %(limit)s;

-- name: advance_schedule
-- The compare-and-set: applies only if no other scheduler moved the schedule since %(seen)s
-- was read (and it was not paused meanwhile).
UPDATE queue_schedules
SET next_run_at = %(next_run_at)s,
    last_run_at = COALESCE(%(ran_at)s::timestamp, last_run_at),
    updated_at = timezone('UTC', now())
WHERE name = %(name)s AND next_run_at = %(seen)s::timestamp AND status = 'active';

-- name: set_schedule_job
UPDATE queue_schedules SET last_job_id = %(job_id)s WHERE name = %(name)s;
