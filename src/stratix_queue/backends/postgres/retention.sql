-- Retention (retention.py): each prune deletes one batch of at most %(batch)s rows older than
-- %(older_than)s seconds (the caller repeats while a batch comes back full); each count says how
-- many a prune would delete in all. Successes are pruned by count_prunable and prune_success.
-- SKIP LOCKED: workers on several hosts pruning at once take different rows, none waits.

-- name: count_old_rollups
SELECT COUNT(*) AS count FROM queue_rollups
WHERE minute < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second';

-- name: prune_old_rollups
DELETE FROM queue_rollups WHERE (minute, executor, group_name, bucket) IN (
    SELECT minute, executor, group_name, bucket FROM queue_rollups
    WHERE minute < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second'
    ORDER BY minute, executor, group_name, bucket LIMIT %(batch)s
    FOR UPDATE SKIP LOCKED);

-- name: count_old_removed
SELECT COUNT(*) AS count FROM queue_removed
WHERE removed_at < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second';

-- name: prune_old_removed
DELETE FROM queue_removed WHERE id IN (
    SELECT id FROM queue_removed
    WHERE removed_at < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second'
    ORDER BY id LIMIT %(batch)s FOR UPDATE SKIP LOCKED);

-- name: count_orphan_errors
-- Attempt errors of tasks that are nowhere any more (succeeded or removed, then pruned).
SELECT COUNT(*) AS count FROM queue_job_errors AS e
WHERE e.failed_at < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second'
  AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = e.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_success AS s WHERE s.id = e.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_removed AS r WHERE r.id = e.job_id);

-- name: prune_orphan_errors
DELETE FROM queue_job_errors WHERE id IN (
    SELECT e.id FROM queue_job_errors AS e
    WHERE e.failed_at < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second'
      AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = e.job_id)
      AND NOT EXISTS (SELECT 1 FROM queue_success AS s WHERE s.id = e.job_id)
      AND NOT EXISTS (SELECT 1 FROM queue_removed AS r WHERE r.id = e.job_id)
    ORDER BY e.id LIMIT %(batch)s FOR UPDATE OF e SKIP LOCKED);

-- name: count_orphan_payloads
-- Earlier payloads of tasks that are nowhere any more.
SELECT COUNT(*) AS count FROM queue_payload_history AS h
WHERE h.replaced_at < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second'
  AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = h.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_success AS s WHERE s.id = h.job_id)
  AND NOT EXISTS (SELECT 1 FROM queue_removed AS r WHERE r.id = h.job_id);

-- name: prune_orphan_payloads
DELETE FROM queue_payload_history WHERE id IN (
    SELECT h.id FROM queue_payload_history AS h
    WHERE h.replaced_at < timezone('UTC', now()) - %(older_than)s::float8 * interval '1 second'
      AND NOT EXISTS (SELECT 1 FROM queue_jobs AS j WHERE j.id = h.job_id)
      AND NOT EXISTS (SELECT 1 FROM queue_success AS s WHERE s.id = h.job_id)
      AND NOT EXISTS (SELECT 1 FROM queue_removed AS r WHERE r.id = h.job_id)
    ORDER BY h.id LIMIT %(batch)s FOR UPDATE OF h SKIP LOCKED);
