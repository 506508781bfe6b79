-- Groups (group_ops.py, group_watch.py; docs/groups.md): pauses with a reason and an end,
-- the circuit breaker's settings and states, and what list_groups shows. Each state change
-- of the breaker or of a timed pause is one compare-and-set UPDATE: the WHERE repeats the
-- state it leaves, so of several workers making it at once one changes the row and the
-- others change nothing (their row count is 0).

-- name: pause_group_until
-- A pause by hand (until :at, or :seconds from now; neither: until resumed) takes the breaker
-- back to closed.
INSERT INTO queue_groups AS g (group_name, status, updated_at, paused_until, pause_reason)
VALUES (%(group)s, 'paused', timezone('UTC', now()), CASE WHEN %(at)s::timestamp IS NOT NULL THEN %(at)s::timestamp
                 WHEN %(seconds)s::float8 IS NOT NULL THEN timezone('UTC', now()) + (%(seconds)s::float8) * interval '1 second' END, %(reason)s)
ON CONFLICT (group_name) DO UPDATE
SET status = 'paused', updated_at = timezone('UTC', now()), paused_until = CASE WHEN %(at)s::timestamp IS NOT NULL THEN %(at)s::timestamp
                 WHEN %(seconds)s::float8 IS NOT NULL THEN timezone('UTC', now()) + (%(seconds)s::float8) * interval '1 second' END,
    pause_reason = %(reason)s,
    breaker_changed_at = CASE WHEN g.breaker_state IS NULL THEN g.breaker_changed_at ELSE timezone('UTC', now()) END,
    breaker_state = NULL, probe_job_id = NULL;

-- name: resume_group_closing
-- A resume by hand ends a timed pause and closes the breaker whatever its state.
INSERT INTO queue_groups AS g (group_name, status, updated_at)
VALUES (%(group)s, 'active', timezone('UTC', now()))
ON CONFLICT (group_name) DO UPDATE
SET status = 'active', updated_at = timezone('UTC', now()), paused_until = NULL, pause_reason = NULL,
    breaker_changed_at = CASE WHEN g.breaker_state IS NULL THEN g.breaker_changed_at ELSE timezone('UTC', now()) END,
    breaker_state = NULL, probe_job_id = NULL;

-- name: set_group_breaker
INSERT INTO queue_groups AS g (group_name, status, updated_at, breaker_threshold, breaker_min_tasks, breaker_window,
                          breaker_cooldown)
VALUES (%(group)s, 'active', timezone('UTC', now()), %(threshold)s, %(min_tasks)s, %(window)s,
        %(cooldown)s)
ON CONFLICT (group_name) DO UPDATE
SET updated_at = timezone('UTC', now()), breaker_threshold = %(threshold)s,
    breaker_min_tasks = %(min_tasks)s, breaker_window = %(window)s,
    breaker_cooldown = %(cooldown)s;

-- name: release_open_breaker
-- Taking the breaker away from a group it holds paused resumes the group.
UPDATE queue_groups
SET status = 'active', paused_until = NULL, pause_reason = NULL, updated_at = timezone('UTC', now())
WHERE group_name = %(group)s AND breaker_state = 'open' AND status = 'paused';

-- name: clear_group_breaker
UPDATE queue_groups
SET updated_at = timezone('UTC', now()), breaker_threshold = NULL, breaker_min_tasks = NULL, breaker_window = NULL,
    breaker_cooldown = NULL,
    breaker_changed_at = CASE WHEN breaker_state IS NULL THEN breaker_changed_at ELSE timezone('UTC', now()) END,
    breaker_state = NULL, probe_job_id = NULL
WHERE group_name = %(group)s;

-- name: group_settings
-- What list_groups shows of each group that has a row.
SELECT group_name, status, pause_reason, paused_until, concurrency_limit, rate_limit,
       rate_period, breaker_threshold, breaker_min_tasks, breaker_window, breaker_cooldown,
       breaker_state, probe_job_id
FROM queue_groups;

-- name: watched_groups
-- The groups maintenance watches (group_watch.py), with what each may need: whether a timed
-- pause (or an open breaker's cool-down) is over; for a closed breaker, the outcomes of the
-- whole rollup minutes that overlap its window (a minute ends after the window's start) and
-- began at or after its last change of state (so the failures that opened it are not counted
-- again once it closed); for a probing breaker, what became of its probe task.
SELECT g.group_name, g.status, g.breaker_state, g.probe_job_id, g.breaker_threshold,
       g.breaker_min_tasks, g.breaker_window, g.breaker_cooldown,
       CASE WHEN g.paused_until <= timezone('UTC', now()) THEN 1 ELSE 0 END AS due,
       CASE WHEN g.breaker_threshold IS NOT NULL AND g.breaker_state IS NULL AND g.status = 'active'
            THEN (SELECT COALESCE(SUM(r.failed + r.retried + r.rescued), 0) FROM queue_rollups r
                  WHERE r.group_name = g.group_name AND r.minute > timezone('UTC', now()) + (-(g.breaker_window + 60)) * interval '1 second'
                   AND (g.breaker_changed_at IS NULL OR r.minute >= g.breaker_changed_at)) END AS failures,
       CASE WHEN g.breaker_threshold IS NOT NULL AND g.breaker_state IS NULL AND g.status = 'active'
            THEN (SELECT COALESCE(SUM(r.succeeded), 0) FROM queue_rollups r
                  WHERE r.group_name = g.group_name AND r.minute > timezone('UTC', now()) + (-(g.breaker_window + 60)) * interval '1 second'
                   AND (g.breaker_changed_at IS NULL OR r.minute >= g.breaker_changed_at)) END AS successes,
       (SELECT COUNT(*) FROM queue_success s WHERE s.id = g.probe_job_id) AS probe_succeeded,
       (SELECT COUNT(*) FROM queue_job_errors e
        WHERE e.job_id = g.probe_job_id AND e.failed_at >= g.breaker_changed_at) AS probe_errors,
       (SELECT j.status FROM queue_jobs j WHERE j.id = g.probe_job_id) AS probe_status
FROM queue_groups g
WHERE (g.status = 'paused' AND g.paused_until IS NOT NULL) OR g.breaker_threshold IS NOT NULL
   OR g.breaker_state IS NOT NULL;

-- name: resume_due_group
-- A timed pause is over (not a breaker's: open_breaker's cool-down ends in probe_breaker).
UPDATE queue_groups
SET status = 'active', paused_until = NULL, pause_reason = NULL, updated_at = timezone('UTC', now())
WHERE group_name = %(group)s AND status = 'paused' AND paused_until <= timezone('UTC', now())
  AND (breaker_state IS NULL OR breaker_state <> 'open');

-- name: open_breaker
-- closed -> open: the group paused for its cool-down, with the reason 'breaker'.
UPDATE queue_groups
SET breaker_changed_at = timezone('UTC', now()), status = 'paused', pause_reason = 'breaker',
    paused_until = timezone('UTC', now()) + (breaker_cooldown) * interval '1 second', breaker_state = 'open', probe_job_id = NULL,
    updated_at = timezone('UTC', now())
WHERE group_name = %(group)s AND status = 'active' AND breaker_state IS NULL
  AND breaker_threshold IS NOT NULL;

-- name: probe_breaker
-- open -> probing: the cool-down is over; the gated claim lets one task through (flow.sql).
UPDATE queue_groups
SET breaker_changed_at = timezone('UTC', now()), status = 'active', paused_until = NULL,
    pause_reason = NULL, breaker_state = 'probing', probe_job_id = NULL, updated_at = timezone('UTC', now())
WHERE group_name = %(group)s AND breaker_state = 'open' AND status = 'paused'
  AND paused_until <= timezone('UTC', now());

-- name: close_breaker
-- probing -> closed: the probe task succeeded.
UPDATE queue_groups
SET breaker_changed_at = timezone('UTC', now()), breaker_state = NULL, probe_job_id = NULL,
    updated_at = timezone('UTC', now())
WHERE group_name = %(group)s AND breaker_state = 'probing' AND probe_job_id = %(probe)s;

-- name: reopen_breaker
-- probing -> open: the probe task failed; another cool-down.
UPDATE queue_groups
SET breaker_changed_at = timezone('UTC', now()), status = 'paused', pause_reason = 'breaker',
    paused_until = timezone('UTC', now()) + (breaker_cooldown) * interval '1 second', breaker_state = 'open', probe_job_id = NULL,
    updated_at = timezone('UTC', now())
WHERE group_name = %(group)s AND breaker_state = 'probing' AND probe_job_id = %(probe)s;

-- name: forget_probe
-- The probe task will not tell (cancelled, discarded, or given back to waiting): another goes.
UPDATE queue_groups SET probe_job_id = NULL
WHERE group_name = %(group)s AND breaker_state = 'probing' AND probe_job_id = %(probe)s;
