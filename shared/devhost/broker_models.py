"""The local broker's vocabulary: messages delivered, queue counts, and the lock-lost error.

The outgoing side (OutgoingMessage, the size limit, MaxDeliveryCountExceeded) is shared with the Service Bus adapter
and lives in shared.domain.bus.
"""

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from shared.domain import TributaryError
from shared.domain.bus import (
    DEAD_LETTER_MAX_DELIVERY,
    MAX_MESSAGE_BYTES,
    MessageTooLargeError,
    OutgoingMessage,
    PropertyValue,
)
from shared.domain.reasons import Reason

__all__ = [
    "DEAD_LETTER_MAX_DELIVERY",
    "MAX_MESSAGE_BYTES",
    "MessageLockLostError",
    "MessageTooLargeError",
    "MessagingEntityNotFoundError",
    "OutgoingMessage",
    "PropertyValue",
    "QueueCounts",
    "QueueProperties",
    "QueuePropertyChangeError",
    "ReceivedMessage",
]


class QueueProperties(BaseModel):
    """A queue's entity properties, by Service Bus's names (the SDK's snake_case; ARM/Bicep's camelCase and ISO 8601
    durations such as "PT1M" are accepted too), with Service Bus's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    lock_duration: timedelta = Field(timedelta(minutes=1), alias="lockDuration", gt=timedelta(0))
    max_delivery_count: int = Field(10, alias="maxDeliveryCount", ge=1)
    requires_duplicate_detection: bool = Field(False, alias="requiresDuplicateDetection")
    duplicate_detection_history_time_window: timedelta = Field(
        timedelta(minutes=10), alias="duplicateDetectionHistoryTimeWindow", gt=timedelta(0)
    )


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
            Reason.BUS_LOCK_LOST,
            f"message {message.message_id} (sequence {message.sequence_number}) on {message.queue}",
        )


class MessagingEntityNotFoundError(TributaryError):
    """The queue was never created: Service Bus refuses to send to (or receive from) an entity that does not exist."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        super().__init__(Reason.BUS_ENTITY_NOT_FOUND, f"the messaging entity {queue!r} could not be found")


class QueuePropertyChangeError(TributaryError, ValueError):
    """A property Service Bus fixes at creation (duplicate detection) cannot be changed on an existing queue."""

    def __init__(self, queue: str, name: str) -> None:
        super().__init__(Reason.BUS_QUEUE_PROPERTY_FIXED, f"{name} of the existing queue {queue!r} cannot be changed")
