"""What travels on a queue, whatever the broker: the outgoing message, its size limit, and the reason Service Bus
writes when it dead-letters at the delivery cap. Named after Service Bus's own vocabulary (MessageId, DeadLetterReason,
...) so code that settles a message reads the same against the local broker and the real service.
"""

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.domain.errors import PermanentError
from shared.domain.reasons import Reason

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


class MessageTooLargeError(PermanentError, ValueError):
    """Over the Standard-tier size limit: resending cannot help, so it is permanent."""

    def __init__(self, message_id: str, size: int) -> None:
        self.size = size
        super().__init__(
            Reason.BUS_MESSAGE_TOO_LARGE, f"message {message_id} is {size} bytes; the limit is {MAX_MESSAGE_BYTES}"
        )
