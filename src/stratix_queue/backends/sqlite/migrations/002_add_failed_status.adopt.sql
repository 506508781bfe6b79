-- Adopting 002 on a database where someone ran part of the seed's manual migration ("手动迁移")
-- by hand. SQLite cannot run all of it (no DROP CONSTRAINT), but ADD COLUMN and, since 3.35,
-- DROP COLUMN it can. Each present_<part> block tells whether that part of the up script is in
-- place already (one row, true or false); if it is, the part is skipped, or replaced by its
-- adopt_<part> block. queue_jobs is rebuilt either way (SQLite cannot alter its CHECK).

-- name: present_error_columns
-- All four: the rebuild then copies their values. With some only, the usual rebuild runs and
-- leaves them behind (no code of ours wrote them: the old CHECK forbids 'failed').
SELECT COUNT(*) = 4 AS present FROM pragma_table_info('queue_jobs')
WHERE name IN ('error_message', 'error_stack', 'error_code', 'failed_at');

-- name: adopt_error_columns
INSERT INTO queue_jobs_new (id, job_name, executor, group_name, payload, status, priority,
                            attempts, max_attempts, run_at, created_at, updated_at,
                            started_at, locked_by, locked_until,
                            error_message, error_stack, error_code, failed_at)
SELECT id, job_name, executor, group_name, payload, status, priority, attempts, max_attempts,
       run_at, created_at, updated_at, started_at, locked_by, locked_until,
       error_message, error_stack, error_code, failed_at
FROM queue_jobs;

-- name: present_success_without_metadata
-- queue_success is there without its metadata column.
SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'queue_success')
   AND NOT EXISTS (SELECT 1 FROM pragma_table_info('queue_success') WHERE name = 'metadata')
   AS present;
