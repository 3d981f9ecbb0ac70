"""History events as the Durable extension hands them to an out-of-process orchestrator.

The JSON is that of the SDK's own test builder (azure-functions-durable-python, tests/test_utils/ContextBuilder.py):
`EventType` (HistoryEventType), `EventId`, `IsPlayed`, `Timestamp`, then the fields of each kind. Results, inputs
and event payloads are JSON *text* (the SDK `df_loads` them), as the extension sends them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from azure.durable_functions.constants import DATETIME_STRING_FORMAT
from azure.durable_functions.models.history.HistoryEventType import HistoryEventType as T

Event = dict[str, Any]

__all__ = ["Event", "T", "event", "timestamp", "utc_now"]


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """The extension's timestamp form (the SDK's DATETIME_STRING_FORMAT, always UTC)."""
    return moment.astimezone(UTC).strftime(DATETIME_STRING_FORMAT)


def event(kind: T, moment: datetime, event_id: int = -1, **fields: Any) -> Event:
    """One history event; `fields` are the kind's own (`Name`, `Input`, `Result`, `TaskScheduledId`, ...)."""
    return {"EventType": int(kind), "EventId": event_id, "IsPlayed": False, "Timestamp": timestamp(moment), **fields}
