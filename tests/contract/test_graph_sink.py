"""Contract suite for `GraphSink`: every graph adapter must pass it unchanged.

Adapters run here: FalkorDB (always: the project starts its own server). Neo4j joins as another param when
`NEO4J_URI` is set and its adapter exists. Besides the port, an adapter under test offers three helpers the
suite uses to look behind the port: `query(cypher, params)`, `unique_constraints()` and `delete_graph()`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.domain import (
    BatchPayload,
    Chunk,
    DocumentRef,
    Entity,
    PermanentError,
    Relation,
    TransientError,
    TributaryError,
)
from shared.domain.ids import chunk_id, document_id, entity_id, relation_id
from shared.ports import GraphCounts, GraphSink

ADAPTERS = [
    pytest.param("falkordb", marks=pytest.mark.falkordb),
    pytest.param("neo4j"),
]


@pytest.fixture(params=ADAPTERS)
def sink(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A GraphSink with its schema ensured, on a graph no other test sees."""
    if request.param == "falkordb":
        yield request.getfixturevalue("graph_sink")
    elif request.param == "neo4j":
        if not os.environ.get("NEO4J_URI"):
            pytest.skip("neo4j: NEO4J_URI is not set (no Bolt server can run on this machine, DESIGN.md §7)")
        pytest.importorskip("shared.adapters.neo4j_graph", reason="neo4j: no Neo4j adapter yet")
        pytest.skip("neo4j: wire the Neo4j adapter's fixture here")


# -- test data, built with the real id helpers --


def make_document(path: str = "reports/q1.txt", version: str = "v1") -> DocumentRef:
    return DocumentRef(
        account="testaccount",
        container="incoming",
        path=path,
        document_id=document_id("testaccount", "incoming", path),
        version=version,
        size=100,
        content_type="text/plain",
    )


def make_chunks(document: DocumentRef, texts: list[str], first_ordinal: int = 0) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=chunk_id(document.document_id, document.version, ordinal),
            document_id=document.document_id,
            version=document.version,
            ordinal=ordinal,
            text=text,
            locator=f"line {ordinal + 1}",
        )
        for ordinal, text in enumerate(texts, start=first_ordinal)
    ]


def make_entity(entity_type: str, name: str, chunks: list[Chunk], aliases: list[str] | None = None) -> Entity:
    return Entity(
        entity_id=entity_id(entity_type, name),
        type=entity_type,
        name=name,
        aliases=aliases or [],
        chunk_ids=[chunk.chunk_id for chunk in chunks],
    )


def make_relation(source: Entity, relation_type: str, target: Entity, evidence: str | None = None) -> Relation:
    return Relation(
        relation_id=relation_id(source.entity_id, relation_type, target.entity_id),
        source_id=source.entity_id,
        type=relation_type,
        target_id=target.entity_id,
        evidence=evidence,
    )


def alice_works_for_acme() -> tuple[DocumentRef, BatchPayload]:
    """One document, three chunks, two entities mentioned in three places, one relation."""
    document = make_document()
    chunks = make_chunks(document, ["Alice Smith works for Acme Corp.", "Acme Corp is in Leeds.", "The end."])
    alice = make_entity("Person", "Alice Smith", chunks[:1], aliases=["A. Smith"])
    acme = make_entity("Organization", "Acme Corp", chunks[:2])
    works_for = make_relation(alice, "WORKS_FOR", acme, evidence="Alice Smith works for Acme Corp.")
    return document, BatchPayload(chunks=chunks, entities=[alice, acme], relations=[works_for])


def snapshot(sink: Any) -> tuple[GraphCounts, list[list[Any]], list[list[Any]]]:
    """Counts, every node's labels and properties, and every edge: what a repeated write must not change."""
    nodes = sink.query("MATCH (n) RETURN labels(n), properties(n) ORDER BY n.id")
    edges = sink.query("MATCH (a)-[r]->(b) RETURN a.id, type(r), properties(r), b.id ORDER BY a.id, type(r), b.id")
    return sink.counts(), _plain(nodes), _plain(edges)


def _plain(value: Any) -> Any:
    """Rows with sorted labels and plain dicts, so two snapshots compare by value."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        items = [_plain(item) for item in value]
        return sorted(items) if items and all(isinstance(item, str) for item in items) else items
    return value


# -- the contract --


def test_is_a_graph_sink(sink: Any) -> None:
    assert isinstance(sink, GraphSink)


def test_ensure_schema_is_idempotent_and_leaves_unique_ids(sink: Any) -> None:
    # GIVEN a sink whose schema was ensured once (by the fixture)
    # WHEN ensure_schema runs again, twice
    sink.ensure_schema()
    sink.ensure_schema()
    # THEN each keyed label has exactly one working unique constraint on id, and the graph is still empty
    assert sink.unique_constraints() == {"Document": "OPERATIONAL", "Chunk": "OPERATIONAL", "Entity": "OPERATIONAL"}
    assert sink.counts() == GraphCounts(documents=0, chunks=0, entities=0, relations=0)


def test_write_batch_creates_the_nodes_edges_and_counts(sink: Any) -> None:
    # GIVEN a batch: one document, three chunks, two entities, one relation
    document, payload = alice_works_for_acme()
    alice, acme = payload.entities
    # WHEN it is written
    sink.write_batch(document, payload)
    # THEN the counts see them, and relations count only entity-to-entity edges
    assert sink.counts() == GraphCounts(documents=1, chunks=3, entities=2, relations=1)
    assert dict(sink.query("MATCH ()-[r]->() RETURN type(r), count(r)")) == {
        "HAS_CHUNK": 3,
        "MENTIONS": 3,
        "WORKS_FOR": 1,
    }
    # AND the nodes carry the model's properties and per-type labels
    [[stored_document]] = sink.query("MATCH (d:Document) RETURN properties(d)")
    assert dict(stored_document) == {
        "id": document.document_id,
        "path": "reports/q1.txt",
        "version": "v1",
        "account": "testaccount",
        "container": "incoming",
    }
    chunk = payload.chunks[1]
    [[stored_chunk]] = sink.query(
        "MATCH (:Document {id: $doc})-[:HAS_CHUNK]->(c:Chunk {id: $id}) RETURN properties(c)",
        {"doc": document.document_id, "id": chunk.chunk_id},
    )
    assert dict(stored_chunk) == {
        "id": chunk.chunk_id,
        "document_id": document.document_id,
        "version": "v1",
        "ordinal": 1,
        "text": "Acme Corp is in Leeds.",
        "locator": "line 2",
    }
    rows = sink.query("MATCH (e:Entity) RETURN e.id, labels(e), e.type, e.name, e.aliases ORDER BY e.name")
    assert _plain(rows) == [
        [acme.entity_id, ["Entity", "Organization"], "Organization", "Acme Corp", []],
        [alice.entity_id, ["Entity", "Person"], "Person", "Alice Smith", ["A. Smith"]],
    ]
    mentioned = sink.query(
        "MATCH (c:Chunk)-[:MENTIONS]->(e:Entity {id: $id}) RETURN c.ordinal ORDER BY c.ordinal", {"id": acme.entity_id}
    )
    assert mentioned == [[0], [1]]
    [[relation]] = sink.query("MATCH (:Person)-[r:WORKS_FOR]->(:Organization) RETURN properties(r)")
    assert dict(relation) == {"id": payload.relations[0].relation_id, "evidence": "Alice Smith works for Acme Corp."}


def test_writing_the_same_batch_twice_changes_nothing(sink: Any) -> None:
    # GIVEN a batch already written (a redelivered message)
    document, payload = alice_works_for_acme()
    sink.write_batch(document, payload)
    before = snapshot(sink)
    # WHEN it is written again
    sink.write_batch(document, payload)
    # THEN no node, edge or property differs
    assert snapshot(sink) == before


def test_overlapping_batches_make_one_node_per_entity(sink: Any) -> None:
    # GIVEN two batches of different documents that mention the same person and organisation
    first_document, first = alice_works_for_acme()
    second_document = make_document("reports/q2.txt")
    chunks = make_chunks(second_document, ["Alice Smith still works for Acme Corp."])
    alice = make_entity("Person", "Alice Smith", chunks)
    acme = make_entity("Organization", "Acme Corp", chunks)
    second = BatchPayload(chunks=chunks, entities=[alice, acme], relations=[make_relation(alice, "WORKS_FOR", acme)])
    # WHEN both are written, the first one twice
    sink.write_batch(first_document, first)
    sink.write_batch(second_document, second)
    sink.write_batch(first_document, first)
    # THEN the entities and the relation exist once, mentioned from both documents
    assert sink.counts() == GraphCounts(documents=2, chunks=4, entities=2, relations=1)
    documents = sink.query(
        "MATCH (d:Document)-[:HAS_CHUNK]->(:Chunk)-[:MENTIONS]->(e:Entity {id: $id}) "
        "RETURN DISTINCT d.path ORDER BY d.path",
        {"id": alice.entity_id},
    )
    assert documents == [["reports/q1.txt"], ["reports/q2.txt"]]
    # AND the evidence the second batch did not carry is kept
    assert sink.query("MATCH ()-[r:WORKS_FOR]->() RETURN r.evidence") == [["Alice Smith works for Acme Corp."]]


def test_aliases_become_the_union_without_duplicates(sink: Any) -> None:
    # GIVEN an entity stored with two aliases
    document = make_document()
    chunks = make_chunks(document, ["Robert Jones, Bob, R. Jones", "Bobby Jones, Bob", "ROBERT JONES"])
    entity_type, name = "Person", "Robert Jones"
    sink.write_batch(
        document,
        BatchPayload(chunks=chunks, entities=[make_entity(entity_type, name, chunks[:1], ["Bob", "R. Jones"])]),
    )
    # WHEN later batches bring overlapping aliases, a repeated one, and the same name spelled differently
    sink.write_batch(
        document,
        BatchPayload(
            chunks=chunks, entities=[make_entity(entity_type, name, chunks[1:2], ["Bobby Jones", "Bob", "Bob"])]
        ),
    )
    sink.write_batch(
        document, BatchPayload(chunks=chunks, entities=[make_entity(entity_type, "ROBERT JONES", chunks[2:])])
    )
    # THEN one entity keeps its first name and the union of aliases, each once, in first-seen order
    assert sink.query("MATCH (e:Entity) RETURN e.name, e.aliases") == [
        ["Robert Jones", ["Bob", "R. Jones", "Bobby Jones", "ROBERT JONES"]]
    ]
    assert sink.counts().entities == 1


@pytest.mark.parametrize(
    "bad_type",
    ["works_for", "WORKS FOR", "WORKS-FOR", "1ST", "", "X" * 65, "R]->() DETACH DELETE n //", "HAS_CHUNK", "MENTIONS"],
)
def test_an_invalid_relation_type_is_refused_before_anything_is_written(sink: Any, bad_type: str) -> None:
    # GIVEN a valid batch whose one relation has a type that is not UPPER_SNAKE (or is structural)
    document, payload = alice_works_for_acme()
    alice, acme = payload.entities
    bad = payload.model_copy(update={"relations": [*payload.relations, make_relation(alice, bad_type, acme)]})
    # WHEN it is written THEN it is refused with the reason code
    with pytest.raises(PermanentError) as refused:
        sink.write_batch(document, bad)
    assert refused.value.reason_code == "graph.invalid_type"
    # AND nothing of the batch was written
    assert sink.counts() == GraphCounts(documents=0, chunks=0, entities=0, relations=0)


@pytest.mark.parametrize("bad_type", ["person", "Per son", "Person:Admin", "Entity", "Chunk", "Document", "A" * 65])
def test_an_invalid_entity_type_is_refused(sink: Any, bad_type: str) -> None:
    # GIVEN an entity whose type could not be a label (or would turn it into a structural node)
    document = make_document()
    chunks = make_chunks(document, ["text"])
    payload = BatchPayload(chunks=chunks, entities=[make_entity(bad_type, "Name", chunks)])
    # WHEN it is written THEN it is refused with the reason code, and nothing is written
    with pytest.raises(PermanentError) as refused:
        sink.write_batch(document, payload)
    assert refused.value.reason_code == "graph.invalid_type"
    assert sink.counts().documents == 0


def test_a_chunk_of_another_document_is_refused(sink: Any) -> None:
    # GIVEN a batch for one document carrying a chunk of another
    document = make_document()
    stray = make_chunks(make_document("other.txt"), ["stray"])
    # WHEN it is written THEN it is refused with the reason code
    with pytest.raises(PermanentError) as refused:
        sink.write_batch(document, BatchPayload(chunks=stray))
    assert refused.value.reason_code == "graph.chunk_document_mismatch"


def test_a_relation_to_an_entity_never_written_is_skipped(sink: Any) -> None:
    # GIVEN a relation whose target is in no batch
    document, payload = alice_works_for_acme()
    alice = payload.entities[0]
    ghost = make_entity("Organization", "Ghost Ltd", [])
    dangling = payload.model_copy(update={"relations": [make_relation(alice, "WORKS_FOR", ghost)]})
    # WHEN the batch is written
    sink.write_batch(document, dangling)
    # THEN neither the relation nor a bare entity is invented
    assert sink.counts() == GraphCounts(documents=1, chunks=3, entities=2, relations=0)


def test_awkward_text_round_trips(sink: Any) -> None:
    # GIVEN chunk text with quotes, backslashes, newlines, braces, backticks and non-ASCII
    document = make_document('we"ird\\path`{x}.txt')
    texts = [
        'say "hi" \\ \\\\',
        "line 1\nline 2\r\n\ttabbed",
        "Zoë Łukasz 東京 🚀 \u2028",
        "`$param` {map: 1} 'single'",
    ]
    # WHEN it is written
    sink.write_batch(document, BatchPayload(chunks=make_chunks(document, texts)))
    # THEN it reads back exactly
    assert [row[0] for row in sink.query("MATCH (c:Chunk) RETURN c.text ORDER BY c.ordinal")] == texts
    assert sink.query("MATCH (d:Document) RETURN d.path") == [[document.path]]


def test_unique_constraints_reject_a_duplicate_id_created_behind_the_sinks_back(sink: Any) -> None:
    # GIVEN a written batch
    document, payload = alice_works_for_acme()
    sink.write_batch(document, payload)
    existing = {
        "Document": document.document_id,
        "Chunk": payload.chunks[0].chunk_id,
        "Entity": payload.entities[0].entity_id,
    }
    for label, node_id in existing.items():
        # WHEN a second node with an existing id is CREATEd directly (not MERGEd)
        # THEN the server refuses it
        with pytest.raises(TributaryError, match=r"(?i)unique|already exists"):
            sink.query(f"CREATE (:{label} {{id: $id}})", {"id": node_id})
    assert sink.counts() == GraphCounts(documents=1, chunks=3, entities=2, relations=1)


# -- FalkorDB specifics --


def test_falkordb_unreachable_server_is_a_transient_error() -> None:
    # GIVEN a sink pointed at a port nothing listens on
    sink = FalkorDBGraphSink("127.0.0.1:1", "nowhere")
    # WHEN it is used THEN it fails with a retryable reason, quickly
    started = time.monotonic()
    with pytest.raises(TransientError) as failed:
        sink.counts()
    assert failed.value.reason_code == "graph.unavailable"
    assert time.monotonic() - started < 5


@pytest.mark.falkordb
def test_falkordb_stores_a_nul_character_as_a_replacement_character(graph_sink: FalkorDBGraphSink) -> None:
    # GIVEN chunk text with a NUL (FalkorDB's client inlines parameters into the query, where NUL ends it)
    document = make_document()
    # WHEN it is written THEN it is stored with U+FFFD in its place instead of failing the batch
    graph_sink.write_batch(document, BatchPayload(chunks=make_chunks(document, ["before\x00after"])))
    assert graph_sink.query("MATCH (c:Chunk) RETURN c.text") == [["before\ufffdafter"]]
