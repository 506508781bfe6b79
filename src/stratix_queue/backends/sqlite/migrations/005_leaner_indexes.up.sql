-- Fewer index entries per task on the hot path (insert, claim, move to success): each index
-- holds only the rows its queries read. A task without a group enters the claim index when it
-- is added, moves to the executing index when it is claimed, and leaves it when it succeeds;
-- before, all six indexes were written at each of those steps.
-- SQLite's planner uses a partial index only when the query's WHERE implies the index's WHERE
-- literally (status = 'waiting'; group_name = ? or IN (...) implies group_name IS NOT NULL), and
-- without statistics it passes over a partial index it would scan whole and sorts instead; an
-- equality on the first key column it takes for a cheap search. So status still leads the keys
-- of the claim, delayed and failed indexes (a constant there: a few bytes an entry). Rescue and
-- release read the executing index by locked_until or whole (it holds the executing tasks only).
-- tests/behaviour/test_claim_plan.py and test_index_plans.py check the plans.
DROP INDEX idx_queue_jobs_claim;
DROP INDEX idx_queue_jobs_status_run_at;
DROP INDEX idx_queue_jobs_failed;
DROP INDEX idx_queue_jobs_executing;
DROP INDEX idx_queue_jobs_group_claim;
DROP INDEX idx_queue_jobs_group;
CREATE INDEX idx_queue_jobs_claim ON queue_jobs (status, priority DESC, run_at, id)
    WHERE status = 'waiting';
CREATE INDEX idx_queue_jobs_delayed ON queue_jobs (status, run_at) WHERE status = 'delayed';
CREATE INDEX idx_queue_jobs_executing ON queue_jobs (locked_until) WHERE status = 'executing';
CREATE INDEX idx_queue_jobs_failed ON queue_jobs (status, failed_at) WHERE status = 'failed';
-- Claims restricted to groups, pause/resume and the per-group counts: tasks with a group only.
CREATE INDEX idx_queue_jobs_group ON queue_jobs (group_name, status, priority DESC, run_at, id)
    WHERE group_name IS NOT NULL;
