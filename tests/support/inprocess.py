"""The in-process host: runs ingest for a blob, then drains every queue in this process with the same
settle rules as the Functions host (complete on success, dead-letter a PermanentError at once, retry anything
else up to the delivery cap, then dead-letter)."""

from collections.abc import Callable

from shared.domain import BlobEvent, IngestOutcome, Stage, StageResult
from shared.pipeline.delivery import handle_delivery
from shared.pipeline.ingest import ingest_blob
from shared.pipeline.settlement import Action, settle_failure
from shared.ports import Ports
from tests.support.memory_bus import Delivery, InMemoryBus


def run_blob(
    event: BlobEvent, ports: Ports, bus: InMemoryBus, on_message: Callable[[], None] | None = None
) -> IngestOutcome:
    """Ingest one blob and drain what it published; returns the ingest outcome."""
    outcome = ingest_blob(event, ports)
    assert outcome is not None, f"{event.container} is not the incoming container"
    drain(bus, ports, on_message)
    return outcome


def drain(bus: InMemoryBus, ports: Ports, on_message: Callable[[], None] | None = None) -> int:
    """Process messages until every queue is empty; returns how many deliveries were made."""
    # Sinks first: batches leave the pipeline before new ones enter, so memory stays bounded.
    stages = (Stage.DELETE, Stage.CLEANUP, Stage.VECTOR, Stage.GRAPH, Stage.EXTRACT, Stage.ENRICH)
    order = [ports.settings.queues[stage] for stage in stages]
    deliveries = 0
    while (delivery := bus.receive(order)) is not None:
        deliveries += 1
        settle(delivery, bus, ports)
        if on_message:
            on_message()
    return deliveries


def settle(delivery: Delivery, bus: InMemoryBus, ports: Ports) -> StageResult | None:
    """Deliver one message to its stage and settle it by the rule every host applies (shared.pipeline.settlement);
    the in-memory bus can dead-letter at once, which a Python function on Azure cannot."""
    try:
        return handle_delivery(delivery.envelope, delivery.delivery_count, ports)
    except Exception as error:
        settlement = settle_failure(
            error, delivery.delivery_count, ports.settings.max_delivery_count, can_dead_letter=True
        )
        if settlement.action is Action.DEAD_LETTER:
            bus.dead_letter(delivery, settlement.dead_letter_reason or "", settlement.description)
        else:
            bus.abandon(delivery)
    return None
