-- Adopting 002 on a database where a DBA ran the seed's manual migration ("手动迁移"), or part
-- of it, by hand: each present_<part> block tells whether that part of the up script is in
-- place already (one row, true or false); if it is, the part is skipped, or replaced by its
-- adopt_<part> block, which brings what a hand run made to exactly what the up script makes.
-- The parts not found (and the failures part, which has no probe) run as usual.

-- name: present_error_columns
-- Any of the four: a hand run may have added some of them only.
SELECT COUNT(*) > 0 AS present FROM information_schema.columns
WHERE table_schema = DATABASE() AND table_name = 'queue_jobs'
  AND column_name IN ('error_message', 'error_stack', 'error_code', 'failed_at');

-- name: adopt_error_columns
-- Add the ones missing, and give each our definition: the seed's failed_at TIMESTAMP becomes
-- DATETIME(6), as every time column here. The conversion reads a TIMESTAMP in the session's
-- time zone, so it runs in UTC (a DBA's session may be in another), then the zone is restored.
-- A column that already has our definition is left as it is.
ALTER TABLE queue_jobs
    ADD COLUMN IF NOT EXISTS error_message TEXT NULL,
    ADD COLUMN IF NOT EXISTS error_stack TEXT NULL,
    ADD COLUMN IF NOT EXISTS error_code VARCHAR(100) NULL,
    ADD COLUMN IF NOT EXISTS failed_at DATETIME(6) NULL;
SET @stratix_time_zone = @@session.time_zone;
SET time_zone = '+00:00';
ALTER TABLE queue_jobs
    MODIFY COLUMN error_message TEXT NULL,
    MODIFY COLUMN error_stack TEXT NULL,
    MODIFY COLUMN error_code VARCHAR(100) NULL,
    MODIFY COLUMN failed_at DATETIME(6) NULL;
SET time_zone = @stratix_time_zone;

-- name: present_failed_status
-- chk_queue_jobs_status on queue_jobs already allows 'failed' (found present, it is kept as it is).
SELECT COUNT(*) > 0 AS present FROM information_schema.check_constraints
WHERE constraint_schema = DATABASE() AND table_name = 'queue_jobs'
  AND constraint_name = 'chk_queue_jobs_status' AND LOCATE('''failed''', check_clause) > 0;

-- name: present_success_without_metadata
-- queue_success is there without its metadata column.
SELECT EXISTS (
    SELECT 1 FROM information_schema.tables
    WHERE table_schema = DATABASE() AND table_name = 'queue_success'
) AND NOT EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'queue_success'
      AND column_name = 'metadata'
) AS present;
