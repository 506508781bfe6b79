-- Named queries for SQLite (stdlib sqlite3, named :params).
-- One statement per name; an operation of several is named in order by driver.py or sql_driver.py.
-- Timestamps are UTC text 'YYYY-MM-DD HH:MM:SS.SSS', which sorts in time order.
-- Write blocks run inside BEGIN IMMEDIATE, so a read-then-write never meets SQLITE_BUSY_SNAPSHOT.

-- name: insert_jobs
-- A batch of tasks in one statement. :tasks is a JSON array with one array per task, in the
-- order given: [name, executor, group, payload, priority, max_attempts, delayed (1/0), run_at
-- (text or null), delay seconds, timeout seconds]. One parameter whatever the size, so the
-- statement text (and its prepared plan) is the same for every batch. ORDER BY the array index:
-- ids are handed out in the given order. Only what the database decides comes back, run_at and
-- updated_at as NULL where they equal created_at (one timestamp to decode for a task due at
-- once); the caller builds each Job from its input and these columns.
-- One lookup of the task's group decides both its status (paused) and its gate (the group,
-- when it has a limit or a probing breaker; '' otherwise).
INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                        timeout_seconds, status, gate, run_at, created_at, updated_at)
SELECT json_extract(t.value, '$[0]'), json_extract(t.value, '$[1]'),
       json_extract(t.value, '$[2]'), json_extract(t.value, '$[3]'),
       json_extract(t.value, '$[4]'), json_extract(t.value, '$[5]'),
       json_extract(t.value, '$[9]'),
       CASE WHEN g.status = 'paused' THEN 'paused'
            WHEN json_extract(t.value, '$[6]') THEN 'delayed' ELSE 'waiting' END,
       CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                 OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
       COALESCE(json_extract(t.value, '$[7]'),
                strftime('%Y-%m-%d %H:%M:%f', 'now',
                         printf('%+.3f seconds', json_extract(t.value, '$[8]')))),
       strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM json_each(:tasks) AS t
LEFT JOIN queue_groups g ON g.group_name = json_extract(t.value, '$[2]')
ORDER BY t.key
RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
          NULLIF(updated_at, created_at) AS updated_at, timeout_seconds;

-- name: insert_job_row
-- One task (add_task): the row of insert_jobs, from named parameters.
INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                        timeout_seconds, status, gate, run_at, created_at, updated_at)
SELECT :name, :executor, :group, :payload, :priority, :max_attempts, :timeout,
       CASE WHEN g.status = 'paused' THEN 'paused'
            WHEN :delayed THEN 'delayed' ELSE 'waiting' END,
       CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                 OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
       COALESCE(:run_at,
                strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', :delay))),
       strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM (SELECT 1) AS one
LEFT JOIN queue_groups g ON :group IS NOT NULL AND g.group_name = :group
RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
          NULLIF(updated_at, created_at) AS updated_at, timeout_seconds;

-- name: insert_jobs_unique
-- insert_jobs for a batch where some task has a unique key (docs/unique_tasks.md): each array
-- adds [unique key or null, unique_while_failed (1/0)]. A task whose key another task holds
-- (the partial unique index idx_queue_jobs_unique, named by its predicate) is not inserted
-- and has no row here: the caller reads the holder (unique_holders). The caller sends each key
-- once. WHERE true: an upsert's SELECT needs a WHERE, or ON CONFLICT parses as a join's ON.
INSERT INTO queue_jobs (job_name, executor, group_name, payload, priority, max_attempts,
                        timeout_seconds, status, gate, run_at, created_at, updated_at,
                        unique_key, unique_failed)
SELECT json_extract(t.value, '$[0]'), json_extract(t.value, '$[1]'),
       json_extract(t.value, '$[2]'), json_extract(t.value, '$[3]'),
       json_extract(t.value, '$[4]'), json_extract(t.value, '$[5]'),
       json_extract(t.value, '$[9]'),
       CASE WHEN g.status = 'paused' THEN 'paused'
            WHEN json_extract(t.value, '$[6]') THEN 'delayed' ELSE 'waiting' END,
       CASE WHEN g.concurrency_limit IS NOT NULL OR g.rate_limit IS NOT NULL
                 OR g.breaker_state = 'probing' THEN g.group_name ELSE '' END,
       COALESCE(json_extract(t.value, '$[7]'),
                strftime('%Y-%m-%d %H:%M:%f', 'now',
                         printf('%+.3f seconds', json_extract(t.value, '$[8]')))),
       strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'),
       json_extract(t.value, '$[10]'), json_extract(t.value, '$[11]')
FROM json_each(:tasks) AS t
LEFT JOIN queue_groups g ON g.group_name = json_extract(t.value, '$[2]')
WHERE true
ORDER BY t.key
ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL AND (status <> 'failed' OR unique_failed = 1)
    DO NOTHING
RETURNING id, status, created_at, NULLIF(run_at, created_at) AS run_at,
          NULLIF(updated_at, created_at) AS updated_at, timeout_seconds, unique_key;

-- name: unique_holders
-- The tasks holding the keys {keys} (through idx_queue_jobs_unique: its predicate repeated).
SELECT * FROM queue_jobs
WHERE unique_key IN ({keys}) AND unique_key IS NOT NULL
  AND (status <> 'failed' OR unique_failed = 1);

-- name: get_job
SELECT * FROM queue_jobs WHERE id = :id;

-- name: list_failed
SELECT * FROM queue_jobs WHERE status = 'failed'
ORDER BY failed_at DESC, id DESC LIMIT :limit OFFSET :offset;

-- name: failed_by_executor
SELECT executor AS key, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY executor;

-- name: failed_by_group
SELECT group_name AS key, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY group_name;

-- name: count_by_status
SELECT status, COUNT(*) AS count FROM queue_jobs GROUP BY status;

-- name: claim_pick
-- The claim, four statements in one transaction (SqliteDriver._claimed_rows): the ids picked (one row, a JSON array), the claim's time
-- and lease end, the update, the claimed rows (one row, a JSON array of arrays). The attempt is
-- counted now; started_at stays empty until the task has run a while (mark_started), so a lost
-- worker's rescue gives back uncounted what it never started. sqlite3
-- releases Python's GIL around every row it steps through, so an UPDATE ... RETURNING of 250
-- rows traded the GIL with the running tasks 250 times per claim; each SELECT here steps once.
-- A later statement reads an earlier one's columns as parameters (:picked, :claimed_at,
-- :leased_until), as SqliteDriver._claimed_rows runs them; it reads the rows
-- in parts if one JSON value would exceed SQLite's string limit.
-- Each row is an array of job.CLAIMED_COLUMNS, not an object: Python parses an 18-item array
-- faster than a 21-key object. A payload that is JSON (ours always is) is embedded as JSON,
-- parsed with the rest; any other payload (written by another client) comes as text, the column
-- after it. The payload is read as text (a BLOB included), timeout_seconds as 17 digits (JSON
-- numbers keep 15).
-- The open gate only (gate = ''; a limited group's tasks are claimed by flow.sql's gate_pick),
-- and only the executors the worker has: {lanes} is one claim_lane per executor, each read
-- from its head in claim order, merged, the first :limit taken.
SELECT json_group_array(id) AS picked FROM (
    SELECT id FROM ({lanes}) ORDER BY priority DESC, run_at, id LIMIT :limit);

-- name: claim_lane
-- One executor's lane of the open gate (:lane0 becomes :lane1, :lane2... per executor). A task
-- of a paused group, or of a group limited since it was added (an insert that raced
-- set_group_limits: maintenance moves it to its gate), is never claimed here.
SELECT * FROM (
    SELECT id, priority, run_at FROM queue_jobs
    WHERE status = 'waiting' AND gate = '' AND executor = :lane0
      AND (group_name IS NULL
           OR NOT EXISTS (SELECT 1 FROM queue_groups g
                          WHERE g.group_name = queue_jobs.group_name
                            AND (g.status = 'paused' OR g.concurrency_limit IS NOT NULL
                                 OR g.rate_limit IS NOT NULL OR g.breaker_state = 'probing')))
    ORDER BY priority DESC, run_at, id LIMIT :limit)

-- name: claim_times
SELECT strftime('%Y-%m-%d %H:%M:%f', 'now') AS claimed_at,
       strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', :lease_seconds)) AS leased_until;

-- name: claim_mark
UPDATE queue_jobs
SET status = 'executing', attempts = attempts + 1, locked_by = :worker_id,
    lease_token = :lease_token, locked_until = :leased_until, started_at = NULL,
    updated_at = :claimed_at
WHERE id IN (SELECT value FROM json_each(:picked));

-- name: claim_read
SELECT json_group_array(json_array(
    id, job_name, executor, group_name, iif(json_valid(p), json(p), NULL),
    iif(json_valid(p), NULL, p), priority, attempts, max_attempts, run_at, created_at,
    updated_at, locked_until, error_message, error_stack, error_code, failed_at,
    iif(timeout_seconds IS NULL, NULL, printf('%!.17g', timeout_seconds))
    )) AS claimed
FROM (SELECT *, CAST(payload AS TEXT) AS p FROM queue_jobs
      WHERE id IN (SELECT value FROM json_each(:picked)));

-- name: copy_to_success
-- Two statements in one transaction; both must touch exactly one row or it rolls back.
INSERT INTO queue_success (id, job_name, executor, group_name, payload, priority, attempts,
                           execution_time, created_at, started_at, completed_at)
SELECT id, job_name, executor, group_name, payload, priority, attempts, :execution_time,
       created_at, COALESCE(started_at, updated_at), strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM queue_jobs WHERE id = :id AND status = :status AND lease_token IS :lease_token;

-- name: delete_succeeded
DELETE FROM queue_jobs WHERE id = :id AND status = :status AND lease_token IS :lease_token;

-- name: record_attempt_error
-- The attempt's error joins the history in the same transaction (both fenced).
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at, fingerprint)
SELECT id, attempts, :message, :stack, :code, locked_by, strftime('%Y-%m-%d %H:%M:%f', 'now'),
       :fingerprint
FROM queue_jobs WHERE id = :id AND status = :status AND lease_token IS :lease_token;

-- name: mark_as_failed
UPDATE queue_jobs
SET status = 'failed', fingerprint = :fingerprint,
    error_message = :message, error_stack = :stack, error_code = :code,
    failed_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
    locked_by = NULL, locked_until = NULL, lease_token = NULL
WHERE id = :id AND status = :status AND lease_token IS :lease_token;

-- name: retry_later
UPDATE queue_jobs
SET status = 'delayed', error_message = :message, error_stack = :stack, error_code = :code,
    run_at = strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', :delay)),
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
    locked_by = NULL, locked_until = NULL, lease_token = NULL
WHERE id = :id AND status = :status AND lease_token IS :lease_token;

-- name: any_waiting
-- Whether a task of the worker's executors waits, in any gate (a burst worker's last look
-- before it stops: busy locks can make one claim come back empty while a task waits; a limited
-- group's task runs once a slot frees).
SELECT id FROM queue_jobs
WHERE status = 'waiting' AND executor IN ({executors})
  AND (group_name IS NULL
       OR NOT EXISTS (SELECT 1 FROM queue_groups g
                      WHERE g.group_name = queue_jobs.group_name AND g.status = 'paused'))
LIMIT 1;

-- name: any_waiting_in_groups
SELECT id FROM queue_jobs
WHERE status = 'waiting' AND group_name IS NOT NULL AND group_name IN ({groups})
  AND executor IN ({executors})
  AND NOT EXISTS (SELECT 1 FROM queue_groups g
                  WHERE g.group_name = queue_jobs.group_name AND g.status = 'paused')
LIMIT 1;

-- name: recently_prefetched
-- Whether another worker claimed a task less than :seconds ago that has not run for long
-- (started_at is written once it has run 50 ms): a burst worker waits for it rather than stop
-- (it is short, starts soon, or comes back from a busy buffer: slot_threads.py).
SELECT id FROM queue_jobs
WHERE status = 'executing' AND started_at IS NULL AND locked_by <> :worker_id
  AND updated_at > strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -:seconds))
LIMIT 1;

-- name: recently_prefetched_in_groups
SELECT id FROM queue_jobs
WHERE status = 'executing' AND started_at IS NULL AND locked_by <> :worker_id
  AND group_name IS NOT NULL AND group_name IN ({groups})
  AND updated_at > strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -:seconds))
LIMIT 1;

-- name: pause_jobs_of_paused_groups
-- A task of a paused group that is not paused becomes paused (see postgres/queries.sql), then the
-- delayed tasks that fell due become waiting.
UPDATE queue_jobs SET status = 'paused', updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE status IN ('waiting', 'delayed') AND group_name IS NOT NULL
  AND group_name IN (SELECT group_name FROM queue_groups WHERE status = 'paused');

-- name: promote_due
UPDATE queue_jobs SET status = 'waiting', updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE status = 'delayed' AND run_at <= strftime('%Y-%m-%d %H:%M:%f', 'now');

-- name: retry_failed
UPDATE queue_jobs
SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g
                               WHERE g.group_name = queue_jobs.group_name
                                 AND g.status = 'paused') THEN 'paused' ELSE 'waiting' END,
    attempts = 0, error_message = NULL, error_stack = NULL, error_code = NULL,
    fingerprint = NULL,
    failed_at = NULL, locked_by = NULL, locked_until = NULL, lease_token = NULL,
    run_at = strftime('%Y-%m-%d %H:%M:%f', 'now'),
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE id IN ({ids}) AND status = 'failed';

-- name: pause_group
INSERT INTO queue_groups (group_name, status, updated_at)
VALUES (:group, 'paused', strftime('%Y-%m-%d %H:%M:%f', 'now'))
ON CONFLICT (group_name) DO UPDATE SET status = 'paused', updated_at = excluded.updated_at;

-- name: pause_group_jobs
UPDATE queue_jobs SET status = 'paused', updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE group_name = :group AND status IN ('waiting', 'delayed');

-- name: resume_group
INSERT INTO queue_groups (group_name, status, updated_at)
VALUES (:group, 'active', strftime('%Y-%m-%d %H:%M:%f', 'now'))
ON CONFLICT (group_name) DO UPDATE SET status = 'active', updated_at = excluded.updated_at;

-- name: resume_group_jobs
UPDATE queue_jobs
SET status = CASE WHEN run_at > strftime('%Y-%m-%d %H:%M:%f', 'now') THEN 'delayed'
                  ELSE 'waiting' END,
    updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE group_name = :group AND status = 'paused';

-- name: table_exists
SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = :table;

-- name: column_exists
SELECT 1 AS present FROM pragma_table_info(:table) WHERE name = :column;

-- name: create_migrations_table
-- method: how each version got there: applied (its up script ran), schema (a fresh install
-- from schema.sql), adopted (its schema was found in place and finished), legacy (the
-- pre-update layout recognised as version 1).
CREATE TABLE IF NOT EXISTS stratix_queue_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    method VARCHAR(20) NOT NULL DEFAULT 'applied'
);

-- name: add_migrations_method
-- A version table made before the method column: its rows were all applied.
ALTER TABLE stratix_queue_migrations ADD COLUMN method VARCHAR(20) NOT NULL DEFAULT 'applied';

-- name: current_version
-- A worker's check at start: the newest version recorded (NULL: none).
SELECT MAX(version) AS version FROM stratix_queue_migrations;

-- name: applied_migrations
SELECT version, name, applied_at, method FROM stratix_queue_migrations ORDER BY version;

-- name: applied_migrations_without_method
SELECT version, name, applied_at, 'applied' AS method FROM stratix_queue_migrations
ORDER BY version;

-- name: record_migration
INSERT INTO stratix_queue_migrations (version, name, method)
VALUES (:version, :name, :method);

-- name: forget_migration
DELETE FROM stratix_queue_migrations WHERE version = :version;

-- name: lock_migrations
-- SQLite needs no separate lock: each migration runs inside BEGIN IMMEDIATE.
SELECT 1 AS locked;

-- name: unlock_migrations
SELECT 1 AS unlocked;

-- name: claim_pick_in_groups
-- A worker restricted to some groups ({groups} expands to one placeholder per group). Only the
-- pick differs from claim_pick: claim_times, claim_mark and claim_read follow it.
-- Their open-gate tasks of the worker's executors.
SELECT json_group_array(id) AS picked FROM (
    SELECT id FROM queue_jobs
    WHERE status = 'waiting' AND group_name IN ({groups}) AND gate = ''
      AND executor IN ({executors})
      AND NOT EXISTS (SELECT 1 FROM queue_groups g
                      WHERE g.group_name = queue_jobs.group_name
                        AND (g.status = 'paused' OR g.concurrency_limit IS NOT NULL
                             OR g.rate_limit IS NOT NULL OR g.breaker_state = 'probing'))
    ORDER BY priority DESC, run_at, id LIMIT :limit);

-- name: heartbeat_jobs
-- Renew the leases of the tasks this worker is running, fenced by their lease tokens: a task
-- it claimed without learning so (a reply lost with the connection) is not renewed. Each
-- (id, lease_token) pair is its own fence ({leases}); {ids} lets the primary key find the rows.
UPDATE queue_jobs SET locked_until = strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', :lease_seconds))
WHERE id IN ({ids}) AND (id, lease_token) IN ({leases}) AND status = 'executing';

-- name: mark_started
-- Claimed tasks have started: from now on a lost worker's rescue counts their attempt (the worker
-- writes it once a task has run 50 ms, or before it runs a task a lost worker held). {leases}
-- are (id, lease_token) pairs, so each is marked only under its own lease; every task still held
-- counts, marked before or not.
UPDATE queue_jobs SET started_at = COALESCE(started_at, strftime('%Y-%m-%d %H:%M:%f', 'now'))
WHERE id IN ({ids}) AND (id, lease_token) IN ({leases}) AND status = 'executing';

-- name: give_back
-- Graceful shutdown, or a task that waited too long in a busy worker's buffer: it returns to
-- waiting, its attempt not counted (the change marker wakes idle workers for it).
UPDATE queue_jobs
SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g WHERE g.group_name = queue_jobs.group_name
                               AND g.status = 'paused') THEN 'paused' ELSE 'waiting' END,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE id = :id AND status = :status AND lease_token IS :lease_token;

-- name: register_worker
INSERT INTO queue_workers (id, hostname, pid, concurrency, group_names, executors,
                           started_at, last_heartbeat_at)
VALUES (:worker_id, :hostname, :pid, :concurrency, :group_names, :executors, strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now'));

-- name: heartbeat_worker
UPDATE queue_workers SET last_heartbeat_at = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE id = :worker_id;

-- name: unregister_worker
DELETE FROM queue_workers WHERE id = :worker_id;

-- name: prune_workers
DELETE FROM queue_workers WHERE last_heartbeat_at < strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -:stale_seconds));

-- name: list_workers
-- Each with the tasks it holds: running (for 50 ms or more: their start is written) and the
-- others (waiting in its buffer, or just begun).
SELECT w.*,
       (SELECT COUNT(*) FROM queue_jobs j WHERE j.status = 'executing' AND j.locked_by = w.id
          AND j.started_at IS NOT NULL) AS running,
       (SELECT COUNT(*) FROM queue_jobs j WHERE j.status = 'executing' AND j.locked_by = w.id
          AND j.started_at IS NULL) AS prefetched
FROM queue_workers w ORDER BY w.started_at, w.id;

-- name: list_attempt_errors
SELECT * FROM queue_job_errors WHERE job_id = :id ORDER BY attempt, id;

-- name: pick_expired
-- Tasks whose lease ran out (the database's clock decides). One that had started goes back to
-- waiting with the attempt counted, or is failed with WORKER_LOST once attempts are used up; one
-- that never started (it waited in the lost worker's buffer) goes back uncounted. Both carry
-- WORKER_LOST, so the next worker writes their start before running them (worker.py): a task
-- that kills its worker uses up its attempts. Returns the rows as they were before the update.
SELECT id, job_name, executor, group_name, attempts, max_attempts, locked_by,
       started_at IS NOT NULL AS started
FROM queue_jobs
WHERE status = 'executing' AND locked_until < strftime('%Y-%m-%d %H:%M:%f', 'now')
ORDER BY locked_until LIMIT 500;

-- name: record_lost_attempts
INSERT INTO queue_job_errors (job_id, attempt, error_message, error_stack, error_code,
                              worker_id, failed_at, fingerprint)
SELECT id, attempts, :message, NULL, 'WORKER_LOST', locked_by, strftime('%Y-%m-%d %H:%M:%f', 'now'),
       :lost_fingerprint
FROM queue_jobs WHERE id IN ({ids}) AND started_at IS NOT NULL;

-- name: rescue_jobs
UPDATE queue_jobs
SET status = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts THEN 'failed'
                  WHEN EXISTS (SELECT 1 FROM queue_groups g
                               WHERE g.group_name = queue_jobs.group_name
                                 AND g.status = 'paused') THEN 'paused'
                  ELSE 'waiting' END,
    attempts = CASE WHEN started_at IS NULL AND attempts > 0 THEN attempts - 1 ELSE attempts END,
    error_message = CASE WHEN started_at IS NULL THEN :unstarted_message ELSE :message END,
    error_stack = NULL, error_code = 'WORKER_LOST',
    fingerprint = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts
                       THEN :lost_fingerprint ELSE NULL END,
    failed_at = CASE WHEN started_at IS NOT NULL AND attempts >= max_attempts
                     THEN strftime('%Y-%m-%d %H:%M:%f', 'now') ELSE NULL END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE id IN ({ids}) AND status = 'executing';

-- name: release_claim
-- A claim whose reply was lost with the connection may have committed: once the database is
-- back, the worker releases the rows it never learned it held (by the claim's lease token), so
-- they run again without the attempt being counted or waiting for the lease to expire.
UPDATE queue_jobs
SET status = CASE WHEN EXISTS (SELECT 1 FROM queue_groups g
                               WHERE g.group_name = queue_jobs.group_name
                                 AND g.status = 'paused') THEN 'paused' ELSE 'waiting' END,
    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
    locked_by = NULL, locked_until = NULL, lease_token = NULL, updated_at = strftime('%Y-%m-%d %H:%M:%f', 'now')
WHERE status = 'executing' AND lease_token = :lease_token;

-- name: success_pick
-- A batch of successes in one transaction. :items is JSON [[id, lease_token, ms, bucket], ...]; only the
-- rows still executing under that token move (fenced). The first statement answers their ids in
-- one row (:moved, a JSON array; one step, see claim_pick; run by
-- SqliteDriver.move_many_to_success); the insert applies the same fence to the same rows in the same
-- transaction, and the delete takes :moved. CROSS JOIN keeps json_each as the outer loop, so each item is one
-- primary-key lookup (left to itself the planner scans every executing row for each item).
-- moved_count: how many, so that the driver knows at once whether every item moved.
SELECT json_group_array(j.id) AS moved, COUNT(*) AS moved_count FROM json_each(:items) AS d
CROSS JOIN queue_jobs AS j ON j.id = json_extract(d.value, '$[0]')
WHERE j.status = 'executing' AND j.lease_token = json_extract(d.value, '$[1]');

-- name: success_copy
INSERT INTO queue_success (id, job_name, executor, group_name, payload, priority, attempts,
                           execution_time, created_at, started_at, completed_at)
SELECT j.id, j.job_name, j.executor, j.group_name, j.payload, j.priority, j.attempts,
       json_extract(d.value, '$[2]'), j.created_at, COALESCE(j.started_at, j.updated_at),
       strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM json_each(:items) AS d CROSS JOIN queue_jobs AS j ON j.id = json_extract(d.value, '$[0]')
WHERE j.status = 'executing' AND j.lease_token = json_extract(d.value, '$[1]');

-- name: success_delete
DELETE FROM queue_jobs WHERE id IN (SELECT value FROM json_each(:moved));

-- name: list_jobs
-- Operator listing; each filter applies only when given (NULL means any).
SELECT * FROM queue_jobs
WHERE (:status IS NULL OR status = :status)
  AND (:group IS NULL OR group_name = :group)
  AND (:executor IS NULL OR executor = :executor)
ORDER BY id LIMIT :limit OFFSET :offset;

-- name: failed_by_code
SELECT error_code AS key, COUNT(*) AS count FROM queue_jobs
WHERE status = 'failed' GROUP BY error_code;

-- name: failed_ids
-- The failed tasks an operator's bulk retry selects (each filter only when given). Named index:
-- without statistics SQLite would read the table in id order rather than sort a few rows.
SELECT id FROM queue_jobs INDEXED BY idx_queue_jobs_failed
WHERE status = 'failed'
  AND (:group IS NULL OR group_name = :group)
  AND (:executor IS NULL OR executor = :executor)
  AND (:code IS NULL OR error_code = :code)
ORDER BY id;

-- name: group_counts
SELECT group_name, status, COUNT(*) AS count FROM queue_jobs
WHERE group_name IS NOT NULL GROUP BY group_name, status;

-- name: paused_groups
SELECT group_name FROM queue_groups WHERE status = 'paused';

-- name: queue_summary
-- Successes in the last :window_seconds, and the oldest runnable task with the database's now.
SELECT (SELECT COUNT(*) FROM queue_success
        WHERE completed_at >= strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -:window_seconds))) AS succeeded_recently,
       (SELECT MIN(run_at) FROM queue_jobs WHERE status = 'waiting') AS oldest_waiting,
       (SELECT COUNT(*) FROM queue_jobs WHERE status = 'executing' AND started_at IS NOT NULL)
       AS running,
       strftime('%Y-%m-%d %H:%M:%f', 'now') AS db_now;

-- name: count_prunable
SELECT COUNT(*) AS count FROM queue_success WHERE completed_at < strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -:older_than));

-- name: prune_success
-- One batch at a time (the caller repeats until a batch comes back short).
DELETE FROM queue_success WHERE id IN (
    SELECT id FROM queue_success
    WHERE completed_at < strftime('%Y-%m-%d %H:%M:%f', 'now', printf('%+.3f seconds', -:older_than))
    ORDER BY id LIMIT :batch);

-- name: change_marker
-- Grows whenever another connection commits: a nearly free "something happened" check that
-- wakes hungry SQLite workers in other processes (no table is read).
SELECT data_version AS marker FROM pragma_data_version();
