-- Flow control (docs/flow_control.md): group limits, the gated claim, executors in use.
-- A group is limited, and its tasks claimed through its gate (queue_jobs.gate = its name),
-- while it has a concurrency or rate limit or its breaker lets a probe through: the rule is
-- written here (group_gate, gated_groups) and in the insert statements (queries.sql).

-- name: set_group_limits
INSERT INTO queue_groups (group_name, status, updated_at, concurrency_limit, rate_limit,
                          rate_period)
VALUES (%(group)s, 'active', UTC_TIMESTAMP(6), %(concurrency)s, %(rate)s, %(period)s)
ON DUPLICATE KEY UPDATE
    concurrency_limit = VALUES(concurrency_limit), rate_limit = VALUES(rate_limit),
    rate_period = VALUES(rate_period), updated_at = VALUES(updated_at);

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
WHERE updated_at > UTC_TIMESTAMP(6) - INTERVAL ROUND(%(seconds)s * 1000000) MICROSECOND;

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
                AND j.executor IN ({executors}))
ORDER BY RAND()
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
-- such limit. UTC_TIMESTAMP(6): when this statement began, after the locks were granted.
SELECT g.group_name,
       g.concurrency_limit - (SELECT COUNT(*) FROM queue_jobs j
                              WHERE j.group_name = g.group_name AND j.status = 'executing')
       AS free_slots,
       g.rate_limit - (SELECT COALESCE(SUM(s.count), 0) FROM queue_group_starts s
                       WHERE s.group_name = g.group_name
                         AND s.started_at > UTC_TIMESTAMP(6)
                             - INTERVAL ROUND((g.rate_period + %(slack)s) * 1000000) MICROSECOND)
       AS free_starts,
       CASE WHEN g.breaker_state = 'probing'
            THEN CASE WHEN g.probe_job_id IS NULL THEN 1 ELSE 0 END END AS free_probes
FROM queue_groups g WHERE g.group_name IN ({groups});

-- name: gate_lock
-- Up to %(limit)s tasks of one locked group (its gate), of the worker's executors, in claim
-- order: {lanes} is one gate_lane per executor, locked SKIP LOCKED, merged; claim_mark and
-- claim_read (queries.sql) follow.
SELECT JSON_ARRAYAGG(id) INTO @stratix_claimed
FROM (SELECT id FROM ({lanes}) AS lanes ORDER BY priority DESC, run_at, id LIMIT %(limit)s)
     AS picked;

-- name: gate_lane
(SELECT id, priority, run_at FROM queue_jobs
 WHERE status = 'waiting' AND gate = %(gate)s AND executor = %(lane0)s
 ORDER BY priority DESC, run_at, id
 LIMIT %(limit)s
 FOR UPDATE SKIP LOCKED)

-- name: gate_mark
UPDATE JSON_TABLE(@stratix_claimed, '$[*]' COLUMNS (id BIGINT PATH '$')) AS c
STRAIGHT_JOIN queue_jobs AS j ON j.id = c.id
SET j.status = 'executing', j.attempts = j.attempts + 1, j.locked_by = %(worker_id)s,
    j.lease_token = %(lease_token)s,
    j.locked_until = UTC_TIMESTAMP(6) + INTERVAL ROUND(%(lease_seconds)s * 1000000) MICROSECOND,
    j.started_at = NULL, j.updated_at = UTC_TIMESTAMP(6)
WHERE j.status = 'waiting';

-- name: record_starts
INSERT INTO queue_group_starts (group_name, started_at, count)
VALUES (%(group)s, UTC_TIMESTAMP(6), %(count)s);

-- name: forget_starts
-- Starts older than the window are never read again.
DELETE FROM queue_group_starts
WHERE group_name = %(group)s
  AND started_at <= UTC_TIMESTAMP(6)
                    - INTERVAL ROUND((%(period)s + %(slack)s) * 1000000) MICROSECOND;

-- name: set_probe
UPDATE queue_groups SET probe_job_id = %(job_id)s
WHERE group_name = %(group)s AND breaker_state = 'probing';

-- name: waiting_lanes
-- The (gate, executor) pairs that have waiting tasks (a loose scan of the claim index: one
-- probe per pair, however many tasks wait).
SELECT DISTINCT gate, executor FROM queue_jobs WHERE status = 'waiting';

-- name: live_executors
-- The executors registered by workers that beat lately.
SELECT executors FROM queue_workers
WHERE last_heartbeat_at > UTC_TIMESTAMP(6) - INTERVAL ROUND(%(stale_seconds)s * 1000000) MICROSECOND;
