"""A ready ``json_default`` for payloads that hold dates, decimals or UUIDs.

Payloads are stored as JSON. ``QueueService(url, json_default=json_default)`` encodes what JSON
has no type for as text; decoding gives that text back, not the original object.
"""

from __future__ import annotations

import sys
from datetime import date, time


def json_default(value: object) -> str:
    """``datetime``, ``date`` and ``time`` as ISO 8601 text (``isoformat()``), ``Decimal`` and
    ``UUID`` as their ``str()``; TypeError for anything else, as ``json.dumps`` expects."""
    if isinstance(value, date | time):  # datetime is a date
        return value.isoformat()
    # A Decimal or UUID exists only once its module is imported: looked up, not imported, so
    # that importing stratix_queue does not load decimal and uuid for everyone.
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(value, decimal.Decimal):
        return str(value)
    uuid = sys.modules.get("uuid")
    if uuid is not None and isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
