"""Vector sink: merge-or-upload the batch's embedded chunks."""

from shared.domain import BatchPayload, DocumentRef
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    ports.vectors.upsert(payload.chunks, document)
    return StageOutput(payload=payload)
