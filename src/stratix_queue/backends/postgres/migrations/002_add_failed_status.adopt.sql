-- Adopting 002 on a database where a DBA ran the seed's manual migration ("手动迁移"), or part
-- of it, by hand: each present_<part> block tells whether that part of the up script is in
-- place already (one row, true or false); if it is, the part is skipped, or replaced by its
-- adopt_<part> block, which brings what a hand run made to exactly what the up script makes.
-- The parts not found (and the failures part, which has no probe) run as usual.

-- name: present_error_columns
-- Any of the four: a hand run may have added some of them only.
SELECT EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'queue_jobs'
      AND column_name IN ('error_message', 'error_stack', 'error_code', 'failed_at')
) AS present;

-- name: adopt_error_columns
-- Add the ones missing, and give each our type, nullability and (no) default. A column of the
-- same type is not rewritten.
ALTER TABLE queue_jobs
    ADD COLUMN IF NOT EXISTS error_message TEXT NULL,
    ADD COLUMN IF NOT EXISTS error_stack TEXT NULL,
    ADD COLUMN IF NOT EXISTS error_code VARCHAR(100) NULL,
    ADD COLUMN IF NOT EXISTS failed_at TIMESTAMP NULL;
ALTER TABLE queue_jobs
    ALTER COLUMN error_message TYPE TEXT,
    ALTER COLUMN error_message DROP NOT NULL,
    ALTER COLUMN error_message DROP DEFAULT,
    ALTER COLUMN error_stack TYPE TEXT,
    ALTER COLUMN error_stack DROP NOT NULL,
    ALTER COLUMN error_stack DROP DEFAULT,
    ALTER COLUMN error_code TYPE VARCHAR(100),
    ALTER COLUMN error_code DROP NOT NULL,
    ALTER COLUMN error_code DROP DEFAULT,
    ALTER COLUMN failed_at TYPE TIMESTAMP,
    ALTER COLUMN failed_at DROP NOT NULL,
    ALTER COLUMN failed_at DROP DEFAULT;

-- name: present_failed_status
-- chk_queue_jobs_status on queue_jobs already allows 'failed' (found present, it is kept as it is).
SELECT EXISTS (
    SELECT 1 FROM pg_constraint AS c JOIN pg_class AS r ON r.oid = c.conrelid
    WHERE r.relnamespace = current_schema()::regnamespace AND r.relname = 'queue_jobs'
      AND c.conname = 'chk_queue_jobs_status'
      AND strpos(pg_get_constraintdef(c.oid), '''failed''') > 0
) AS present;

-- name: present_success_without_metadata
-- queue_success is there without its metadata column.
SELECT EXISTS (
    SELECT 1 FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_name = 'queue_success'
) AND NOT EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'queue_success'
      AND column_name = 'metadata'
) AS present;
