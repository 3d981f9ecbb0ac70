"""Graph sink: MERGE the batch's document, chunks, entities and relations."""

from shared.domain import BatchPayload, Counts, DocumentRef
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports
from shared.telemetry import Span, sink_span


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    with sink_span(Span.GRAPH_WRITE, ports.settings.graph, len(payload.chunks)):
        ports.graph.write_batch(document, payload)
    return StageOutput(payload=payload, counts=Counts(entities=len(payload.entities), relations=len(payload.relations)))
