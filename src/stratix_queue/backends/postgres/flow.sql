-- Flow control (docs/flow_control.md): group limits, the gated claim, executors in use.
-- A group is limited, and its tasks claimed through its gate (queue_jobs.gate = its name),
-- while it has a concurrency or rate limit or its breaker lets a probe through: the rule is
-- written here (group_gate, gated_groups) and in the insert statements (queries.sql).

-- name: set_group_limits
INSERT INTO queue_groups AS g (group_name, status, updated_at, concurrency_limit, rate_limit,
                               rate_period)
VALUES (%(group)s, 'active', timezone('UTC', now()), %(concurrency)s, %(rate)s, %(period)s)
ON CONFLICT (group_name) DO UPDATE
SET concurrency_limit = EXCLUDED.concurrency_limit, rate_limit = EXCLUDED.rate_limit,
    rate_period = EXCLUDED.rate_period, updated_at = EXCLUDED.updated_at;

-- name: group_gate
SELECT CASE WHEN concurrency_limit IS NOT NULL OR rate_limit IS NOT NULL
                 OR breaker_state = 'probing' THEN group_name ELSE '' END AS gate
FROM queue_groups WHERE group_name = %(group)s;

-- name: regate_group_jobs
-- Every task of the group (a failed or executing one comes back to waiting under its gate).
UPDATE queue_jobs SET gate = %(gate)s WHERE group_name = %(group)s AND gate <> %(gate)s;

-- name: recently_changed_groups
-- Groups whose row changed lately: an insert that raced the change may have taken the old
-- gate (maintenance sets it again, fix_gates).
SELECT group_name FROM queue_groups
WHERE updated_at > timezone('UTC', now()) - %(seconds)s::float8 * interval '1 second';

-- name: fix_waiting_gates
UPDATE queue_jobs SET gate = %(gate)s
WHERE group_name = %(group)s AND status = 'waiting' AND gate <> %(gate)s;

-- name: gates_waiting
-- Limited, active groups with a task of these executors waiting at their gate, a few in
-- random order: over many claims each is served in turn, and no claim writes to keep turns.
SELECT g.group_name FROM queue_groups g
WHERE g.status = 'active'
  AND (g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
       OR g.breaker_state = 'probing')
  AND EXISTS (SELECT 1 FROM queue_jobs j
              WHERE j.status = 'waiting' AND j.gate = g.group_name
                AND j.executor = ANY (%(executors)s::varchar[]))
ORDER BY random()
LIMIT %(limit)s;

-- name: lock_gates
-- The claim of a limited group holds its row until commit: claims of one group are one at a
-- time across all workers and hosts, and each counts what the one before it claimed (the next
-- statement reads after the lock is granted). SKIP LOCKED: a group another worker is claiming
-- from is left to it. Its limits are read under the lock, as a pause is.
SELECT group_name, concurrency_limit, rate_limit, rate_period, breaker_state, probe_job_id
FROM queue_groups
WHERE group_name IN ({groups}) AND status = 'active'
  AND (concurrency_limit IS NOT NULL OR rate_limit IS NOT NULL OR breaker_state = 'probing')
FOR UPDATE SKIP LOCKED;

-- name: gate_room
-- How many more of each locked group may start now: its concurrency limit less its executing
-- tasks, its rate less the starts recorded in the window (plus the slack that covers the
-- hand-off from claim to executor), and one probe while its breaker is half open. NULL: no
-- such limit. clock_timestamp(): the time now, not when the transaction began.
SELECT g.group_name,
       g.concurrency_limit - (SELECT COUNT(*) FROM queue_jobs j
                              WHERE j.group_name = g.group_name AND j.status = 'executing')
       AS free_slots,
       g.rate_limit - (SELECT COALESCE(SUM(s.count), 0) FROM queue_group_starts s
                       WHERE s.group_name = g.group_name
                         AND s.started_at > timezone('UTC', clock_timestamp())
                             - (g.rate_period + %(slack)s) * interval '1 second')
       AS free_starts,
       CASE WHEN g.breaker_state = 'probing'
            THEN CASE WHEN g.probe_job_id IS NULL THEN 1 ELSE 0 END END AS free_probes
FROM queue_groups g WHERE g.group_name IN ({groups});

-- name: claim_gate
-- Up to %(limit)s tasks of one locked group (its gate), of the worker's executors, in claim
-- order: one lane per executor as claim_jobs.
WITH picked AS (
    SELECT lane.id FROM unnest(%(executors)s::varchar[]) AS e(executor)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at FROM queue_jobs
        WHERE status = 'waiting' AND gate = %(gate)s AND executor = e.executor
        ORDER BY priority DESC, run_at, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ) AS lane
    ORDER BY lane.priority DESC, lane.run_at, lane.id
    LIMIT %(limit)s
)
UPDATE queue_jobs AS j
SET status = 'executing', attempts = j.attempts + 1, locked_by = %(worker_id)s,
    lease_token = %(lease_token)s,
    locked_until = timezone('UTC', now()) + %(lease_seconds)s::float8 * interval '1 second',
    started_at = NULL, updated_at = timezone('UTC', now())
FROM picked WHERE j.id = picked.id
-- The claimed rows' columns: job.CLAIMED_COLUMNS.
RETURNING j.id, j.job_name, j.executor, j.group_name, NULL AS payload_value, j.payload, j.priority,
          j.attempts, j.max_attempts, j.run_at, j.created_at, j.updated_at, j.locked_until,
          j.error_message, j.error_stack, j.error_code, j.failed_at, j.timeout_seconds;

-- name: record_starts
INSERT INTO queue_group_starts (group_name, started_at, count)
VALUES (%(group)s, timezone('UTC', clock_timestamp()), %(count)s);

-- name: forget_starts
-- Starts older than the window are never read again.
DELETE FROM queue_group_starts
WHERE group_name = %(group)s
  AND started_at <= timezone('UTC', clock_timestamp())
                    - (%(period)s::float8 + %(slack)s) * interval '1 second';

-- name: set_probe
UPDATE queue_groups SET probe_job_id = %(job_id)s
WHERE group_name = %(group)s AND breaker_state = 'probing';

-- name: waiting_lanes
-- The (gate, executor) pairs that have waiting tasks, by a skip scan of the claim index (one
-- probe per pair, however many tasks wait).
WITH RECURSIVE lanes AS (
    (SELECT gate, executor FROM queue_jobs WHERE status = 'waiting'
     ORDER BY gate, executor LIMIT 1)
    UNION ALL
    SELECT next.gate, next.executor FROM lanes
    CROSS JOIN LATERAL (
        SELECT gate, executor FROM queue_jobs
        WHERE status = 'waiting' AND (gate, executor) > (lanes.gate, lanes.executor)
        ORDER BY gate, executor LIMIT 1
    ) AS next
)
SELECT gate, executor FROM lanes;

-- name: live_executors
-- The executors registered by workers that beat lately.
SELECT executors FROM queue_workers
WHERE last_heartbeat_at > timezone('UTC', now()) - %(stale_seconds)s::float8 * interval '1 second';
