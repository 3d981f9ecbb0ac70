"""Completion notifications: what is announced when a job or a bulk run ends (a CloudEvents 1.0 event's content).

The adapters (shared/adapters/notify_*.py) turn a `Notification` into the SDK's CloudEvent; this model only fixes
what the event says, so the pipeline stays free of Azure imports. Its `id` is a function of the job and the state
it reached, so a receiver can drop a redelivered event by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.ids import stable_hash

EVENT_TYPE_PREFIX = "io.tributary"
SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


class Notification(BaseModel):
    """The attributes of one CloudEvents 1.0 event and its JSON data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="deterministic: f(job or bulk id, state), the same for every resend")
    source: str = Field(description="/tributary/{storage account}/jobs or .../bulk")
    type: str = Field(description="io.tributary.job.<state> or io.tributary.bulk.<state>")
    subject: str = Field(description="the blob path (container/path), or the bulk run's container")
    time: datetime = Field(description="when the job reached the state (its record's updated_at)")
    data: dict[str, Any]
    # Not event attributes (the adapters send only the ones above): for the sender's own use.
    job_id: str = Field(description="the job (or bulk run) a failed delivery is recorded on")
    failed: bool = Field(description="whether it announces a failure (TRIBUTARY_NOTIFY_EVENTS=failed sends only these)")


def event_id(kind: str, key: str, state: str) -> str:
    """The event id of `kind` (job or bulk) `key` reaching `state`: the same on every resend."""
    return stable_hash("notification", kind, key, state)


class DeliveryFailedError(Exception):
    """Every attempt to deliver a notification failed (retries and their time cap spent)."""

    def __init__(self, target: str, attempts: int, detail: str) -> None:
        super().__init__(f"{target}: {detail} after {attempts} attempt(s)")
        self.target = target
        self.attempts = attempts
        self.detail = detail
