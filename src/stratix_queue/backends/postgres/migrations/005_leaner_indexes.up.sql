-- Fewer index entries per task on the hot path (insert, claim, move to success): each index
-- holds only the rows its queries read. A task without a group now enters the primary key and
-- the claim index when it is added, and the primary key and the executing index when it is
-- claimed (every claim is a non-HOT update: a new entry in each index whose WHERE the new row
-- satisfies); before, five and four. The claim, executing and failed indexes stay as they are.
-- Delayed tasks, for promote_due (was the full (status, run_at) index):
CREATE INDEX idx_queue_jobs_delayed ON queue_jobs (run_at) WHERE status = 'delayed';
DROP INDEX idx_queue_jobs_status_run_at;
-- One index for every group query, holding tasks with a group only: claims restricted to
-- groups (group_name = ? / IN (...) implies group_name IS NOT NULL, status = 'waiting' is its
-- second key), pause/resume and the per-group counts. Replaces (group_name, status) and the
-- group claim index, which also held every waiting task without a group.
DROP INDEX idx_queue_jobs_group_claim;
DROP INDEX idx_queue_jobs_group;
CREATE INDEX idx_queue_jobs_group ON queue_jobs (group_name, status, priority DESC, run_at, id)
    WHERE group_name IS NOT NULL;
