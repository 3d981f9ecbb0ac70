"""What one extract call finds, merged: one entity per id, one relation per id, chunk ids and aliases unioned."""

from functools import lru_cache

from shared.domain import Extraction
from shared.domain.ids import canonical_name, entity_id, relation_id
from shared.extraction.schema import ExtractionSchema

EVIDENCE_LIMIT = 300

# The same names recur in every batch.
canonical = lru_cache(maxsize=1 << 16)(canonical_name)
memo_entity_id = lru_cache(maxsize=1 << 16)(entity_id)
memo_relation_id = lru_cache(maxsize=1 << 16)(relation_id)


def trim(text: str, limit: int = EVIDENCE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _EntityDraft:
    """An entity as recorded so far. A plain class with slots: one is made per new name, and a dataclass's
    default factories cost more than its two dicts."""

    __slots__ = ("chunk_ids", "names", "type")

    def __init__(self, entity_type: str) -> None:
        self.type = entity_type
        self.names: dict[str, None] = {}  # ordered sets: first seen first
        self.chunk_ids: dict[str, None] = {}


class _RelationDraft:
    """A relation as recorded so far (slotted, as `_EntityDraft`)."""

    __slots__ = ("chunk_ids", "evidence", "source_id", "target_id", "type")

    def __init__(self, source_id: str, relation_type: str, target_id: str, evidence: str) -> None:
        self.source_id, self.type, self.target_id, self.evidence = source_id, relation_type, target_id, evidence
        self.chunk_ids: dict[str, None] = {}


def _display_name(names: list[str]) -> str:
    """The first surface form that is not all capitals: "São Paulo" rather than a dateline's "SÃO PAULO"."""
    if not names[0].isupper():
        return names[0]  # most names: no generator to run
    return next((name for name in names if not name.isupper()), names[0])


class Collector:
    """Merges what a call finds: one entity per id, one relation per id, chunk ids and aliases unioned."""

    def __init__(self, schema: ExtractionSchema) -> None:
        self.schema = schema
        self.entities: dict[str, _EntityDraft] = {}
        self.relations: dict[str, _RelationDraft] = {}

    def entity(self, entity_type: str, name: str, chunk_id: str) -> str | None:
        if entity_type not in self.schema.entity_types or not canonical(name):
            return None
        key = memo_entity_id(entity_type, name)
        draft = self.entities.get(key)
        if draft is None:
            draft = self.entities[key] = _EntityDraft(entity_type)
        draft.names[name] = None
        draft.chunk_ids[chunk_id] = None
        return key

    def relation(
        self,
        source: tuple[str, str],
        relation: str,
        target: tuple[str, str],
        chunk_id: str,
        evidence: str,
    ) -> None:
        """Record a relation between (type, name) ends; the one gate that refuses triples outside the schema."""
        if not self.schema.allows(source[0], relation, target[0]):
            return
        source_id, target_id = self.entity(*source, chunk_id), self.entity(*target, chunk_id)
        if source_id is not None and target_id is not None:
            self._relate(source_id, relation, target_id, chunk_id, evidence)

    def relation_of_entities(
        self, source: tuple[str, str], relation: str, target: tuple[str, str], chunk_id: str, evidence: str
    ) -> None:
        """`relation` between (type, entity id) ends already recorded for this chunk (co-occurrence pairs them all)."""
        if self.schema.allows(source[0], relation, target[0]):
            self._relate(source[1], relation, target[1], chunk_id, evidence)

    def _relate(self, source_id: str, relation: str, target_id: str, chunk_id: str, evidence: str) -> None:
        if source_id == target_id:
            return
        if self.schema.relation_types[relation].symmetric and target_id < source_id:
            source_id, target_id = target_id, source_id  # one edge whichever way round it was written
        key = memo_relation_id(source_id, relation, target_id)
        draft = self.relations.get(key)
        if draft is None:
            draft = self.relations[key] = _RelationDraft(source_id, relation, target_id, trim(evidence))
        draft.chunk_ids[chunk_id] = None

    def extraction(self) -> Extraction:
        # One validation of the whole tree from plain dicts: pydantic-core builds thousands of models in one call
        # at least as fast as a Python call per model (measured), and still checks them.
        entities = []
        for key, draft in self.entities.items():
            names = list(draft.names)
            name = _display_name(names)
            entities.append(
                {
                    "entity_id": key,
                    "type": draft.type,
                    "name": name,
                    # names are unique: when the first is the display name (most), the rest are the aliases
                    "aliases": names[1:] if name is names[0] else [alias for alias in names if alias != name],
                    "chunk_ids": list(draft.chunk_ids),
                }
            )
        relations = [
            {
                "relation_id": key,
                "source_id": draft.source_id,
                "type": draft.type,
                "target_id": draft.target_id,
                "chunk_ids": list(draft.chunk_ids),
                "evidence": draft.evidence,
            }
            for key, draft in self.relations.items()
        ]
        return Extraction.model_validate({"entities": entities, "relations": relations})
