-- The failure ledger's kept counts and the outcome rollups, written in the transactions that
-- change a task's outcome (sql_driver.py). '' stands for no group, code or fingerprint.

-- name: lock_failed
-- The failed rows among {ids}, locked: the locking read re-checks status = 'failed' after a
-- concurrent change commits (on SQLite the write transaction holds the database), so two
-- operators acting on one task get it once between them.
-- Their keys in queue_failure_counts come back too, and their unique keys (a retry must not
-- give a key a second holder).
SELECT id, job_name, executor, group_name, error_code, fingerprint, unique_key, unique_failed
FROM queue_jobs
WHERE id IN ({ids}) AND status = 'failed'
ORDER BY id;

-- name: count_failure
INSERT INTO queue_failure_counts (fingerprint, executor, group_name, error_code, failed,
                                  first_seen, last_seen, sample_message)
VALUES (:fingerprint, :executor, :group, :code, :count, strftime('%Y-%m-%d %H:%M:%f', 'now'),
        strftime('%Y-%m-%d %H:%M:%f', 'now'), :sample)
ON CONFLICT (fingerprint, executor, group_name, error_code) DO UPDATE
SET failed = queue_failure_counts.failed + excluded.failed, last_seen = excluded.last_seen,
    sample_message = excluded.sample_message;

-- name: uncount_failures
UPDATE queue_failure_counts SET failed = failed - :count
WHERE fingerprint = :fingerprint AND executor = :executor AND group_name = :group
  AND error_code = :code;

-- name: drop_empty_count
DELETE FROM queue_failure_counts
WHERE fingerprint = :fingerprint AND executor = :executor AND group_name = :group
  AND error_code = :code AND failed <= 0;

-- name: failure_counts
SELECT fingerprint, executor, group_name, error_code, failed, first_seen, last_seen,
       sample_message
FROM queue_failure_counts;

-- name: rollup_outcome
-- The outcomes other than success in this minute's rollup (bucket -1).
INSERT INTO queue_rollups (minute, executor, group_name, bucket, failed, retried, rescued,
                           cancelled)
VALUES (strftime('%Y-%m-%d %H:%M:00.000', 'now'), :executor, :group, -1, :failed,
        :retried, :rescued, :cancelled)
ON CONFLICT (minute, executor, group_name, bucket) DO UPDATE
SET failed = queue_rollups.failed + excluded.failed,
    retried = queue_rollups.retried + excluded.retried,
    rescued = queue_rollups.rescued + excluded.rescued,
    cancelled = queue_rollups.cancelled + excluded.cancelled;

-- name: unfingerprinted_failures
-- Failed tasks older than migration 006, which get a fingerprint once (QueueService.migrate).
SELECT id, executor, group_name, error_code, fingerprint, error_message, error_stack
FROM queue_jobs
WHERE status = 'failed' AND fingerprint IS NULL
ORDER BY id LIMIT :limit;

-- name: set_fingerprint
UPDATE queue_jobs SET fingerprint = :fingerprint
WHERE id = :id AND status = 'failed' AND fingerprint IS NULL;

-- name: count_failed
-- How many failed tasks match a filter (a dry run's count): one of the failed-task indexes.
SELECT COUNT(*) AS count FROM queue_jobs WHERE status = 'failed'{filter};

-- The conditions of a FailureFilter (failure_filter.py), one per field, joined with AND by
-- LedgerCore._failed_filter into the {filter} of a query on failed tasks. A message is found
-- by position in the lowered text, not LIKE: no wildcard to escape, and the planners guess
-- it matches a third of the rows (for LIKE '%...%' PostgreSQL guesses so few that it sorts the
-- whole table rather than walk the failed index newest first until a page is full).

-- name: filter_executor
executor = :f_executor;

-- name: filter_group
group_name = :f_group;

-- name: filter_code
error_code = :f_code;

-- name: filter_fingerprint
fingerprint = :f_fingerprint;

-- name: filter_message
instr(lower(error_message), :f_message) > 0;

-- name: filter_since
failed_at >= :f_since;

-- name: filter_until
failed_at < :f_until;

-- name: filter_min_attempts
attempts >= :f_min_attempts;

-- name: filter_max_attempts
attempts <= :f_max_attempts;
