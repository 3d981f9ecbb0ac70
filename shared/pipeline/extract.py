"""Extract: entities and relations of a batch, by whichever extractor the host wired in."""

from shared.domain import BatchPayload, DocumentRef
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    extraction = ports.extractor.extract(payload.chunks)
    enriched = payload.model_copy(
        update={
            "entities": extraction.entities,
            "relations": extraction.relations,
            "extractor": ports.extractor.name,
        }
    )
    return StageOutput(payload=enriched)
