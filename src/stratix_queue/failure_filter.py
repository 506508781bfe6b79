"""One filter for failed tasks: the same :class:`FailureFilter` drives the list, the counts,
the dry run and every bulk action, in the API and the CLI, and prints as the CLI options that
reproduce it (docs/triage.md)."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from stratix_queue.durations import parse_duration
from stratix_queue.errors import InvalidInputError
from stratix_queue.fingerprint import FINGERPRINT_LENGTH
from stratix_queue.validation import MAX_ERROR_CODE_LENGTH, check_int, check_name, check_run_at

MAX_MESSAGE_FILTER = 1000


@dataclass(frozen=True, slots=True)
class FailureFilter:
    """Failed tasks matching every field given (None: any). ``message`` is a case-insensitive
    substring of the error message (ASCII letters fold on every backend); ``since`` and
    ``until`` bound ``failed_at`` (since <= failed_at < until, naive UTC); ``min_attempts`` and
    ``max_attempts`` bound the attempts the task made. Build one with :meth:`build`, which
    checks the values and takes durations ('2h': two hours ago) for the times."""

    executor: str | None = None
    group: str | None = None
    code: str | None = None
    fingerprint: str | None = None
    message: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    min_attempts: int | None = None
    max_attempts: int | None = None

    @classmethod
    def build(
        cls,
        executor: str | None = None,
        group: str | None = None,
        code: str | None = None,
        fingerprint: str | None = None,
        message: str | None = None,
        since: datetime | str | timedelta | float | None = None,
        until: datetime | str | timedelta | float | None = None,
        min_attempts: int | None = None,
        max_attempts: int | None = None,
        *,
        now: datetime | None = None,
    ) -> FailureFilter:
        """A checked filter: InvalidInputError names the first bad value. A time is a datetime,
        ISO 8601 text, or how long ago (seconds, a timedelta or text such as '2h', '7d')."""
        at = now or datetime.now(UTC)
        return cls(
            executor=check_name(executor, "executor", optional=True),
            group=check_name(group, "group", optional=True),
            code=_check_text(code, "code", MAX_ERROR_CODE_LENGTH),
            fingerprint=_check_fingerprint(fingerprint),
            message=_check_text(message, "message", MAX_MESSAGE_FILTER),
            since=_moment(since, "since", at),
            until=_moment(until, "until", at),
            min_attempts=None
            if min_attempts is None
            else check_int(min_attempts, "min_attempts", 0, 2**31 - 1),
            max_attempts=None
            if max_attempts is None
            else check_int(max_attempts, "max_attempts", 0, 2**31 - 1),
        )

    def is_empty(self) -> bool:
        """Whether it matches every failed task."""
        return all(getattr(self, f.name) is None for f in fields(self))

    def cli_options(self) -> list[str]:
        """The CLI options that give this filter (times as ISO 8601 UTC)."""
        options: list[str] = []
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            if isinstance(value, datetime):
                value = value.isoformat(timespec="microseconds") + "Z"
            options += [f"--{field.name.replace('_', '-')}", str(value)]
        return options

    def cli_line(self, command: str = "failed list") -> str:
        """The shell command that reproduces this filter, e.g.
        ``stratix-queue failed retry --all --executor convert --code LookupError``."""
        return shlex.join(["stratix-queue", *command.split(), *self.cli_options()])

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("since", "until"):
            if data[key] is not None:
                data[key] = data[key].isoformat()
        return json.dumps({k: v for k, v in data.items() if v is not None}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FailureFilter:
        data: dict[str, Any] = json.loads(text)
        for key in ("since", "until"):
            if key in data:
                data[key] = datetime.fromisoformat(data[key])
        return cls(**data)


FILTER_FIELDS = tuple(field.name for field in fields(FailureFilter))


def _check_text(value: object, what: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInputError(f"{what} must be a non-empty string")
    if len(value) > limit or "\x00" in value:
        raise InvalidInputError(f"{what} must be at most {limit} characters, without NUL")
    return value


def _check_fingerprint(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).lower() if isinstance(value, str) else ""
    if len(text) != FINGERPRINT_LENGTH or any(c not in "0123456789abcdef" for c in text):
        raise InvalidInputError(
            f"fingerprint must be {FINGERPRINT_LENGTH} hex digits, not {value!r}"
        )
    return text


def _moment(value: object, what: str, now: datetime) -> datetime | None:
    """A naive UTC time: given, or ``value`` ago (a duration)."""
    if value is None or isinstance(value, datetime):
        return check_run_at(value)
    if isinstance(value, timedelta):
        return _ago(now, value.total_seconds(), what)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _ago(now, float(value), what)
    if isinstance(value, str):
        try:
            return _ago(now, parse_duration(value), what)
        except InvalidInputError:
            try:
                return check_run_at(value)
            except InvalidInputError:
                raise InvalidInputError(
                    f"{what} must be a duration ago ('2h', '7d') or an ISO 8601 time, not {value!r}"
                ) from None
    raise InvalidInputError(f"{what} must be a datetime, ISO 8601 text or a duration")


def _ago(now: datetime, seconds: float, what: str) -> datetime:
    if not 0 <= seconds <= 100 * 365 * 86400:
        raise InvalidInputError(f"{what}: a duration ago must be between 0 and 100 years")
    return (now - timedelta(seconds=seconds)).astimezone(UTC).replace(tzinfo=None)
