"""The local broker's vocabulary: messages delivered, queue counts, and the lock-lost error.

The outgoing side (OutgoingMessage, the size limit, MaxDeliveryCountExceeded) is shared with the Service Bus adapter
and lives in shared.domain.bus.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain import TributaryError
from shared.domain.bus import (
    DEAD_LETTER_MAX_DELIVERY,
    MAX_MESSAGE_BYTES,
    MessageTooLargeError,
    OutgoingMessage,
    PropertyValue,
)

__all__ = [
    "DEAD_LETTER_MAX_DELIVERY",
    "MAX_MESSAGE_BYTES",
    "MessageLockLostError",
    "MessageTooLargeError",
    "OutgoingMessage",
    "PropertyValue",
    "QueueCounts",
    "ReceivedMessage",
]


class ReceivedMessage(BaseModel):
    """A delivered (or peeked) message. `lock_token` is None when it was only peeked."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    queue: str
    sequence_number: int
    message_id: str
    body: bytes
    application_properties: dict[str, PropertyValue]
    content_type: str | None
    subject: str | None
    correlation_id: str | None
    delivery_count: int = Field(description="1 on the first delivery, as the Functions host reports it")
    enqueued_time: datetime = Field(description="when it became visible (the scheduled time, if it had one)")
    scheduled_enqueue_time: datetime | None
    locked_until: datetime | None
    lock_token: str | None
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None
    dead_letter_source: str | None = None


class QueueCounts(BaseModel):
    """Disjoint counts: `active` is visible and unlocked; `locked` is being processed; `scheduled` not yet due."""

    model_config = ConfigDict(frozen=True)

    active: int
    scheduled: int
    locked: int
    dead_lettered: int


class MessageLockLostError(TributaryError):
    """The lock expired or was taken over by a later delivery: the message may already be with someone else."""

    def __init__(self, message: ReceivedMessage) -> None:
        super().__init__(
            "bus.lock_lost", f"message {message.message_id} (sequence {message.sequence_number}) on {message.queue}"
        )
