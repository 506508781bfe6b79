"""A connection that fails raises DatabaseUnavailableError with the driver's error as
``__cause__`` (as docs/api.md promises), and no message names the password. Port 1 refuses
at once: no server is needed."""

from __future__ import annotations

import pytest

from stratix_queue import DatabaseUnavailableError, QueueService

PASSWORD = "pw_s3cret"


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        (f"postgresql://app:{PASSWORD}@127.0.0.1:1/prod", "psycopg"),
        (f"postgresql://app@127.0.0.1:1/prod?password={PASSWORD}", "psycopg"),
        (f"mysql://app:{PASSWORD}@127.0.0.1:1/prod", "pymysql"),
    ],
)
def test_connection_failure_keeps_the_driver_error(url: str, driver: str) -> None:
    driver_error = pytest.importorskip(
        driver, exc_type=ImportError
    ).Error  # unit tests run without it
    with QueueService(url) as queue, pytest.raises(DatabaseUnavailableError) as raised:
        queue.count_by_status()
    assert isinstance(raised.value.__cause__, driver_error)
    assert "127.0.0.1:1" in str(raised.value)
    assert PASSWORD not in str(raised.value)
    assert PASSWORD not in repr(queue)
