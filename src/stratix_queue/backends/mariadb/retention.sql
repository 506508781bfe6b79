-- Retention (retention.py): each prune deletes one batch of at most %(batch)s rows older than
-- %(older_than)s seconds (the caller repeats while a batch comes back full); each count says how
-- many a prune would delete in all. Successes are pruned by count_prunable and prune_success.
-- A single-table DELETE with ORDER BY ... LIMIT (MariaDB refuses a subquery on the table it
-- deletes from); pruners on several hosts lock the same rows in the same order and wait.

-- name: count_old_rollups
SELECT COUNT(*) AS count FROM queue_rollups
WHERE minute < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND;

-- name: prune_old_rollups
DELETE FROM queue_rollups
WHERE minute < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
ORDER BY minute, executor, group_name, bucket LIMIT %(batch)s;

-- name: count_old_removed
SELECT COUNT(*) AS count FROM queue_removed
WHERE removed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND;

-- name: prune_old_removed
DELETE FROM queue_removed
WHERE removed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
ORDER BY id LIMIT %(batch)s;

-- name: count_orphan_errors
-- Attempt errors of tasks that are nowhere any more (succeeded or removed, then pruned).
SELECT COUNT(*) AS count FROM queue_job_errors AS e
WHERE e.failed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
  AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = e.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_success AS s WHERE s.id = e.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_removed AS r WHERE r.id = e.job_id);

-- name: prune_orphan_errors
DELETE FROM queue_job_errors
WHERE failed_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
  AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = queue_job_errors.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_success AS s WHERE s.id = queue_job_errors.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_removed AS r WHERE r.id = queue_job_errors.job_id)
ORDER BY id LIMIT %(batch)s;

-- name: count_orphan_payloads
-- Earlier payloads of tasks that are nowhere any more.
SELECT COUNT(*) AS count FROM queue_payload_history AS h
WHERE h.replaced_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
  AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = h.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_success AS s WHERE s.id = h.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_removed AS r WHERE r.id = h.job_id);

-- name: prune_orphan_payloads
DELETE FROM queue_payload_history
WHERE replaced_at < UTC_TIMESTAMP(6) - INTERVAL ROUND(%(older_than)s * 1000000) MICROSECOND
  AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = queue_payload_history.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_success AS s WHERE s.id = queue_payload_history.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_removed AS r WHERE r.id = queue_payload_history.job_id)
ORDER BY id LIMIT %(batch)s;
