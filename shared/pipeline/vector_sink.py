"""Vector sink: merge-or-upload the batch's embedded chunks."""

from shared.domain import BatchPayload, DocumentRef
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports
from shared.telemetry import Span, sink_span


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    with sink_span(Span.VECTOR_WRITE, ports.settings.vectors, len(payload.chunks)):
        ports.vectors.upsert(payload.chunks, document)
    return StageOutput(payload=payload)
