"""Graph sink: MERGE the batch's document, chunks, entities and relations."""

from shared.domain import BatchPayload, Counts, DocumentRef
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    ports.graph.write_batch(document, payload)
    return StageOutput(payload=payload, counts=Counts(entities=len(payload.entities), relations=len(payload.relations)))
