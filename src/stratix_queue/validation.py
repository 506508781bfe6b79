"""Checks of user input. Every failure raises :class:`InvalidInputError` before any write."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from stratix_queue.backends.arguments import ErrorData, NewJob
from stratix_queue.clock import to_naive_utc
from stratix_queue.durations import parse_duration
from stratix_queue.errors import InvalidInputError, InvalidTaskIdError
from stratix_queue.frozen import fast_constructor

if TYPE_CHECKING:
    pass

MAX_NAME_LENGTH = 255
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_ERROR_TEXT_BYTES = 60_000  # fits a TEXT column (65,535 bytes) on MySQL/MariaDB
MAX_ERROR_CODE_LENGTH = 100
MAX_ATTEMPTS_LIMIT = 1000
MAX_TASK_ID = 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_TIMEOUT_SECONDS = 7 * 86400.0
TASK_FIELDS = frozenset(
    {
        "name",
        "executor",
        "payload",
        "group",
        "priority",
        "delay",
        "run_at",
        "max_attempts",
        "timeout",
        "unique_key",
        "unique_while_failed",
    }
)


def check_name(value: object, what: str, *, optional: bool = False) -> str | None:
    """A task name, executor or group: a non-empty str of at most 255 characters."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string, not {type(value).__name__}")
    if not value.strip():
        raise InvalidInputError(f"{what} must not be empty")
    if value != value.strip():
        # MySQL/MariaDB compare with trailing spaces ignored; refuse them on every backend alike
        raise InvalidInputError(f"{what} must not start or end with whitespace: {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidInputError(
            f"{what} is {len(value)} characters long; the limit is {MAX_NAME_LENGTH}"
        )
    if "\x00" in value:
        raise InvalidInputError(f"{what} must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError(f"{what} is not valid Unicode (a lone surrogate)") from None
    return value


JsonDefault = Callable[[Any], Any]


def payload_encoder(default: JsonDefault | None = None) -> json.JSONEncoder:
    """json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"),
    default=default), made once rather than per call."""
    if default is not None and not callable(default):
        raise InvalidInputError(
            f"json_default must be a function (like json.dumps' default), not "
            f"{type(default).__name__}"
        )
    return json.JSONEncoder(
        ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=default
    )


_PAYLOAD_JSON = payload_encoder()


def encode_payload(
    payload: object, max_bytes: int, encoder: json.JSONEncoder = _PAYLOAD_JSON
) -> str:
    """The payload as JSON text, or InvalidInputError if it is not JSON (after ``encoder``'s
    default, if it has one) or too large."""
    try:
        text = encoder.encode(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"payload is not JSON-serialisable: {exc}") from exc
    except RecursionError:
        raise InvalidInputError("payload is nested too deeply to encode as JSON") from None
    except Exception as exc:  # only an application's json_default raises anything else
        raise InvalidInputError(
            f"payload is not JSON-serialisable: json_default raised {type(exc).__name__}: {exc}"
        ) from exc
    try:
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate: JSON can carry it escaped, losslessly
        text = json.dumps(
            payload,
            ensure_ascii=True,
            allow_nan=False,
            separators=(",", ":"),
            default=encoder.default,
        )
        size = len(text)
    if size > max_bytes:
        raise InvalidInputError(
            f"payload is {size} bytes as JSON; the limit is {max_bytes} bytes "
            "(QueueService(max_payload_bytes=...) changes it)"
        )
    return text


def check_int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"{what} must be an integer, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidInputError(f"{what} must be between {low} and {high}, not {value}")
    return value


def _seconds(value: object, what: str) -> float:
    """Seconds from a number, a timedelta or duration text as the CLI takes it ('30s', '1h30m')."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except InvalidInputError as exc:
            raise InvalidInputError(f"{what}: {exc}") from None
    raise InvalidInputError(
        f"{what} must be seconds, a timedelta or text such as '30s', not {type(value).__name__}"
    )


def check_delay(delay: object, what: str = "delay") -> float:
    """A delay in seconds (int, float, timedelta or text like '5m'), zero to ten years."""
    if delay is None:
        return 0.0
    seconds = _seconds(delay, what)
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInputError(f"{what} must be zero or more seconds, not {delay!r}")
    if seconds > 10 * 365 * 86400:
        raise InvalidInputError(f"{what} must be at most ten years")
    return seconds


def check_run_at(run_at: object) -> datetime | None:
    """A datetime, or ISO 8601 text (as in a JSON Lines file); naive means UTC."""
    if run_at is None:
        return None
    if isinstance(run_at, str):
        try:
            run_at = datetime.fromisoformat(run_at.strip())
        except ValueError:
            raise InvalidInputError(
                f"run_at is not an ISO 8601 date and time: {run_at!r} "
                "(e.g. '2030-01-31T09:00:00+01:00'; without an offset it is UTC)"
            ) from None
    if not isinstance(run_at, datetime):
        raise InvalidInputError(
            f"run_at must be a datetime or ISO 8601 text, not {type(run_at).__name__}"
        )
    try:
        return to_naive_utc(run_at)
    except OverflowError:
        raise InvalidInputError(f"run_at is out of range in UTC: {run_at!r}") from None


_make_new_job = fast_constructor(NewJob)  # kept: see make_job (job.py); 500 tasks 1.8 vs 2.1 ms


def new_job(
    spec: Mapping[str, Any],
    *,
    default_max_attempts: int,
    max_payload_bytes: int,
    encoder: json.JSONEncoder = _PAYLOAD_JSON,
) -> NewJob:
    """Validate one task description (the keyword arguments of ``add_task``)."""
    if not TASK_FIELDS.issuperset(spec):
        unknown = set(spec) - TASK_FIELDS
        raise InvalidInputError(f"unknown task field(s): {', '.join(sorted(unknown))}")
    if "name" not in spec or "executor" not in spec:
        raise InvalidInputError("a task needs a name and an executor")
    return new_job_from_args(
        **spec,
        default_max_attempts=default_max_attempts,
        max_payload_bytes=max_payload_bytes,
        encoder=encoder,
    )


def new_job_from_args(
    name: object,
    executor: object,
    payload: object = None,
    group: object = None,
    priority: object = 0,
    delay: object = None,
    max_attempts: object = None,
    run_at: object = None,
    timeout: object = None,
    unique_key: object = None,
    unique_while_failed: object = False,
    *,
    default_max_attempts: int,
    max_payload_bytes: int,
    encoder: json.JSONEncoder = _PAYLOAD_JSON,
) -> NewJob:
    """Validate one task given as ``add_task``'s arguments (checked in this order)."""
    return _make_new_job(
        name=str(check_name(name, "name")),
        executor=str(check_name(executor, "executor")),
        group=check_name(group, "group", optional=True),
        payload_json=encode_payload({} if payload is None else payload, max_payload_bytes, encoder),
        priority=check_int(priority, "priority", INT32_MIN, INT32_MAX),
        max_attempts=check_int(
            default_max_attempts if max_attempts is None else max_attempts,
            "max_attempts",
            1,
            MAX_ATTEMPTS_LIMIT,
        ),
        delay_seconds=check_delay(delay),
        run_at=check_run_at(run_at),
        timeout_seconds=check_timeout(timeout),
        unique_key=check_name(unique_key, "unique_key", optional=True),
        unique_while_failed=check_bool(unique_while_failed, "unique_while_failed"),
    )


def check_bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{what} must be True or False, not {type(value).__name__}")
    return value


def check_timeout(timeout: object) -> float | None:
    """A timeout in seconds (number, timedelta or text like '5m'), above 0 and at most a week."""
    if timeout is None:
        return None
    seconds = _seconds(timeout, "timeout")
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_TIMEOUT_SECONDS:
        raise InvalidInputError(f"timeout must be above 0 and at most a week, not {timeout!r}")
    return seconds


def check_statement_timeout(seconds: object) -> float | None:
    """A statement timeout: None (no limit) or 1 s to a day; shorter would fail real work."""
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidInputError(
            f"statement_timeout must be seconds or None, not {type(seconds).__name__}"
        )
    if not math.isfinite(seconds) or not 1 <= seconds <= 86_400:
        raise InvalidInputError(
            f"statement_timeout must be 1 to 86400 seconds (or None), not {seconds!r}"
        )
    return float(seconds)


def check_task_id(task_id: object) -> int:
    """A task id must be an int (bool is refused); it is not checked for existence."""
    if isinstance(task_id, bool) or not isinstance(task_id, int):
        raise InvalidTaskIdError(f"task id must be an integer, not {type(task_id).__name__}")
    return task_id


def in_id_range(task_id: int) -> bool:
    """Whether an id can exist at all (ids are positive 64-bit integers)."""
    return 1 <= task_id <= MAX_TASK_ID


def check_page(limit: object, offset: object) -> tuple[int, int]:
    return (
        check_int(limit, "limit", 0, 1_000_000),
        check_int(offset, "offset", 0, MAX_TASK_ID),
    )


def cap_text(text: str, max_bytes: int = MAX_ERROR_TEXT_BYTES) -> str:
    """Text cut to at most ``max_bytes`` of UTF-8, NULs escaped, with a note when cut."""
    raw = text.replace("\x00", "\\x00").encode("utf-8", errors="backslashreplace")
    if len(raw) <= max_bytes:
        return raw.decode("utf-8")
    kept = raw[: max_bytes - 64].decode("utf-8", errors="ignore")
    return f"{kept}\n... [truncated {len(raw) - len(kept.encode('utf-8'))} bytes]"


def error_data(message: object, stack: object, code: object) -> ErrorData:
    """Normalise an error record: texts capped so any backend can store them, None stays NULL;
    with its fingerprint."""
    from stratix_queue.fingerprint import fingerprint

    capped_message = None if message is None else cap_text(str(message))
    capped_stack = None if stack is None else cap_text(str(stack))
    capped_code = None if code is None else cap_text(str(code))[:MAX_ERROR_CODE_LENGTH]
    return ErrorData(
        message=capped_message,
        stack=capped_stack,
        code=capped_code,
        fingerprint=fingerprint(capped_code, capped_message, capped_stack),
    )
