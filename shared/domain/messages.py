"""The message contract between stages: one envelope per batch per stage."""

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.domain.models import BatchPayload, DocumentRef, Stage

ENVELOPE_SCHEMA_VERSION = 1


class Envelope(BaseModel):
    """A batch on its way to `stage`. It carries the payload inline or a claim check pointing at it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = ENVELOPE_SCHEMA_VERSION
    message_id: str
    job_id: str
    stage: Stage
    batch: int = Field(ge=0)
    document: DocumentRef
    tracking_id: str
    traceparent: str | None = None
    payload: BatchPayload | None = None
    claim_check: str | None = Field(default=None, description="blob path in the work container")
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @model_validator(mode="after")
    def _exactly_one_body(self) -> "Envelope":
        if (self.payload is None) == (self.claim_check is None):
            raise ValueError("an envelope carries either a payload or a claim check, not both or neither")
        return self


class BlobEvent(BaseModel):
    """A BlobCreated notification, as Event Grid delivers it (only what ingest needs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(description="unique per upload; a redelivery keeps it")
    container: str
    path: str
