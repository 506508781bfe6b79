-- The success ledger (rollups.py): successes counted per UTC minute, executor, group ('' = none)
-- and run-time bucket, by the transaction that records them; read by minute range (the primary
-- key's leading column), never from queue_success. ON DUPLICATE KEY UPDATE reads the proposed
-- row with VALUES(): an INSERT ... SELECT with GROUP BY cannot name the SELECT's columns there.

-- name: rollup_success
-- One success (SqlDriver.move_to_success), after its fenced copy and delete in the same
-- transaction: the queue_success row that transaction wrote, by primary key.
INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, run_ms_total,
                           run_ms_max)
SELECT TIMESTAMP(DATE(completed_at), MAKETIME(HOUR(completed_at), MINUTE(completed_at), 0)),
       executor, COALESCE(group_name, ''), %(bucket)s, 1, COALESCE(execution_time, 0),
       COALESCE(execution_time, 0)
FROM queue_success WHERE id = %(id)s
ON DUPLICATE KEY UPDATE succeeded = succeeded + VALUES(succeeded),
    run_ms_total = run_ms_total + VALUES(run_ms_total),
    run_ms_max = GREATEST(run_ms_max, VALUES(run_ms_max));

-- name: success_copied
-- A batch of successes (MariadbDriver.move_many_to_success) is one round trip: success_copy
-- (which locks the rows still executing under their token), this, success_rollup_summed,
-- success_rollup, success_delete. How many rows the copy moved, for the two rollup statements
-- to tell whether every item did (nearly always: a lease lost meanwhile is rare).
SET @stratix_copied = ROW_COUNT();

-- name: success_rollup_summed
-- When every item moved: %(rollups)s, the batch summed in Python (rollups.rollup_rows: JSON
-- [[executor, group, bucket, count, total ms, max ms], ...] in key order), one upsert row per
-- key; no row of the batch is read again. UTC_TIMESTAMP() has no fraction: minus its seconds it
-- is the minute.
INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, run_ms_total,
                           run_ms_max)
SELECT UTC_TIMESTAMP() - INTERVAL SECOND(UTC_TIMESTAMP()) SECOND, r.executor, r.g, r.bucket,
       r.n, r.total, r.longest
FROM JSON_TABLE(%(rollups)s, '$[*]' COLUMNS (
        executor VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[0]',
        g VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]',
        bucket SMALLINT PATH '$[2]',
        n BIGINT PATH '$[3]',
        total BIGINT PATH '$[4]',
        longest BIGINT PATH '$[5]')) AS r
WHERE @stratix_copied = %(count)s
ON DUPLICATE KEY UPDATE succeeded = succeeded + VALUES(succeeded),
    run_ms_total = run_ms_total + VALUES(run_ms_total),
    run_ms_max = GREATEST(run_ms_max, VALUES(run_ms_max));

-- name: success_rollup
-- When some item did not move: the rows the copy moved (the same fence, still locked), grouped
-- by key and bucket (%(items)s' 4th element, rollups.bucket_of) and upserted in key order. The
-- gate comes first in the join: when every item moved it has no row and nothing else is read.
INSERT INTO queue_rollups (minute, executor, group_name, bucket, succeeded, run_ms_total,
                           run_ms_max)
SELECT UTC_TIMESTAMP() - INTERVAL SECOND(UTC_TIMESTAMP()) SECOND, j.executor,
       COALESCE(j.group_name, '') AS g, d.bucket, COUNT(*), SUM(d.ms), MAX(d.ms)
FROM (SELECT 1 AS go FROM DUAL WHERE @stratix_copied <> %(count)s) AS gate
STRAIGHT_JOIN JSON_TABLE(%(items)s, '$[*]' COLUMNS (
        id BIGINT PATH '$[0]',
        token VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PATH '$[1]',
        ms INT PATH '$[2]',
        bucket SMALLINT PATH '$[3]')) AS d
STRAIGHT_JOIN queue_jobs AS j ON j.id = d.id
WHERE j.status = 'executing' AND j.lease_token = d.token
GROUP BY j.executor, g, d.bucket
ORDER BY j.executor, g, d.bucket
ON DUPLICATE KEY UPDATE succeeded = succeeded + VALUES(succeeded),
    run_ms_total = run_ms_total + VALUES(run_ms_total),
    run_ms_max = GREATEST(run_ms_max, VALUES(run_ms_max));

-- name: rollup_totals
-- The counters of every minute from the one holding now - since on, per executor, group and
-- bucket (rollups.throughput combines them).
SELECT executor, group_name, bucket, SUM(succeeded) AS succeeded, SUM(failed) AS failed,
       SUM(retried) AS retried, SUM(rescued) AS rescued, SUM(cancelled) AS cancelled,
       SUM(run_ms_total) AS run_ms_total, MAX(run_ms_max) AS run_ms_max
FROM queue_rollups
WHERE minute > UTC_TIMESTAMP(6) - INTERVAL ROUND((%(since)s + 60) * 1000000) MICROSECOND
GROUP BY executor, group_name, bucket;

-- name: find_success
SELECT * FROM queue_success WHERE id = %(id)s;

