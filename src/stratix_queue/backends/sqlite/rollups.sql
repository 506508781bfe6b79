-- The success ledger (rollups.py): successes counted per UTC minute, executor, group ('' = none)
-- and run-time bucket, by the transaction that records them; read by minute range (the primary
-- key's leading column), never from queue_success.

-- name: rollup_success
-- One success (SqlDriver.move_to_success), after its fenced copy and delete in the same
-- transaction: the queue_success row that transaction wrote, by primary key.
INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, run_ms_total,
                           run_ms_max)
SELECT strftime('%Y-%m-%d %H:%M:00.000', completed_at), executor, COALESCE(group_name, ''), :bucket, 1,
       COALESCE(execution_time, 0), COALESCE(execution_time, 0)
FROM queue_success WHERE id = :id
ON CONFLICT (minute, executor, group_name, bucket) DO UPDATE
SET succeeded = succeeded + excluded.succeeded,
    run_ms_total = run_ms_total + excluded.run_ms_total,
    run_ms_max = max(run_ms_max, excluded.run_ms_max);

-- name: success_rollup
-- A batch of successes (SqliteDriver.move_many_to_success), between success_copy and
-- success_delete: the rows :moved names (still executing under their token), grouped by key
-- and bucket (:items' 4th element, rollups.bucket_of) and upserted in key order.
INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, run_ms_total,
                           run_ms_max)
SELECT strftime('%Y-%m-%d %H:%M:00.000', 'now'), j.executor, COALESCE(j.group_name, ''),
       json_extract(d.value, '$[3]') AS b, COUNT(*), SUM(json_extract(d.value, '$[2]')),
       MAX(json_extract(d.value, '$[2]'))
FROM json_each(:items) AS d CROSS JOIN queue_jobs AS j ON j.id = json_extract(d.value, '$[0]')
WHERE j.id IN (SELECT value FROM json_each(:moved))
GROUP BY j.executor, COALESCE(j.group_name, ''), b
ORDER BY j.executor, COALESCE(j.group_name, ''), b
ON CONFLICT (minute, executor, group_name, bucket) DO UPDATE
SET succeeded = succeeded + excluded.succeeded,
    run_ms_total = run_ms_total + excluded.run_ms_total,
    run_ms_max = max(run_ms_max, excluded.run_ms_max);

-- name: rollup_totals
-- The counters of every minute from the one holding now - :since on, per executor, group and
-- bucket (rollups.throughput combines them).
SELECT executor, group_name, bucket, SUM(succeeded) AS succeeded, SUM(failed) AS failed,
       SUM(retried) AS retried, SUM(rescued) AS rescued, SUM(cancelled) AS cancelled,
       SUM(run_ms_total) AS run_ms_total, MAX(run_ms_max) AS run_ms_max
FROM queue_rollups
WHERE minute > strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -:since - 60))
GROUP BY executor, group_name, bucket;

-- name: find_success
SELECT * FROM queue_success WHERE id = :id;

-- name: find_removed
SELECT * FROM queue_removed WHERE id = :id;
