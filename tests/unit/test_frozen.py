"""fast_constructor: the hot path's Job and NewJob are the instances their classes build."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from stratix_queue.backends.arguments import NewJob
from stratix_queue.frozen import fast_constructor
from stratix_queue.job import Job, JobStatus, make_job

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_fast_job_is_a_frozen_job_equal_to_the_one_job_builds() -> None:
    args = (7, "n", "e", "payload", "g", JobStatus.WAITING, 3, 1, 5, NOW, NOW)
    fast, slow = make_job(*args, lease_token="t"), Job(*args, lease_token="t")
    assert type(fast) is Job
    assert fast == slow and hash(fast) == hash(slow)
    assert make_job(*args) != slow  # equality still looks at every field
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    assert fast.timeout is None and fast.error_code is None  # defaults filled in
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.id = 8  # type: ignore[misc]
    assert dataclasses.replace(fast, id=8).id == 8


def test_new_job_keywords_and_defaults() -> None:
    make = fast_constructor(NewJob)
    fast = make(
        name="n",
        executor="e",
        group=None,
        payload_json="{}",
        priority=0,
        max_attempts=1,
        delay_seconds=0.0,
        run_at=None,
    )
    assert fast == NewJob("n", "e", None, "{}", 0, 1, 0.0, None)
    assert type(fast) is NewJob and not fast.delayed
    with pytest.raises(TypeError):
        make("n")  # type: ignore[call-arg]  # missing fields are refused as by NewJob itself


@dataclasses.dataclass(frozen=True, slots=True)
class _KeywordOnly:
    x: int
    y: int = dataclasses.field(default=0, kw_only=True)


def test_keyword_only_fields_stay_keyword_only() -> None:
    make = fast_constructor(_KeywordOnly)
    assert make(1, y=2) == _KeywordOnly(1, y=2)
    with pytest.raises(TypeError):
        make(1, 2)  # type: ignore[call-arg]  # as _KeywordOnly(1, 2) is refused


@dataclasses.dataclass(slots=True)
class _Mutable:
    x: int


@dataclasses.dataclass(frozen=True)
class _NoSlots:
    x: int


@dataclasses.dataclass(frozen=True, slots=True)
class _PostInit:
    x: int

    def __post_init__(self) -> None:
        raise AssertionError


@dataclasses.dataclass(frozen=True, slots=True)
class _NotInInit:
    x: int
    y: int = dataclasses.field(init=False, default=0)


@dataclasses.dataclass(frozen=True, slots=True, init=False)
class _OwnInit:
    x: int

    def __init__(self) -> None:
        object.__setattr__(self, "x", 0)


@pytest.mark.parametrize("cls", [_Mutable, _NoSlots, _PostInit, _NotInInit, _OwnInit, int])
def test_only_frozen_slotted_dataclasses_set_wholly_by_init(cls: type) -> None:
    with pytest.raises(TypeError):
        fast_constructor(cls)
