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

-- name: success_rollup_row
-- A batch of successes whose rollup is one row (one executor, group and run-time bucket: the
-- usual batch), as success_rollup_rows with plain parameters.
INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, run_ms_total,
                           run_ms_max)
VALUES (strftime('%Y-%m-%d %H:%M:00.000', 'now'), :executor, :group, :bucket, :count, :total,
        :max)
ON CONFLICT (minute, executor, group_name, bucket) DO UPDATE
SET succeeded = succeeded + excluded.succeeded,
    run_ms_total = run_ms_total + excluded.run_ms_total,
    run_ms_max = max(run_ms_max, excluded.run_ms_max);

-- name: success_rollup_rows
-- A batch of successes (SqliteDriver.move_many_to_success), in its transaction once
-- success_pick has told which rows move: :rollups is JSON [[executor, group, bucket, count,
-- total ms, max ms], ...] of exactly those (rollups.rollup_rows, in key order), summed in
-- Python before the transaction (every item moves, nearly always) rather than per row here.
INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, run_ms_total,
                           run_ms_max)
SELECT strftime('%Y-%m-%d %H:%M:00.000', 'now'), json_extract(value, '$[0]'),
       json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'),
       json_extract(value, '$[4]'), json_extract(value, '$[5]')
FROM json_each(:rollups) WHERE true
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

