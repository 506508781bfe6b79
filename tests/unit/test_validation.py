"""Pure-Python checks of stratix_queue.validation."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from stratix_queue import InvalidInputError, InvalidTaskIdError, json_default
from stratix_queue.executors import error_from_exception
from stratix_queue.validation import (
    MAX_ERROR_CODE_LENGTH,
    MAX_ERROR_TEXT_BYTES,
    cap_text,
    check_delay,
    check_name,
    check_page,
    check_run_at,
    check_task_id,
    encode_payload,
    error_data,
    in_id_range,
    new_job,
    payload_encoder,
)


def test_cap_text_keeps_short_text() -> None:
    assert cap_text("hello 数据 🚀") == "hello 数据 🚀"
    exact = "a" * MAX_ERROR_TEXT_BYTES
    assert cap_text(exact) == exact


def test_cap_text_cuts_to_the_byte_limit() -> None:
    text = "a" * (MAX_ERROR_TEXT_BYTES + 1)
    capped = cap_text(text)
    assert capped != text
    assert len(capped.encode("utf-8")) <= MAX_ERROR_TEXT_BYTES
    assert "truncated" in capped
    assert capped.endswith("bytes]")
    head = capped[: capped.index("\n... [truncated")]
    assert text.startswith(head)
    assert len(head) >= MAX_ERROR_TEXT_BYTES - 100


@pytest.mark.parametrize("unit", ["é", "数", "🚀", "a数🚀é"])
@pytest.mark.parametrize("limit", [200, 201, 202, 203, 1000])
def test_cap_text_is_multibyte_safe(unit: str, limit: int) -> None:
    text = unit * 1000
    capped = cap_text(text, limit)
    raw = capped.encode("utf-8")
    assert len(raw) <= limit
    raw.decode("utf-8", errors="strict")  # no half character left behind
    head = capped[: capped.index("\n... [truncated")]
    assert text.startswith(head)
    assert len(head.encode("utf-8")) > limit - 64 - 4  # at most one character lost


def test_cap_text_reports_how_much_was_cut() -> None:
    capped = cap_text("x" * 1000, 200)
    cut = int(capped.rsplit("truncated ", 1)[1].split(" ")[0])
    kept = len(capped[: capped.index("\n... [truncated")])
    assert kept + cut == 1000


def test_cap_text_escapes_nul() -> None:
    assert cap_text("a\x00b") == "a\\x00b"
    capped = cap_text("\x00" * 100_000)
    assert "\x00" not in capped
    assert capped.startswith("\\x00\\x00")
    assert len(capped.encode("utf-8")) <= MAX_ERROR_TEXT_BYTES


def test_error_data_cuts_the_code_and_keeps_none() -> None:
    assert error_data("m", "s", None).code is None  # no code given: stored as NULL
    assert error_data("m", "s", 404).code == "404"
    assert error_data("m", "s", "E" * 150).code == "E" * MAX_ERROR_CODE_LENGTH
    assert error_data("m", "s", "数" * 150).code == "数" * MAX_ERROR_CODE_LENGTH
    assert error_data("m", "s", "a\x00b").code == "a\\x00b"
    data = error_data(None, None, "X")
    assert (data.message, data.stack) == (None, None)
    data = error_data(ValueError("bad\x00"), ["s"], "X")
    assert (data.message, data.stack) == ("bad\\x00", "['s']")
    big = error_data("m" * 100_000, "数" * 100_000, None)
    assert big.message is not None and big.stack is not None
    assert len(big.message.encode()) <= MAX_ERROR_TEXT_BYTES
    assert len(big.stack.encode()) <= MAX_ERROR_TEXT_BYTES
    assert "truncated" in big.message and "truncated" in big.stack


def test_error_from_exception_uses_code_or_class_name() -> None:
    class CodedError(Exception):
        code = "C" * 150

    try:
        raise CodedError("bad \x00 thing")
    except CodedError as exc:
        coded = error_from_exception(exc)
    assert coded.message == "bad \\x00 thing"
    assert coded.code == "C" * MAX_ERROR_CODE_LENGTH
    assert coded.stack is not None and "CodedError" in coded.stack and "Traceback" in coded.stack
    plain = error_from_exception(KeyError("k"))
    assert plain.code == "KeyError"


def test_check_delay() -> None:
    assert check_delay(None) == 0.0
    assert check_delay(0) == 0.0
    assert check_delay(2) == 2.0
    assert check_delay(1.5) == 1.5
    assert check_delay(timedelta(minutes=2, milliseconds=500)) == 120.5
    assert check_delay(timedelta(0)) == 0.0
    assert isinstance(check_delay(3), float)
    assert (check_delay("5"), check_delay("1h30m"), check_delay("250ms")) == (5.0, 5400.0, 0.25)
    for bad in (
        -1,
        -0.5,
        timedelta(seconds=-1),
        float("nan"),
        float("inf"),
        "5 s",
        "-5",
        "inf",
        "3651d",
        True,
        [1],
        timedelta(days=3651),
    ):
        with pytest.raises(InvalidInputError, match="delay"):
            check_delay(bad)
    with pytest.raises(InvalidInputError, match="older_than: 'x' is not a duration"):
        check_delay("x", "older_than")


def test_check_name() -> None:
    assert check_name("x" * 255, "name") == "x" * 255
    assert check_name("数" * 255, "name") == "数" * 255
    assert check_name(None, "group", optional=True) is None
    for bad in ("", "  ", "x" * 256, "a\x00", None, 5, b"x"):
        with pytest.raises(InvalidInputError, match="name"):
            check_name(bad, "name")


def test_encode_payload() -> None:
    assert encode_payload({"a": "数"}, 100) == '{"a":"数"}'
    assert encode_payload([1, None, True], 100) == "[1,null,true]"
    with pytest.raises(InvalidInputError):
        encode_payload({"a": "数" * 10}, 30)  # 10 chars but 30 bytes + JSON punctuation
    for bad in (object(), {1}, float("nan"), {"x": float("-inf")}):
        with pytest.raises(InvalidInputError):
            encode_payload(bad, 1000)


def test_encode_payload_with_a_json_default() -> None:
    hooked = payload_encoder(json_default)
    when = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    assert encode_payload({"at": when}, 100, hooked) == '{"at":"2030-01-02T03:04:00+00:00"}'
    assert encode_payload(["\udce9", Decimal("1.50")], 100, hooked) == '["\\udce9","1.50"]'
    for bad in ({1}, b"x", float("nan")):
        with pytest.raises(InvalidInputError, match="JSON"):
            encode_payload(bad, 100, hooked)

    def boom(value: object) -> object:
        raise KeyError(value)

    with pytest.raises(InvalidInputError, match="json_default raised KeyError"):
        encode_payload({"v": {1}}, 100, payload_encoder(boom))
    with pytest.raises(InvalidInputError, match="json_default must be a function"):
        payload_encoder("iso")  # type: ignore[arg-type]


def test_json_default() -> None:
    assert json_default(datetime(2030, 1, 2, 3, 4, 5)) == "2030-01-02T03:04:05"
    assert json_default(date(2030, 1, 2)) == "2030-01-02"
    assert json_default(time(9, 30, tzinfo=UTC)) == "09:30:00+00:00"
    assert json_default(Decimal("-0.00")) == "-0.00"
    assert json_default(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    for other in ({1}, b"x", timedelta(1), object()):
        with pytest.raises(TypeError, match="not JSON serializable"):
            json_default(other)


def test_task_ids() -> None:
    assert check_task_id(5) == 5
    assert check_task_id(-5) == -5
    for bad in ("5", 5.0, True, None):
        with pytest.raises(InvalidTaskIdError):
            check_task_id(bad)
    assert issubclass(InvalidTaskIdError, InvalidInputError)
    assert in_id_range(1) and in_id_range(2**63 - 1)
    assert not in_id_range(0) and not in_id_range(-1) and not in_id_range(2**63)


def test_check_page() -> None:
    assert check_page(0, 0) == (0, 0)
    assert check_page(100, 5) == (100, 5)
    for limit, offset in [(-1, 0), (0, -1), ("1", 0), (1, None), (False, 0)]:
        with pytest.raises(InvalidInputError):
            check_page(limit, offset)


def test_check_run_at_is_naive_utc() -> None:
    aware = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert check_run_at(aware) == datetime(2030, 1, 1, 10, 0)
    assert check_run_at(datetime(2030, 1, 1, 12, 0, tzinfo=UTC)) == datetime(2030, 1, 1, 12, 0)
    assert check_run_at(None) is None
    assert check_run_at("2030-01-01T12:00:00+02:00") == datetime(2030, 1, 1, 10, 0)
    assert check_run_at(" 2030-01-01 12:00 ") == datetime(2030, 1, 1, 12, 0)  # naive: UTC
    for bad in ("01/01/2030", "noon", "", 1893456000, date(2030, 1, 1)):
        with pytest.raises(InvalidInputError, match="run_at"):
            check_run_at(bad)


def test_new_job() -> None:
    job = new_job(
        {"name": "n", "executor": "e", "payload": None, "delay": timedelta(seconds=3)},
        default_max_attempts=4,
        max_payload_bytes=100,
    )
    assert (job.name, job.executor, job.group, job.payload_json) == ("n", "e", None, "{}")
    assert (job.priority, job.max_attempts, job.delay_seconds) == (0, 4, 3.0)
    assert job.delayed
    for bad in ({"name": "n"}, {"executor": "e"}, {"name": "n", "executor": "e", "x": 1}):
        with pytest.raises(InvalidInputError):
            new_job(bad, default_max_attempts=1, max_payload_bytes=100)


def test_cap_text_survives_a_lone_surrogate() -> None:
    capped = cap_text("caf\udce9")
    capped.encode("utf-8")
    assert capped.startswith("caf")
