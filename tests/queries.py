"""The named queries of each database, and the statements of an operation in the order its
driver runs them (for the tests that EXPLAIN them)."""

from __future__ import annotations

from stratix_queue.backends import package_dir
from stratix_queue.sqlfile import load_queries

_COMMON = {
    "mark_as_failed": ["record_attempt_error", "mark_as_failed"],
    "retry_later": ["record_attempt_error", "retry_later"],
    "promote_due": ["pause_jobs_of_paused_groups", "promote_due"],
    "pause_group": ["pause_group", "pause_group_jobs"],
    "resume_group": ["resume_group", "resume_group_jobs"],
    "rescue_expired": ["pick_expired", "record_lost_attempts", "rescue_jobs"],
}
_SQLITE_CLAIM = ["claim_times", "claim_mark", "claim_read"]
_MARIADB_CLAIM = ["claim_mark", "claim_read"]
_OPERATIONS = {
    "sqlite": {
        "claim_jobs": ["claim_pick", *_SQLITE_CLAIM],
        "claim_jobs_in_groups": ["claim_pick_in_groups", *_SQLITE_CLAIM],
        "move_many_to_success": [
            "success_pick",
            "success_copy",
            "success_rollup_rows",
            "success_delete",
        ],
        "move_to_success": ["copy_to_success", "delete_succeeded", "rollup_success"],
    },
    "postgres": {},
    "mysql": {
        "claim_jobs": ["claim_read_head", "claim_lock", *_MARIADB_CLAIM],
        "claim_jobs_in_groups": [
            "claim_read_head_in_groups",
            "claim_lock_in_groups",
            *_MARIADB_CLAIM,
        ],
        "move_many_to_success": [
            "success_copy",
            "success_copied",
            "success_rollup_summed",
            "success_rollup",
            "success_delete",
        ],
        "move_to_success": ["copy_to_success", "delete_succeeded", "rollup_success"],
        "retry_failed": ["lock_failed", "retry_failed"],
    },
}


def queries_of(dialect: str) -> dict[str, str]:
    return load_queries(package_dir(dialect))


def statements(dialect: str, operation: str) -> list[str]:
    """The statements ``operation`` runs on ``dialect``, in order."""
    queries = queries_of(dialect)
    names = _OPERATIONS[dialect].get(operation) or _COMMON.get(operation) or [operation]
    return [queries[name] for name in names]
