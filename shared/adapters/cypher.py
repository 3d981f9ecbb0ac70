"""The Cypher core every graph adapter runs: batch MERGE statements, count queries and the dialect differences.

Graph model::

    (:Document {id, path, version, account, container})-[:HAS_CHUNK]->
    (:Chunk {id, document_id, version, ordinal, text, locator})-[:MENTIONS]->
    (:Entity:<Type> {id, type, name, aliases, block1, block2})
        -[:<RELATION_TYPE> {id, evidence, chunk_ids, weight}]->(:Entity)

Every MERGE is keyed on ids (DESIGN.md §3), so a batch written twice changes nothing: a node on its own `id`, a
relation on its `id`, HAS_CHUNK and MENTIONS on their two ends (a chunk has one document; one MENTIONS per chunk
and entity). The keyed labels and every relationship type with an `id` carry a unique constraint on it. Relation
types are open-ended (they come from the extraction schema), so no schema lists them: each relation statement
names its type, and the adapter keys the type before the first statement that writes it. Labels and relationship
types cannot be query parameters, so they are validated before being formatted into a query.

An entity's `block1`/`block2` are the blocking keys entity resolution finds it by (`Entity.blocks`, qualified by
the type), each indexed; like the name, the first ones written stay.

A relation's `chunk_ids` are its provenance: the chunks that support it. Removing a version (`remove_chunks`)
takes its chunks out of them (and lowers its `weight`, their number), and a relation left with none goes; a
relation without the property at all was written before provenance was stored, and stays until one of its
entities goes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from shared.domain import BatchPayload, DocumentRef, Entity, PermanentError, Reason, Relation
from shared.ports import ChunkContext, EntityCandidate, EntityRef, GraphContext, RelationRef

RELATION_TYPE_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
LABEL_PATTERN = re.compile(r"^[A-Z][A-Za-z0-9_]{0,63}$")

DOCUMENT, CHUNK, ENTITY = "Document", "Chunk", "Entity"
KEYED_LABELS: tuple[str, ...] = (DOCUMENT, CHUNK, ENTITY)  # each has a unique `id`
# An entity typed "Chunk" would become a :Chunk node and break the counts and the constraints.
RESERVED_LABELS = frozenset(KEYED_LABELS)
STRUCTURAL_RELATIONS: tuple[str, ...] = ("HAS_CHUNK", "MENTIONS")  # keyed by their ends, with no `id`

T = TypeVar("T")


class Statement(NamedTuple):
    query: str
    params: dict[str, Any]
    keyed_relation: str | None = None  # the relationship type it MERGEs on `id`: the adapter keys it first


@dataclass(frozen=True)
class Dialect:
    """What differs between the Cypher servers the adapters talk to."""

    name: str
    index_ddl: str  # template over {label} and {name}: the statement that makes `id` unique (or indexed)
    relation_index_ddl: str  # template over {rel_type} and {name}: the same for a relationship type's `id`
    constraints_in_ddl: bool  # False: the adapter adds unique constraints through its own API after the index
    integer_sums_as_floats: bool
    has_temporal_functions: bool  # False: pass timestamps as parameters, never datetime()/date()
    accepts_nul_in_strings: bool
    # Template over {label}, {property} and {name}: an index on a property that is looked up but not unique.
    property_index_ddl: str = ""
    # A clause taking a matched entity's write lock before its aliases are read and rewritten, so that concurrent
    # writers of the same entity queue instead of one losing the other's aliases. Empty where writes to a graph are
    # serialised anyway.
    entity_write_lock: str = ""

    def key_ddl(self, label: str) -> str:
        """The statement keying `label` on `id` (not idempotent on every server: see the adapter)."""
        return self.index_ddl.format(label=label, name=f"{label.lower()}_id")

    def relation_key_ddl(self, rel_type: str) -> str:
        """The statement keying relationship type `rel_type` on `id` (not idempotent on every server either)."""
        return self.relation_index_ddl.format(rel_type=rel_type, name=f"rel_{rel_type.lower()}_id")

    def schema_statements(self) -> list[str]:
        """`key_ddl` for every keyed label."""
        return [self.key_ddl(label) for label in KEYED_LABELS]

    def lookup_index_ddl(self, label: str, property_: str) -> str:
        """The statement indexing `label`'s `property_` for look-ups (not idempotent on every server either)."""
        return self.property_index_ddl.format(label=label, property=property_, name=f"{label}_{property_}".lower())

    def to_int(self, value: Any) -> int:
        """An integer result, whichever numeric type the server returned it as."""
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{self.name} returned a non-integral count: {value}")
            return int(value)
        return int(value)

    def text(self, value: str) -> str:
        """A string the server accepts as a parameter."""
        # FalkorDB's client inlines parameters into the query text, where a NUL ends the parse.
        return value if self.accepts_nul_in_strings else value.replace("\x00", "\ufffd")


FALKORDB = Dialect(
    name="falkordb",
    index_ddl="CREATE INDEX FOR (n:{label}) ON (n.id)",
    relation_index_ddl="CREATE INDEX FOR ()-[r:{rel_type}]-() ON (r.id)",
    constraints_in_ddl=False,
    integer_sums_as_floats=True,
    has_temporal_functions=False,
    accepts_nul_in_strings=False,
    property_index_ddl="CREATE INDEX FOR (n:{label}) ON (n.{property})",
)

NEO4J = Dialect(
    name="neo4j",
    index_ddl="CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE",
    # Neo4j 5.7+. Its MERGE locks both bound end nodes, so concurrent writers cannot duplicate an edge there; the
    # constraint states the guarantee instead of leaving it implied, as it does for the nodes.
    relation_index_ddl="CREATE CONSTRAINT {name} IF NOT EXISTS FOR ()-[r:{rel_type}]-() REQUIRE r.id IS UNIQUE",
    constraints_in_ddl=True,
    integer_sums_as_floats=False,
    has_temporal_functions=True,
    accepts_nul_in_strings=True,
    property_index_ddl="CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON (n.{property})",
    # Neo4j's MERGE of an existing node takes no lock on it (only the constraint's index entry), and its reads see the
    # latest committed value: writing a property first takes the node's exclusive lock until the commit.
    entity_write_lock="SET e._lock = true REMOVE e._lock",
)


def relation_type(value: str) -> str:
    """`value` if it is a safe relationship type (UPPER_SNAKE), else PermanentError graph.invalid_type."""
    if not RELATION_TYPE_PATTERN.fullmatch(value) or value in STRUCTURAL_RELATIONS:
        raise PermanentError(
            Reason.GRAPH_INVALID_TYPE,
            f"relation type {value!r} must match {RELATION_TYPE_PATTERN.pattern} and not be HAS_CHUNK/MENTIONS",
        )
    return value


def entity_label(value: str) -> str:
    """`value` if it is a safe entity label (PascalCase), else PermanentError graph.invalid_type."""
    if not LABEL_PATTERN.fullmatch(value) or value in RESERVED_LABELS:
        raise PermanentError(
            Reason.GRAPH_INVALID_TYPE,
            f"entity type {value!r} must match {LABEL_PATTERN.pattern} and not be one of {sorted(RESERVED_LABELS)}",
        )
    return value


# -- statements --

# HAS_CHUNK and MENTIONS stay without properties or a variable: FalkorDB then checks them by their ends only,
# resolving the type when the query runs (see falkordb_graph.py before adding either).
_DOCUMENT_AND_CHUNKS = """
MERGE (d:Document {id: $document.id})
SET d.path = $document.path, d.version = $document.version,
    d.account = $document.account, d.container = $document.container
WITH d
UNWIND $rows AS r
MERGE (c:Chunk {id: r.id})
SET c.document_id = r.document_id, c.version = r.version, c.ordinal = r.ordinal,
    c.text = r.text, c.locator = r.locator
MERGE (d)-[:HAS_CHUNK]->(c)
"""

# Aliases: the union of the stored and the new ones, in first-seen order, never repeating the name.
# The MENTIONS edges are written in the same statement as their entity: between two statements, a clean-up
# removing another version could delete the entity as mentioned by no chunk, and a later MATCH would then drop the
# mention. (An entity with no chunk id is still upserted: the UNWIND ends its row after the writes.)
_ENTITIES = """
UNWIND $rows AS r
MERGE (e:Entity {{id: r.id}})
ON CREATE SET e.name = r.name, e.type = r.type
{lock}
SET e:{label},
    e.aliases = reduce(acc = coalesce(e.aliases, []), a IN r.aliases |
                       CASE WHEN a IN acc OR a = e.name THEN acc ELSE acc + [a] END),
    e.block2 = CASE WHEN e.block1 IS NULL THEN r.block2 ELSE e.block2 END,
    e.block1 = coalesce(e.block1, r.block1)
WITH e, r
UNWIND r.chunk_ids AS chunk_id
MATCH (c:Chunk {{id: chunk_id}})
MERGE (c)-[:MENTIONS]->(e)
"""

# A relation whose endpoint is in no batch yet is skipped by the MATCH rather than inventing a bare entity.
# Evidence: the first one stored stays, as the extractor keeps the first within a batch. So a redelivered batch
# changes nothing (DESIGN.md §3), and a relation that comes back batch after batch is not rewritten (and
# re-indexed) every time. Provenance (`chunk_ids`): the union of the stored and the new ids, in first-seen order;
# a row without any leaves a relation that has none without the property, as before provenance was stored.
# `weight`: how many chunks support it (the size of that union), what a co-occurrence edge is worth to community
# detection; a redelivered batch leaves it as it was, removing a version lowers it.
# The union is written out twice below: FalkorDB reads a property as the query found the edge, even in a SET after
# the one that changed it (measured: the weight lagged one write behind). Whichever state an engine reads, the
# union of the stored ids with the row's is the same.
_CHUNK_UNION = """CASE WHEN x.chunk_ids IS NULL AND size(r.chunk_ids) = 0 THEN NULL
     ELSE reduce(acc = coalesce(x.chunk_ids, []), c IN r.chunk_ids |
                 CASE WHEN c IN acc THEN acc ELSE acc + [c] END) END"""
_RELATIONS = (
    """
UNWIND $rows AS r
MATCH (s:Entity {{id: r.source_id}})
MATCH (t:Entity {{id: r.target_id}})
MERGE (s)-[x:{rel_type} {{id: r.id}}]->(t)
SET x.chunk_ids = """
    + _CHUNK_UNION
    + """,
    x.weight = size("""
    + _CHUNK_UNION
    + """)
WITH x, r
WHERE x.evidence IS NULL AND r.evidence IS NOT NULL
SET x.evidence = r.evidence
"""
)

COUNT_QUERIES: dict[str, str] = {
    "documents": "MATCH (n:Document) RETURN count(n)",
    "chunks": "MATCH (n:Chunk) RETURN count(n)",
    "entities": "MATCH (n:Entity) RETURN count(n)",
    # Only entity-to-entity edges are relations; HAS_CHUNK and MENTIONS are structure.
    "relations": "MATCH (:Entity)-[r]->(:Entity) RETURN count(r)",
}


# What a search answer shows around its hits: each chunk's document and mentions, then the one-hop relations of the
# entities mentioned. Unknown chunk ids match nothing; a chunk that mentions nothing still comes back (OPTIONAL).
CHUNK_CONTEXT = """
UNWIND $chunk_ids AS cid
MATCH (d:Document)-[:HAS_CHUNK]->(c:Chunk {id: cid})
OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity)
RETURN c.id, d.path, c.locator, e.id, e.type, e.name
"""
ENTITY_NEIGHBOURHOOD = """
UNWIND $entity_ids AS eid
MATCH (e:Entity {id: eid})-[r]-(n:Entity)
RETURN DISTINCT r.id, type(r), startNode(r).id, endNode(r).id, n.id, n.type, n.name
LIMIT $limit
"""


def graph_context(
    run: Callable[[str, dict[str, Any]], list[list[Any]]], chunk_ids: Sequence[str], max_relations: int
) -> GraphContext:
    """The GraphContext of `chunk_ids`, from the two queries above run through an adapter's `run(query, params)`."""
    chunks: dict[str, ChunkContext] = {}
    entities: dict[str, EntityRef] = {}
    mentioned: dict[str, list[str]] = {}
    for chunk_id, path, locator, entity_id, entity_type, name in run(CHUNK_CONTEXT, {"chunk_ids": list(chunk_ids)}):
        chunks.setdefault(chunk_id, ChunkContext(chunk_id=chunk_id, path=path, locator=locator or ""))
        if entity_id is not None:
            mentioned.setdefault(chunk_id, []).append(entity_id)
            entities[entity_id] = EntityRef(entity_id=entity_id, type=entity_type, name=name)
    chunks = {cid: c.model_copy(update={"entity_ids": tuple(mentioned.get(cid, ()))}) for cid, c in chunks.items()}
    relations: dict[str, RelationRef] = {}
    if entities and max_relations > 0:
        params = {"entity_ids": list(entities), "limit": max_relations}
        for row in run(ENTITY_NEIGHBOURHOOD, params):
            relation_id, rel_type, source_id, target_id, other_id, other_type, other_name = row
            relations[relation_id] = RelationRef(
                relation_id=relation_id, type=rel_type, source_id=source_id, target_id=target_id
            )
            entities.setdefault(other_id, EntityRef(entity_id=other_id, type=other_type, name=other_name))
    return GraphContext(chunks=chunks, entities=entities, relations=tuple(relations.values()))


# -- entity resolution's look-ups --

BLOCK_PROPERTIES: tuple[str, ...] = ("block1", "block2")  # Entity.blocks, in order; each has a look-up index

# Per key, the `per_block` lowest ids (a key shared by thousands of entities, a common surname, stays bounded, and
# which ones come back does not depend on storage order); then the entities asked for by id, whatever the cap.
ENTITY_CANDIDATES = """
UNWIND $blocks AS b
MATCH (e:Entity)
WHERE e.block1 = b OR e.block2 = b
WITH b, e ORDER BY e.id
WITH b, collect(e)[..$per_block] AS found
UNWIND found AS e
RETURN e.id, e.type, e.name, e.aliases
UNION
UNWIND $ids AS i
MATCH (e:Entity {id: i})
WHERE e.type = $type
RETURN e.id, e.type, e.name, e.aliases
"""
# Both ends are found by their unique id first, so the match only looks between two known nodes.
LINKED_ENTITIES = """
UNWIND $pairs AS p
MATCH (a:Entity {id: p[0]}), (b:Entity {id: p[1]})
MATCH (a)-[]-(b)
RETURN DISTINCT a.id, b.id
"""


def block_value(entity_type: str, block: str) -> str:
    """How a blocking key is stored: qualified by the type, so one index serves every type."""
    return f"{entity_type}:{block}"


def entity_candidates(
    read: Run, dialect: Dialect, entity_type: str, blocks: Sequence[str], per_block: int, ids: Sequence[str]
) -> list[EntityCandidate]:
    """`GraphSink.entity_candidates` through an adapter's `read(query, params)`."""
    if per_block < 1:
        raise ValueError(f"per_block must be at least 1, not {per_block}")
    values = _unique(dialect.text(block_value(entity_type, block)) for block in blocks)
    wanted = _unique(ids)
    if not values and not wanted:
        return []
    params = {"blocks": values, "per_block": per_block, "ids": wanted, "type": entity_type}
    found = {
        id_: EntityCandidate(entity_id=id_, type=type_, name=name, aliases=tuple(aliases or ()))
        for id_, type_, name, aliases in read(ENTITY_CANDIDATES, params)
    }
    return [found[id_] for id_ in sorted(found)]


def linked_entities(read: Run, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """`GraphSink.linked_entities` through an adapter's `read(query, params)`."""
    wanted = {(a, b) for a, b in pairs if a != b}
    if not wanted:
        return set()
    rows = read(LINKED_ENTITIES, {"pairs": [list(pair) for pair in sorted(wanted)]})
    return {(str(a), str(b)) for a, b in rows} & wanted


# -- removing a version or a document --
#
# One round per slice of at most `limit` chunks, each step its own statement and idempotent, in an order that keeps
# the slice's chunks until last: the chunks are what the next round finds the work by, so a crash anywhere in a round
# is finished by running the removal again. (1) The chunks, with the entities they mention. (2) A relation at those
# entities that only these chunks support goes; (3) the others lose these chunks from their provenance. (4) An entity
# no chunk outside the slice mentions goes, DETACHed with its relations. (5) The chunks go, with their HAS_CHUNK and
# MENTIONS. A supporting
# chunk is taken to mention an end of the relation it supports (the extractors find both in the chunk): provenance
# is found through MENTIONS rather than by scanning every relation of the graph.

Run = Callable[[str, dict[str, Any]], list[list[Any]]]

DEFAULT_REMOVAL_BATCH = 1000  # chunks per round: a 10,000-chunk document is ten rounds, none a huge transaction

# `$version` null: every version of the document.
VERSION_CHUNKS = """
MATCH (:Document {id: $document_id})-[:HAS_CHUNK]->(c:Chunk)
WHERE $version IS NULL OR c.version = $version
WITH c LIMIT $limit
OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity)
RETURN c.id, collect(e.id)
"""
# Two statements, not one that SETs and then DELETEs: FalkorDB 4.16 drops the SETs of a query that also deletes.
DELETE_UNSUPPORTED_RELATIONS = """
UNWIND $entity_ids AS eid
MATCH (:Entity {id: eid})-[x]-(:Entity)
WHERE x.chunk_ids IS NOT NULL AND size(x.chunk_ids) > 0 AND all(i IN x.chunk_ids WHERE i IN $chunk_ids)
WITH DISTINCT x
DELETE x
"""
STRIP_PROVENANCE = """
UNWIND $entity_ids AS eid
MATCH (:Entity {id: eid})-[x]-(:Entity)
WHERE x.chunk_ids IS NOT NULL AND any(i IN x.chunk_ids WHERE i IN $chunk_ids)
WITH DISTINCT x
SET x.chunk_ids = [i IN x.chunk_ids WHERE NOT i IN $chunk_ids],
    x.weight = size([i IN x.chunk_ids WHERE NOT i IN $chunk_ids])
"""
DELETE_UNMENTIONED_ENTITIES = """
UNWIND $entity_ids AS eid
MATCH (e:Entity {id: eid})
OPTIONAL MATCH (c:Chunk)-[:MENTIONS]->(e)
WHERE NOT c.id IN $chunk_ids
WITH e, count(c) AS others
WHERE others = 0
DETACH DELETE e
"""
DELETE_CHUNKS = """
UNWIND $chunk_ids AS cid
MATCH (c:Chunk {id: cid})
DETACH DELETE c
"""
DELETE_DOCUMENT_IF_EMPTY = """
MATCH (d:Document {id: $document_id})
WHERE NOT (d)-[:HAS_CHUNK]->()
DELETE d
"""
DELETE_DOCUMENT = """
MATCH (d:Document {id: $document_id})
DETACH DELETE d
"""
DOCUMENT_VERSIONS = """
MATCH (:Document {id: $document_id})-[:HAS_CHUNK]->(c:Chunk)
RETURN c.version, count(c)
"""


def remove_chunks(
    read: Run, write: Run, document_id: str, version: str | None, limit: int = DEFAULT_REMOVAL_BATCH
) -> None:
    """Remove `version` of the document (None: the whole document) with its orphans, `limit` chunks per round.

    `read` runs a query that only reads, `write` one that writes, each in a transaction of its own. Then the
    Document node goes: for a version only once it has no chunk left; for the whole document in any case.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    selection = {"document_id": document_id, "version": version, "limit": limit}
    while rows := read(VERSION_CHUNKS, selection):
        slice_ = {
            "chunk_ids": [chunk_id for chunk_id, _ in rows],
            "entity_ids": _unique(entity_id for _, entity_ids in rows for entity_id in entity_ids),
        }
        for query in (DELETE_UNSUPPORTED_RELATIONS, STRIP_PROVENANCE, DELETE_UNMENTIONED_ENTITIES, DELETE_CHUNKS):
            write(query, slice_)
    write(DELETE_DOCUMENT_IF_EMPTY if version is not None else DELETE_DOCUMENT, {"document_id": document_id})


def document_versions(read: Run, document_id: str, dialect: Dialect) -> dict[str, int]:
    """Version → number of chunks of the document in the graph (no entry for an unknown document)."""
    return {str(v): dialect.to_int(n) for v, n in read(DOCUMENT_VERSIONS, {"document_id": document_id})}


def batch_statements(document: DocumentRef, payload: BatchPayload, dialect: Dialect) -> list[Statement]:
    """The statements that upsert one batch, in order. The whole batch is validated before any is built."""
    for chunk in payload.chunks:
        if chunk.document_id != document.document_id:
            raise PermanentError(
                Reason.GRAPH_CHUNK_DOCUMENT_MISMATCH,
                f"chunk {chunk.chunk_id} belongs to {chunk.document_id}, not {document.document_id}",
            )
    entities = _merge_entities(payload.entities)
    relations = _merge_relations(payload.relations)
    entities_by_label = _group(entities, lambda entity: entity_label(entity.type))
    relations_by_type = _group(relations.values(), lambda relation: relation_type(relation.type))

    text = dialect.text
    statements = [
        Statement(
            _DOCUMENT_AND_CHUNKS,
            {
                "document": {
                    "id": document.document_id,
                    "path": text(document.path),
                    "version": document.version,
                    "account": text(document.account),
                    "container": text(document.container),
                },
                "rows": [
                    {
                        "id": chunk.chunk_id,
                        "document_id": chunk.document_id,
                        "version": chunk.version,
                        "ordinal": chunk.ordinal,
                        "text": text(chunk.text),
                        "locator": text(chunk.locator),
                    }
                    for chunk in payload.chunks
                ],
            },
        )
    ]
    for label, entity_group in entities_by_label.items():
        entity_rows = [
            {
                "id": entity.entity_id,
                "type": entity.type,
                "name": text(entity.name),
                "aliases": _unique(text(alias) for alias in [entity.name, *entity.aliases]),
                "chunk_ids": _unique(entity.chunk_ids),
                **{
                    prop: text(block_value(entity.type, block)) if block is not None else None
                    for prop, block in zip(BLOCK_PROPERTIES, [*entity.blocks, None, None], strict=False)
                },
            }
            for entity in entity_group
        ]
        entities_cypher = _ENTITIES.format(label=label, lock=dialect.entity_write_lock)
        statements.append(Statement(entities_cypher, {"rows": entity_rows}))
    for rel_type, relation_group in relations_by_type.items():
        relation_rows = [
            {
                "id": relation.relation_id,
                "source_id": relation.source_id,
                "target_id": relation.target_id,
                "evidence": None if relation.evidence is None else text(relation.evidence),
                "chunk_ids": _unique(relation.chunk_ids),
            }
            for relation in relation_group
        ]
        statements.append(Statement(_RELATIONS.format(rel_type=rel_type), {"rows": relation_rows}, rel_type))
    return statements


def _merge_entities(entities: Iterable[Entity]) -> list[Entity]:
    """One entity per id: the first one's name and type, the union of everyone's aliases and chunks."""
    merged: dict[str, Entity] = {}
    for entity in entities:
        first = merged.get(entity.entity_id)
        if first is None:
            merged[entity.entity_id] = entity
            continue
        merged[entity.entity_id] = first.model_copy(
            update={
                "aliases": _unique([*first.aliases, entity.name, *entity.aliases]),
                "chunk_ids": _unique([*first.chunk_ids, *entity.chunk_ids]),
            }
        )
    return list(merged.values())


def _merge_relations(relations: Iterable[Relation]) -> dict[str, Relation]:
    """One relation per id: the last one's fields, the union of everyone's chunks (none is lost to a repeat)."""
    merged: dict[str, Relation] = {}
    for relation in relations:
        earlier = merged.get(relation.relation_id)
        if earlier is not None:
            relation = relation.model_copy(update={"chunk_ids": _unique([*earlier.chunk_ids, *relation.chunk_ids])})
        merged[relation.relation_id] = relation
    return merged


def _group(items: Iterable[T], key: Callable[[T], str]) -> dict[str, list[T]]:
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


__all__ = [
    "BLOCK_PROPERTIES",
    "CHUNK_CONTEXT",
    "COUNT_QUERIES",
    "DEFAULT_REMOVAL_BATCH",
    "DELETE_CHUNKS",
    "DELETE_DOCUMENT",
    "DELETE_DOCUMENT_IF_EMPTY",
    "DELETE_UNMENTIONED_ENTITIES",
    "DELETE_UNSUPPORTED_RELATIONS",
    "DOCUMENT_VERSIONS",
    "ENTITY_CANDIDATES",
    "ENTITY_NEIGHBOURHOOD",
    "FALKORDB",
    "KEYED_LABELS",
    "LINKED_ENTITIES",
    "NEO4J",
    "STRIP_PROVENANCE",
    "STRUCTURAL_RELATIONS",
    "VERSION_CHUNKS",
    "Dialect",
    "Run",
    "Statement",
    "batch_statements",
    "block_value",
    "document_versions",
    "entity_candidates",
    "entity_label",
    "graph_context",
    "linked_entities",
    "relation_type",
    "remove_chunks",
]
