"""One delivered stage message, accounted for in the job store whatever its fate (DESIGN.md §3).

The host settles the message (complete on return, abandon on an exception, dead-letter at the delivery cap); this
module makes sure the job store tells the same story: a batch that will never complete is marked dead-lettered with
its reason and fails its job, so every job ends truthful.

What happens to a failed delivery is decided in one place, shared.pipeline.settlement: a PermanentError fails the
job at once and is raised again (the queue dead-letters the message once its delivery count reaches the cap, and the
job store already holds the real reason); any other error is retried, and the delivery that reaches the cap fails
the job with `delivery.max_count_exceeded`.
"""

import logging
import time
from datetime import UTC, datetime

from pydantic import ValidationError

from shared.domain import Envelope, PermanentError, Reason, Stage, StageResult
from shared.pipeline.settlement import settle_failure
from shared.pipeline.stages import process_message, record_dead_letter
from shared.ports import Ports
from shared.telemetry import metrics, stage_span
from shared.telemetry.names import Attr

log = logging.getLogger(__name__)


def handle_message_body(body: bytes | str, stage: Stage, delivery_count: int, ports: Ports) -> StageResult:
    """A Service Bus trigger's whole job: decode the envelope, check it belongs to this queue's stage, run it."""
    envelope = decode_envelope(body)
    if envelope.stage is not stage:
        # Running it would apply the wrong handler to the payload; it can never succeed here.
        raise PermanentError(Reason.MESSAGE_WRONG_QUEUE, f"a {envelope.stage} message reached the {stage} queue")
    return handle_delivery(envelope, delivery_count, ports)


def decode_envelope(body: bytes | str) -> Envelope:
    """The envelope in a message body; a body that is not one can never succeed."""
    try:
        return Envelope.model_validate_json(body)
    except ValidationError as error:
        raise PermanentError(Reason.MESSAGE_MALFORMED, str(error)[:500]) from error


def handle_delivery(envelope: Envelope, delivery_count: int, ports: Ports) -> StageResult:
    """Run the envelope's stage; on failure record what the queue will do with it, then raise for the host.

    In the stage's span (a child of the span that sent the message), timed, with the message's age at dequeue."""
    queue = ports.settings.queues[envelope.stage]
    started = time.monotonic()
    metrics.message_age(envelope.stage, (datetime.now(UTC) - envelope.created_at).total_seconds())
    with stage_span(
        stage=envelope.stage,
        queue=queue,
        job_id=envelope.job_id,
        tracking_id=envelope.tracking_id,
        traceparent=envelope.traceparent,
        batch=envelope.batch,
        message_id=envelope.message_id,
    ) as span:
        span.set_attribute(Attr.MESSAGING_DELIVERY_COUNT, delivery_count)
        try:
            result = process_message(envelope, ports)
        except Exception as error:
            settlement = settle_failure(error, delivery_count, ports.settings.max_delivery_count)
            log.warning(
                "stage %s batch %s failed (delivery %s): %s", envelope.stage, envelope.batch, delivery_count, error
            )
            outcome = "retried"
            if settlement.dead_letter_reason is not None:
                outcome = "dead_lettered"
                span.set_attribute(Attr.REASON_CODE, settlement.dead_letter_reason)
                record_dead_letter(envelope, settlement.dead_letter_reason, settlement.description, ports)
            span.set_attribute(Attr.OUTCOME, outcome)
            metrics.stage_processed(envelope.stage, queue, time.monotonic() - started, outcome, type(error).__name__)
            raise
        span.set_attribute(Attr.OUTCOME, "done")
        metrics.stage_processed(envelope.stage, queue, time.monotonic() - started, "done")
        return result
