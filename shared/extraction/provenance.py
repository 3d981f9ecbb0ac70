"""Entities and relations gathered for one batch, each once by id, with the chunks that support it (its provenance)."""

from shared.domain import Chunk, Entity, Relation
from shared.domain.ids import entity_id, relation_id

EVIDENCE_CHARS = 300  # of the first supporting chunk, kept on the relation as its evidence


def add_entity(entities: dict[str, Entity], type_: str, name: str, chunk_id: str) -> str:
    """Add the entity (type, name) found in chunk `chunk_id`, or add the chunk to the one already gathered; its id."""
    key = entity_id(type_, name)
    found = entities.get(key)
    if found is None:
        entities[key] = Entity(entity_id=key, type=type_, name=name, chunk_ids=[chunk_id])
    elif chunk_id not in found.chunk_ids:
        entities[key] = found.model_copy(update={"chunk_ids": [*found.chunk_ids, chunk_id]})
    return key


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
