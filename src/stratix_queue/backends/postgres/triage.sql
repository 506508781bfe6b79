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

-- name: kept_failed_count
-- A dry run's count from the kept counts, for a filter of only executor, group, code and
-- fingerprint: a few rows summed, where counting the rows would read one per failed task.
SELECT COALESCE(SUM(failed), 0) AS count FROM queue_failure_counts WHERE failed > 0{filter};

-- name: recount_failures
-- Rows shaped as queue_failure_counts', counted from the failed tasks, for a filter the kept
-- counts cannot answer (message, times, attempts): '' for no fingerprint, group or code.
SELECT COALESCE(fingerprint, '') AS fingerprint, executor,
       COALESCE(group_name, '') AS group_name, COALESCE(error_code, '') AS error_code,
       COUNT(*) AS failed, MIN(failed_at) AS first_seen, MAX(failed_at) AS last_seen,
       MAX(error_message) AS sample_message
FROM queue_jobs WHERE status = 'failed'{filter}
GROUP BY COALESCE(fingerprint, ''), executor, COALESCE(group_name, ''),
         COALESCE(error_code, '');

-- name: kept_fingerprint_stats
-- The inbox from the kept counts: per fingerprint, a 'total' row (failures, first and last
-- seen, the greatest sample message) and an 'executor', 'group' and 'code' row holding its
-- failures by each as a JSON object ('' for none); {filter} (executor, group, code,
-- fingerprint: columns this table shares with queue_jobs) in each part. Grouped here: the count
-- rows can be tens of thousands (fingerprints x executors x groups), the fingerprints a few
-- hundred. UNION ALL rather than a join of the four: one pass each, no join to plan.
SELECT 'total' AS kind, fingerprint, SUM(failed) AS failed, MIN(first_seen) AS first_seen,
       MAX(last_seen) AS last_seen, MAX(sample_message) AS sample_message, NULL AS counts
FROM queue_failure_counts WHERE failed > 0{filter} GROUP BY fingerprint
UNION ALL
SELECT 'executor', fingerprint, NULL, NULL, NULL, NULL, json_object_agg(executor, n)
FROM (SELECT fingerprint, executor, SUM(failed) AS n FROM queue_failure_counts
      WHERE failed > 0{filter} GROUP BY fingerprint, executor) x
GROUP BY fingerprint
UNION ALL
SELECT 'group', fingerprint, NULL, NULL, NULL, NULL, json_object_agg(group_name, n)
FROM (SELECT fingerprint, group_name, SUM(failed) AS n FROM queue_failure_counts
      WHERE failed > 0{filter} GROUP BY fingerprint, group_name) x
GROUP BY fingerprint
UNION ALL
SELECT 'code', fingerprint, NULL, NULL, NULL, NULL, json_object_agg(error_code, n)
FROM (SELECT fingerprint, error_code, SUM(failed) AS n FROM queue_failure_counts
      WHERE failed > 0{filter} GROUP BY fingerprint, error_code) x
GROUP BY fingerprint;
