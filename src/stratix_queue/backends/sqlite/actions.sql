-- Operator actions (action_ops.py): discard, cancel, payload edits, the audit, and bulk retry
-- and discard plans. Each action writes its audit row in its own transaction; a write here
-- runs inside BEGIN IMMEDIATE, which holds the database: no row lock is needed.

-- name: lock_tasks
-- The tasks among {ids} whatever their status, for an action that explains the ones it leaves
-- (cancel: an executing task cannot be cancelled), with the keys of their failure counts.
SELECT id, job_name, executor, group_name, status, error_code, fingerprint FROM queue_jobs
WHERE id IN ({ids})
ORDER BY id;

-- name: copy_to_removed
-- Discarded or cancelled tasks keep their row (and last error) in queue_removed, with who
-- removed them and why; the caller has locked them and deletes them next.
INSERT INTO queue_removed (id, job_name, executor, group_name, payload, priority, attempts,
                           max_attempts, status, outcome, error_message, error_stack,
                           error_code, fingerprint, created_at, failed_at, removed_by, reason)
SELECT id, job_name, executor, group_name, payload, priority, attempts, max_attempts, status,
       :outcome, error_message, error_stack, error_code, fingerprint, created_at, failed_at,
       :actor, :reason
FROM queue_jobs WHERE id IN ({ids});

-- name: delete_removed
DELETE FROM queue_jobs WHERE id IN ({ids});

-- name: removed_task
SELECT * FROM queue_removed WHERE id = :id;

-- name: save_payload
-- The payload about to be replaced joins the task's payload history.
INSERT INTO queue_payload_history (job_id, payload, replaced_by, reason)
SELECT id, payload, :actor, :reason FROM queue_jobs WHERE id = :id;

-- name: set_payload
UPDATE queue_jobs SET payload = :payload, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE id = :id;

-- name: payload_history
SELECT id, job_id, payload, replaced_at, replaced_by, reason FROM queue_payload_history
WHERE job_id = :id ORDER BY id;

-- name: insert_audit
INSERT INTO queue_audit (actor, action, target, count, reason, plan_id)
VALUES (:actor, :action, :target, :count, :reason, :plan_id);

-- name: list_audit
-- Newest first; each filter only when given.
SELECT * FROM queue_audit
WHERE (:since IS NULL OR at >= :since) AND (:action IS NULL OR action = :action)
  AND (:actor IS NULL OR actor = :actor)
ORDER BY id DESC LIMIT :limit;

-- name: audit_of_task
-- The audit rows that name the task: an action on ids whose target lists it (patterns of a
-- JSON list of ids: '[7]', '[7, ...', '..., 7, ...', '..., 7]'), and the actions on plans that
-- hold it (one primary-key probe of queue_plan_items per audit row of a plan).
SELECT * FROM queue_audit
WHERE (action IN ('retry', 'discard', 'cancel', 'edit_payload')
       AND (target LIKE :alone OR target LIKE :head OR target LIKE :inner
            OR target LIKE :tail))
   OR (plan_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM queue_plan_items i
                   WHERE i.plan_id = queue_audit.plan_id AND i.job_id = :id))
ORDER BY id;

-- name: failed_sample
-- A dry run's sample of the failed tasks a filter matches, newest failure first.
SELECT * FROM queue_jobs WHERE status = 'failed'{filter}
ORDER BY failed_at DESC, id DESC LIMIT :limit;

-- name: failed_in_paused_groups
-- Matching failed tasks that a retry would put in paused, not waiting: per paused group.
SELECT group_name, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed'{filter}
  AND group_name IN (SELECT group_name FROM queue_groups WHERE status = 'paused')
GROUP BY group_name ORDER BY group_name;

-- name: failed_in_open_plans
-- Matching failed tasks that an unfinished plan will act on already: per plan.
SELECT i.plan_id, p.action, COUNT(*) AS count FROM queue_plan_items i
JOIN queue_plans p ON p.id = i.plan_id
WHERE p.status IN ('planned', 'running', 'paused') AND i.state = 'pending'
  AND i.job_id IN (SELECT id FROM queue_jobs WHERE status = 'failed'{filter})
GROUP BY i.plan_id, p.action ORDER BY i.plan_id;

-- name: insert_plan
INSERT INTO queue_plans (action, filter, command, status, rate, batch_size, actor, reason)
VALUES (:action, :filter_json, :command, 'planned', :rate, :batch_size, :actor, :reason)
RETURNING id;

-- name: snapshot_plan_items
-- The plan's tasks, matched once: a task failing later is not in it.
INSERT INTO queue_plan_items (plan_id, job_id, state)
SELECT :plan_id, id, 'pending' FROM queue_jobs WHERE status = 'failed'{filter};

-- name: set_plan_total
UPDATE queue_plans SET total = :total WHERE id = :plan_id;

-- name: lock_plan
-- Every batch and every status change starts here: one of them at a time per plan.
SELECT * FROM queue_plans WHERE id = :plan_id;

-- name: get_plan
SELECT * FROM queue_plans WHERE id = :plan_id;

-- name: list_plans
SELECT * FROM queue_plans ORDER BY id DESC LIMIT :limit;

-- name: pending_plan_items
-- The next batch, after the runner's last item (the primary key serves the range).
SELECT job_id FROM queue_plan_items
WHERE plan_id = :plan_id AND job_id > :after AND state = 'pending'
ORDER BY job_id LIMIT :limit;

-- name: mark_plan_items
UPDATE queue_plan_items SET state = :state WHERE plan_id = :plan_id AND job_id IN ({ids});

-- name: advance_plan
UPDATE queue_plans
SET done = done + :done, skipped = skipped + :skipped, status = :status,
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE id = :plan_id;

-- name: plan_item_ids
SELECT job_id FROM queue_plan_items
WHERE plan_id = :plan_id AND state = :state ORDER BY job_id LIMIT :limit;

-- name: failed_unique_held
-- Matching failed tasks with a unique key they do not hold while failed (unique_while_failed
-- was not set), and the task holding that key now (NULL: none): a retry of those with a holder
-- would give the key a second holder, so it leaves them failed.
SELECT f.id, f.unique_key,
       (SELECT MIN(h.id) FROM queue_jobs h WHERE h.unique_key = f.unique_key AND (h.status <> 'failed' OR h.unique_failed = 1)) AS holder
FROM (SELECT id, unique_key FROM queue_jobs
      WHERE status = 'failed' AND unique_failed = 0 AND unique_key IS NOT NULL{filter}) f
ORDER BY f.id;
