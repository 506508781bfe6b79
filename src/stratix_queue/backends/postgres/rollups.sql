-- The success ledger (rollups.py): successes counted per UTC minute, executor, group ('' = none)
-- and run-time bucket. On PostgreSQL the statements that record successes (move_to_success,
-- move_many_to_success in queries.sql) add to queue_rollups themselves, in a CTE over the rows
-- their DELETE returned. Read by minute range (the primary key's leading column), never from
-- queue_success.

-- name: rollup_totals
-- The counters of every minute from the one holding now - :since on, per executor, group and
-- bucket (rollups.throughput combines them).
SELECT executor, group_name, bucket, SUM(succeeded) AS succeeded, SUM(failed) AS failed,
       SUM(retried) AS retried, SUM(rescued) AS rescued, SUM(cancelled) AS cancelled,
       SUM(run_ms_total) AS run_ms_total, MAX(run_ms_max) AS run_ms_max
FROM queue_rollups
WHERE minute > timezone('UTC', now()) - (%(since)s::float8 + 60) * interval '1 second'
GROUP BY executor, group_name, bucket;

-- name: find_success
SELECT * FROM queue_success WHERE id = %(id)s;

