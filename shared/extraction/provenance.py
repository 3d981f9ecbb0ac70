"""Relations gathered for one batch, each once by id, with the chunks that support it (its provenance)."""

from shared.domain import Chunk, Relation
from shared.domain.ids import relation_id

EVIDENCE_CHARS = 300  # of the first supporting chunk, kept on the relation as its evidence


def add_relation(relations: dict[str, Relation], source: str, type_: str, target: str, chunk: Chunk) -> None:
    """Add the relation (source, type, target) found in `chunk`, or add `chunk` to the one already gathered."""
    key = relation_id(source, type_, target)
    found = relations.get(key)
    if found is None:
        relations[key] = Relation(
            relation_id=key,
            source_id=source,
            type=type_,
            target_id=target,
            chunk_ids=[chunk.chunk_id],
            evidence=chunk.text[:EVIDENCE_CHARS] or None,
        )
    elif chunk.chunk_id not in found.chunk_ids:
        relations[key] = found.model_copy(update={"chunk_ids": [*found.chunk_ids, chunk.chunk_id]})
