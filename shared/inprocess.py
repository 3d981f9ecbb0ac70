"""The in-process host: runs ingest for a blob, then drains every queue in this process with the same
settle rules as the Functions host (complete on success, dead-letter a PermanentError at once, retry anything
else up to the delivery cap, then dead-letter)."""

import logging
from collections.abc import Callable

from shared.adapters.memory_bus import Delivery, InMemoryBus
from shared.domain import BlobEvent, IngestOutcome, PermanentError, Stage, StageResult
from shared.pipeline.ingest import ingest_blob
from shared.pipeline.stages import process_message, record_dead_letter
from shared.ports import Ports

log = logging.getLogger(__name__)

MAX_DELIVERY_EXCEEDED = "delivery.max_count_exceeded"


def run_blob(event: BlobEvent, ports: Ports, bus: InMemoryBus, on_message: Callable[[], None] | None = None):
    """Ingest one blob and drain what it published; returns the ingest outcome."""
    outcome: IngestOutcome = ingest_blob(event, ports)
    drain(bus, ports, on_message)
    return outcome


def drain(bus: InMemoryBus, ports: Ports, on_message: Callable[[], None] | None = None) -> int:
    """Process messages until every queue is empty; returns how many deliveries were made."""
    # Sinks first: batches leave the pipeline before new ones enter, so memory stays bounded.
    order = [ports.settings.queues[stage] for stage in (Stage.VECTOR, Stage.GRAPH, Stage.EXTRACT, Stage.ENRICH)]
    deliveries = 0
    while (delivery := bus.receive(order)) is not None:
        deliveries += 1
        settle(delivery, bus, ports)
        if on_message:
            on_message()
    return deliveries


def settle(delivery: Delivery, bus: InMemoryBus, ports: Ports) -> StageResult | None:
    """Deliver one message to its stage and settle it the way the Functions host would."""
    envelope = delivery.envelope
    try:
        return process_message(envelope, ports)
    except PermanentError as error:
        record_dead_letter(envelope, error.reason_code, error.detail, ports)
        bus.dead_letter(delivery, error.reason_code, error.detail)
    except Exception as error:  # anything else is worth a retry, as the host abandons on an exception
        log.warning(
            "stage %s batch %s failed (delivery %s): %s", envelope.stage, envelope.batch, delivery.delivery_count, error
        )
        if delivery.delivery_count >= ports.settings.max_delivery_count:
            detail = f"{type(error).__name__}: {error}"
            record_dead_letter(envelope, MAX_DELIVERY_EXCEEDED, detail, ports)
            bus.dead_letter(delivery, MAX_DELIVERY_EXCEEDED, detail)
        else:
            bus.abandon(delivery)
    return None
