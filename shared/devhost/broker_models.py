"""The local broker's vocabulary: messages going in and out, queue counts, and its two errors.

Named after Service Bus's own (MessageId, DeliveryCount, DeadLetterReason, …) so code that settles a message reads
the same against the local broker and the real service.
"""

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.domain import PermanentError, TributaryError

# Standard tier: 256 KB per message, body and properties together (Premium allows more; we mirror Standard).
MAX_MESSAGE_BYTES = 256 * 1024

DEAD_LETTER_MAX_DELIVERY = "MaxDeliveryCountExceeded"  # the reason Service Bus itself writes

PropertyValue = str | int | float | bool


class OutgoingMessage(BaseModel):
    """A message to enqueue; `scheduled_enqueue_time` in the future keeps it invisible until then."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    body: bytes
    message_id: str = Field(min_length=1, max_length=128)  # Service Bus caps MessageId at 128 characters
    application_properties: dict[str, PropertyValue] = Field(default_factory=dict)
    content_type: str | None = None
    subject: str | None = None
    correlation_id: str | None = None
    scheduled_enqueue_time: AwareDatetime | None = None

    def size(self) -> int:
        """Bytes counted against the size limit: the body plus every property, as UTF-8."""
        texts = [self.message_id, self.content_type, self.subject, self.correlation_id]
        for key, value in self.application_properties.items():
            texts += [key, str(value)]
        return len(self.body) + sum(len(text.encode()) for text in texts if text is not None)


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


class MessageTooLargeError(PermanentError, ValueError):
    """Over the Standard-tier size limit: resending cannot help, so it is permanent."""

    def __init__(self, message_id: str, size: int) -> None:
        self.size = size
        super().__init__(
            "bus.message_too_large", f"message {message_id} is {size} bytes; the limit is {MAX_MESSAGE_BYTES}"
        )


class MessageLockLostError(TributaryError):
    """The lock expired or was taken over by a later delivery: the message may already be with someone else."""

    def __init__(self, message: ReceivedMessage) -> None:
        super().__init__(
            "bus.lock_lost", f"message {message.message_id} (sequence {message.sequence_number}) on {message.queue}"
        )
