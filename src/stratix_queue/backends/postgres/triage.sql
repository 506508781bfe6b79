-- Reading the failure ledger (triage_ops.py): keyset pages of failed tasks and the grouped
-- counts behind `failed stats`. {filter} is LedgerCore._failed_filter's conditions (ledger.sql)
-- and, after the first page, failed_before.

-- name: failed_page
-- Newest failure first: a backward walk of idx_queue_jobs_failed (or of the executor, group,
-- code or fingerprint one when the filter names it) from the keyset, never an OFFSET.
SELECT * FROM queue_jobs WHERE status = 'failed'{filter}
ORDER BY failed_at DESC, id DESC LIMIT %(limit)s;

-- name: failed_before
-- A row comparison: an Index Cond on the index's (failed_at, id).
(failed_at, id) < (%(before_at)s, %(before_id)s);

-- name: kept_failure_counts
-- The kept counts the filter selects (its executor, group, code and fingerprint conditions
-- name columns this table shares with queue_jobs).
SELECT fingerprint, executor, group_name, error_code, failed, first_seen, last_seen,
       sample_message
FROM queue_failure_counts WHERE failed > 0{filter};

-- name: recount_failures
-- The same rows counted from the failed tasks, for a filter the kept counts cannot answer
-- (message, times, attempts): '' for no fingerprint, group or code, as the kept counts have.
SELECT COALESCE(fingerprint, '') AS fingerprint, executor,
       COALESCE(group_name, '') AS group_name, COALESCE(error_code, '') AS error_code,
       COUNT(*) AS failed, MIN(failed_at) AS first_seen, MAX(failed_at) AS last_seen,
       MAX(error_message) AS sample_message
FROM queue_jobs WHERE status = 'failed'{filter}
GROUP BY COALESCE(fingerprint, ''), executor, COALESCE(group_name, ''),
         COALESCE(error_code, '');
