"""One mapping between the pipeline's `Envelope` and a bus message, shared by every Bus adapter and the host."""

from shared.domain import Envelope
from shared.domain.bus import OutgoingMessage, PropertyValue

CONTENT_TYPE = "application/json"


def to_outgoing(envelope: Envelope) -> OutgoingMessage:
    """The message that carries `envelope`: MessageId for duplicate detection, trace context in its properties."""
    # Properties repeat a few envelope fields so tools (Service Bus Explorer, the DLQ endpoint, the host's trace
    # propagation) can read them without parsing the body.
    candidates: dict[str, PropertyValue | None] = {
        "traceparent": envelope.traceparent,
        "tracking_id": envelope.tracking_id,
        "job_id": envelope.job_id,
        "stage": envelope.stage.value,
        "batch": envelope.batch,
    }
    return OutgoingMessage(
        body=envelope.model_dump_json().encode(),
        message_id=envelope.message_id,
        application_properties={key: value for key, value in candidates.items() if value is not None},
        content_type=CONTENT_TYPE,
        subject=envelope.stage.value,
    )


def envelope_from_body(body: bytes | str) -> Envelope:
    """The envelope a message body carries; raises pydantic's ValidationError when it is not one."""
    return Envelope.model_validate_json(body)
