"""A file's trace as the job store records it (GET /api/trace): one event per stage batch, and the client's own
tracking id read from the blob's metadata. The job store is the trace's source of truth because it exists on every
host; the spans go to Application Insights on Azure and to a local file only on a developer's machine."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.jobs import BatchOutcome
from shared.domain.models import Stage

# Azure metadata keys are C# identifiers, compared case-insensitively (the service keeps the case it was given).
TRACKING_ID_METADATA_KEY = "tracking_id"
TRACKING_ID_MAX_LENGTH = 128
# Letters, digits and `-_.:`: a UUID, a W3C trace id, a ULID or an order number fit; nothing that could become markup,
# a path, a query operator or a log line of its own.
_TRACKING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_STAGE_ORDER = {stage: position for position, stage in enumerate(Stage)}
_NO_TIME = datetime.min.replace(tzinfo=UTC)


class StageEvent(BaseModel):
    """One stage batch settled: when, how, after how long, and by which message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stage: Stage
    batch: int = Field(ge=0)
    outcome: BatchOutcome
    reason_code: str | None = Field(None, description="why it was dead-lettered")
    message_id: str | None = Field(
        None, description="the Service Bus MessageId the batch arrived in (parse: none, it reads the blob)"
    )
    recorded_at: datetime | None = Field(
        None, description="when the stage recorded the batch (null: recorded before the store kept it)"
    )
    duration_ms: float | None = Field(
        None, ge=0, description="how long the stage's handler ran on the batch (parse: producing it); null: unknown"
    )


def in_trace_order(events: Iterable[StageEvent]) -> list[StageEvent]:
    """By recorded time, then pipeline order of the stages, then batch (events of an unknown time first)."""
    return sorted(events, key=lambda e: (e.recorded_at or _NO_TIME, _STAGE_ORDER[e.stage], e.batch))


class InvalidTrackingIdError(ValueError):
    """The blob's metadata names a tracking id that cannot be used; the job keeps its trace id instead."""


def client_tracking_id(metadata: Mapping[str, str]) -> str | None:
    """The tracking id a client put in the blob's metadata (`tracking_id`, any case), None when there is none.

    Raises InvalidTrackingIdError for a value too long or with other characters than letters, digits and `-_.:`: a
    hostile value is refused whole, never cut or cleaned into someone else's id.
    """
    values = [value for key, value in metadata.items() if key.lower() == TRACKING_ID_METADATA_KEY]
    if not values:
        return None
    value = values[0]
    if not isinstance(value, str) or len(value) > TRACKING_ID_MAX_LENGTH or not _TRACKING_ID.fullmatch(value):
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise InvalidTrackingIdError(
            f"metadata {TRACKING_ID_METADATA_KEY}={shown!r}: at most {TRACKING_ID_MAX_LENGTH} letters, digits"
            " or -_.: (starting with a letter or digit); the trace id was used instead"
        )
    return value
