-- Flow control (docs/flow_control.md): group limits, the gated claim, executors in use.
-- A group is limited, and its tasks claimed through its gate (queue_jobs.gate = its name),
-- while it has a concurrency or rate limit or its breaker lets a probe through: the rule is
-- written here (group_gate, gated_groups) and in the insert statements (queries.sql).

-- name: set_group_limits
INSERT INTO queue_groups AS g (group_name, status, updated_at, concurrency_limit, rate_limit,
                               rate_period)
VALUES (:group, 'active', strftime('%Y-%m-%d %H:%M:%f', 'now'), :concurrency, :rate, :period)
ON CONFLICT (group_name) DO UPDATE
SET concurrency_limit = EXCLUDED.concurrency_limit, rate_limit = EXCLUDED.rate_limit,
    rate_period = EXCLUDED.rate_period, updated_at = EXCLUDED.updated_at;

-- name: group_gate
SELECT CASE WHEN concurrency_limit IS NOT NULL OR rate_limit IS NOT NULL
                 OR breaker_state = 'probing' THEN group_name ELSE '' END AS gate
FROM queue_groups WHERE group_name = :group;

-- name: regate_group_jobs
-- Every task of the group (a failed or executing one comes back to waiting under its gate).
UPDATE queue_jobs SET gate = :gate WHERE group_name = :group AND gate <> :gate;

-- name: recently_changed_groups
-- Groups whose row changed lately: an insert that raced the change may have taken the old
-- gate (maintenance sets it again, fix_gates).
SELECT group_name FROM queue_groups
WHERE updated_at > strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%.3f seconds', :seconds));

-- name: fix_waiting_gates
UPDATE queue_jobs SET gate = :gate
WHERE group_name = :group AND status = 'waiting' AND gate <> :gate;

-- name: gates_waiting
-- Limited, active groups with a task of these executors waiting at their gate, a few in
-- random order: over many claims each is served in turn, and no claim writes to keep turns.
SELECT g.group_name FROM queue_groups g
WHERE g.status = 'active'
  AND (g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
       OR g.breaker_state = 'probing')
  AND EXISTS (SELECT 1 FROM queue_jobs j
              WHERE j.status = 'waiting' AND j.gate = g.group_name
                AND j.executor IN ({executors}))
ORDER BY random()
LIMIT :limit;

-- name: lock_gates
-- The claim runs in a write transaction (BEGIN IMMEDIATE): claims of any group are one at a
-- time, and each counts what the one before it claimed.
SELECT group_name, concurrency_limit, rate_limit, rate_period, breaker_state, probe_job_id
FROM queue_groups
WHERE group_name IN ({groups}) AND status = 'active'
  AND (concurrency_limit IS NOT NULL OR rate_limit IS NOT NULL OR breaker_state = 'probing')

-- name: gate_room
-- How many more of each locked group may start now: its concurrency limit less its executing
-- tasks, its rate less the starts recorded in the window (plus the slack that covers the
-- hand-off from claim to executor), and one probe while its breaker is half open. NULL: no
-- such limit.
SELECT g.group_name,
       g.concurrency_limit - (SELECT COUNT(*) FROM queue_jobs j
                              WHERE j.group_name = g.group_name AND j.status = 'executing')
       AS free_slots,
       g.rate_limit - (SELECT COALESCE(SUM(s.count), 0) FROM queue_group_starts s
                       WHERE s.group_name = g.group_name
                         AND s.started_at > strftime('%Y-%m-%d %H:%M:%f', 'now',
                                                     printf('-%.3f seconds', g.rate_period + :slack)))
       AS free_starts,
       CASE WHEN g.breaker_state = 'probing'
            THEN CASE WHEN g.probe_job_id IS NULL THEN 1 ELSE 0 END END AS free_probes
FROM queue_groups g WHERE g.group_name IN ({groups});

-- name: gate_pick
-- Up to :limit tasks of one locked group (its gate), of the worker's executors, in claim
-- order: {lanes} is one gate_lane per executor, as claim_pick (queries.sql), which
-- claim_times, claim_mark and claim_read then follow.
SELECT json_group_array(id) AS picked FROM (
    SELECT id FROM ({lanes}) ORDER BY priority DESC, run_at, id LIMIT :limit);

-- name: gate_lane
SELECT * FROM (
    SELECT id, priority, run_at FROM queue_jobs
    WHERE status = 'waiting' AND gate = :gate AND executor = :lane0
    ORDER BY priority DESC, run_at, id LIMIT :limit)

-- name: record_starts
INSERT INTO queue_group_starts (group_name, started_at, count)
VALUES (:group, strftime('%Y-%m-%d %H:%M:%f', 'now'), :count);

-- name: forget_starts
-- Starts older than the window are never read again.
DELETE FROM queue_group_starts
WHERE group_name = :group
  AND started_at <= strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%.3f seconds', :period + :slack));

-- name: set_probe
UPDATE queue_groups SET probe_job_id = :job_id
WHERE group_name = :group AND breaker_state = 'probing';

-- name: waiting_lanes
-- The (gate, executor) pairs that have waiting tasks (the claim index, in order).
SELECT DISTINCT gate, executor FROM queue_jobs WHERE status = 'waiting';

-- name: live_executors
-- The executors registered by workers that beat lately.
SELECT executors FROM queue_workers
WHERE last_heartbeat_at > strftime('%Y-%m-%d %H:%M:%f', 'now', printf('-%.3f seconds', :stale_seconds));
