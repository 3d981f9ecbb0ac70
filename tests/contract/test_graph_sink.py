"""Contract suite for `GraphSink`: every graph adapter must pass it unchanged.

Adapters run here: FalkorDB (always: the project starts its own server). Neo4j joins as another param when
`NEO4J_URI` is set (no Bolt server can run on the project's machines, DESIGN.md §7; without one,
tests/unit/test_neo4j_graph.py pins the Cypher it sends). Besides the port, an adapter under test offers four
helpers the suite uses to look behind the port: `query(cypher, params)`, `unique_constraints()` (label → status),
`unique_relation_constraints()` (relationship type → status) and `delete_graph()`; `open_twin` below opens a
second instance on the same graph, as another worker process would.

Neo4j: run it ONLY against a throwaway server or database. Every Neo4j test starts from an empty database by
deleting every node and edge in it and its unique `id` constraints (`delete_graph`), and does so again at the end.
With Docker, one server and one command:

    docker run --rm -d -p 7687:7687 -e NEO4J_AUTH=neo4j/testpassword neo4j:5
    NEO4J_URI=bolt://localhost:7687 .venv/bin/pytest tests/contract/test_graph_sink.py

(`NEO4J_URI=bolt://localhost:7687 make test` runs it within the whole suite). Variables:
- `NEO4J_URI`: `bolt://host:7687`, `neo4j://host:7687`, or `neo4j+s://<id>.databases.neo4j.io` for Aura;
- `NEO4J_USER` (default `neo4j`) and `NEO4J_PASSWORD` (default `testpassword`, as in the command above);
- `NEO4J_DATABASE` (default: the server's default database; name a scratch database on Enterprise or Aura).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.adapters.cypher import Run, remove_chunks
from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.adapters.neo4j_graph import Neo4jGraphSink
from shared.domain import (
    BatchPayload,
    Chunk,
    DocumentRef,
    Entity,
    PermanentError,
    Reason,
    Relation,
    TransientError,
    TributaryError,
)
from shared.domain.ids import chunk_id, document_id, entity_id, relation_id
from shared.ports import Community, GraphCounts, GraphSink

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
        neo4j_sink = Neo4jGraphSink.from_settings(**neo4j_settings())
        try:
            neo4j_sink.delete_graph()  # whatever an earlier test or run left: the server is a throwaway one
            neo4j_sink.ensure_schema()
        except BaseException:
            neo4j_sink.close()
            raise
        try:
            yield neo4j_sink
        finally:
            neo4j_sink.delete_graph()
            neo4j_sink.close()


def neo4j_settings() -> dict[str, Any]:
    """`Neo4jGraphSink.from_settings` arguments from the NEO4J_* variables (see the module docstring)."""
    return {
        "uri": os.environ["NEO4J_URI"],
        "user": os.environ.get("NEO4J_USER", "neo4j"),
        "password": os.environ.get("NEO4J_PASSWORD", "testpassword"),
        "database": os.environ.get("NEO4J_DATABASE") or None,
    }


def open_twin(sink: Any) -> Any:
    """Another instance of the sink's adapter on the same graph: what a second worker process holds."""
    if isinstance(sink, FalkorDBGraphSink):
        return FalkorDBGraphSink(sink.target, sink.graph_name)
    if isinstance(sink, Neo4jGraphSink):
        return Neo4jGraphSink.from_settings(**neo4j_settings())  # its own driver and connection pool
    raise NotImplementedError(f"open_twin: add {type(sink).__name__} here")


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


def make_relation(
    source: Entity,
    relation_type: str,
    target: Entity,
    evidence: str | None = None,
    chunks: list[Chunk] | None = None,
) -> Relation:
    return Relation(
        relation_id=relation_id(source.entity_id, relation_type, target.entity_id),
        source_id=source.entity_id,
        type=relation_type,
        target_id=target.entity_id,
        chunk_ids=[chunk.chunk_id for chunk in chunks or []],
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
    assert sink.unique_relation_constraints() == {}
    assert sink.counts() == GraphCounts(documents=0, chunks=0, entities=0, relations=0)
    assert sink.query("MATCH (n) RETURN count(n)") == [[0]]


def test_a_relation_type_is_keyed_on_id_when_first_written(sink: Any) -> None:
    # GIVEN a graph where no relation was ever written
    assert sink.unique_relation_constraints() == {}
    # WHEN a batch with a WORKS_FOR relation is written
    document, payload = alice_works_for_acme()
    sink.write_batch(document, payload)
    # THEN that type has a working unique constraint on id
    assert sink.unique_relation_constraints() == {"WORKS_FOR": "OPERATIONAL"}


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
    # AND the structural edges carry no properties: their ends key them
    assert sink.query("MATCH ()-[r:HAS_CHUNK|MENTIONS]->() RETURN DISTINCT properties(r)") == [[{}]]


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


def test_a_relation_keeps_the_first_evidence_stored(sink: Any) -> None:
    # GIVEN a relation stored with its evidence
    first_document, first = alice_works_for_acme()
    sink.write_batch(first_document, first)
    # WHEN the same relation comes from another document, with other evidence
    second_document = make_document("reports/q2.txt")
    chunks = make_chunks(second_document, ["Alice Smith still works for Acme Corp."])
    alice = make_entity("Person", "Alice Smith", chunks)
    acme = make_entity("Organization", "Acme Corp", chunks)
    later = make_relation(alice, "WORKS_FOR", acme, evidence="Alice Smith still works for Acme Corp.")
    sink.write_batch(second_document, BatchPayload(chunks=chunks, entities=[alice, acme], relations=[later]))
    # THEN the first evidence stays, so the order batches arrive in (or a redelivery) cannot change it
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
    # AND so it does a second relation with an existing id, between the same entities
    with pytest.raises(TributaryError, match=r"(?i)unique|already exists"):
        sink.query("MATCH (a)-[r:WORKS_FOR]->(b) CREATE (a)-[:WORKS_FOR {id: r.id}]->(b)")
    assert sink.counts() == GraphCounts(documents=1, chunks=3, entities=2, relations=1)


def test_a_relation_id_already_taken_is_a_retryable_conflict_not_a_second_edge(sink: Any) -> None:
    # GIVEN a written batch, and an edge that took the id of Bob's WORKS_FOR relation but joins other entities,
    # as a writer racing this one could leave
    document, payload = alice_works_for_acme()
    sink.write_batch(document, payload)
    alice, acme = payload.entities
    bob = make_entity("Person", "Bob Brown", payload.chunks[2:])
    bob_works_for_acme = make_relation(bob, "WORKS_FOR", acme)
    sink.query(
        "MATCH (a:Entity {id: $acme}), (b:Entity {id: $alice}) CREATE (a)-[:WORKS_FOR {id: $id}]->(b)",
        {"acme": acme.entity_id, "alice": alice.entity_id, "id": bob_works_for_acme.relation_id},
    )
    # WHEN a batch with Bob's relation is written
    later = BatchPayload(chunks=payload.chunks, entities=[bob, acme], relations=[bob_works_for_acme])
    with pytest.raises(TransientError) as conflict:
        sink.write_batch(document, later)
    # THEN it fails with a reason to retry, and no second edge with that id is stored
    assert conflict.value.reason_code == "graph.conflict"
    assert sink.query(
        "MATCH ()-[r:WORKS_FOR {id: $id}]->() RETURN count(r)", {"id": bob_works_for_acme.relation_id}
    ) == [[1]]


# -- concurrency: many deliveries at once, as the Functions host runs them --

ROUNDS = 8  # each round brings relationship types never written before: the moment duplicates used to appear
DOCUMENTS_PER_ROUND = 4
DELIVERY_ATTEMPTS = 5  # the host redelivers a message that failed with a TransientError


def overlapping_batches(round_number: int) -> list[tuple[DocumentRef, BatchPayload]]:
    """One batch per document; all of them mention the same people and organisations and relate them alike."""
    batches = []
    for number in range(DOCUMENTS_PER_ROUND):
        document = make_document(f"round{round_number}/doc{number}.txt")
        chunks = make_chunks(document, [f"round {round_number} doc {number} part {part}" for part in range(2)])
        people = [make_entity("Person", f"Person {n}", chunks) for n in range(4)]
        organisations = [make_entity("Organization", f"Organisation {n}", chunks) for n in range(4)]
        relations = [
            make_relation(person, f"WORKS_FOR_{round_number}", organisation, evidence="the same words everywhere")
            for person in people
            for organisation in organisations
        ] + [make_relation(a, f"KNOWS_{round_number}", b) for a in people for b in people if a is not b]
        batches.append((document, BatchPayload(chunks=chunks, entities=people + organisations, relations=relations)))
    return batches


def deliver(write: Callable[[DocumentRef, BatchPayload], None], document: DocumentRef, payload: BatchPayload) -> None:
    """Write the batch as the host would: a TransientError is retried, a bounded number of times."""
    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        try:
            write(document, payload)
            return
        except TransientError:
            if attempt == DELIVERY_ATTEMPTS:
                raise
            time.sleep(0.01 * attempt)


def test_concurrent_overlapping_batches_leave_one_edge_per_id(sink: Any) -> None:
    # GIVEN the graph a sequential run leaves from rounds of overlapping batches
    rounds = [overlapping_batches(number) for number in range(ROUNDS)]
    for batches in rounds:
        for document, payload in batches:
            sink.write_batch(document, payload)
    sequential = snapshot(sink)
    sink.delete_graph()
    sink.ensure_schema()
    # WHEN each round's batches are delivered twice (at least once), through two sinks on the graph (two worker
    # processes), all at the same moment, each by its own thread
    twin = open_twin(sink)
    try:
        for batches in rounds:
            deliveries = [(target, document, payload) for document, payload in batches for target in (sink, twin)]
            start = threading.Barrier(len(deliveries))

            def run(delivery: tuple[Any, DocumentRef, BatchPayload], start: threading.Barrier = start) -> None:
                target, document, payload = delivery
                start.wait(timeout=30)
                deliver(target.write_batch, document, payload)

            with ThreadPoolExecutor(len(deliveries)) as pool:
                list(pool.map(run, deliveries))  # re-raises what a delivery raised
    finally:
        twin.close()
    # THEN every edge exists once: one per relation id, one MENTIONS per (chunk, entity), one HAS_CHUNK per chunk
    per_type = sink.query(
        "MATCH (:Entity)-[r]->(:Entity) RETURN type(r), count(r), count(DISTINCT r.id) ORDER BY type(r)"
    )
    assert len(per_type) == 2 * ROUNDS
    assert [row for row in per_type if row[1] != row[2]] == []
    assert sink.query("MATCH (c:Chunk)-[r:MENTIONS]->(e:Entity) WITH c, e, count(r) AS n WHERE n > 1 RETURN c.id") == []
    assert sink.query("MATCH (d:Document)-[r:HAS_CHUNK]->(c) WITH d, c, count(r) AS n WHERE n > 1 RETURN c.id") == []
    # AND the graph, counts included, is the one the sequential run left
    assert snapshot(sink) == sequential
    assert sequential[0] == GraphCounts(
        documents=ROUNDS * DOCUMENTS_PER_ROUND,
        chunks=ROUNDS * DOCUMENTS_PER_ROUND * 2,
        entities=8,
        relations=ROUNDS * 28,
    )


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


@pytest.mark.falkordb
def test_falkordb_a_graph_already_holding_duplicate_relation_ids_is_refused_with_the_reason(
    graph_sink: FalkorDBGraphSink,
) -> None:
    # GIVEN a graph where two WORKS_FOR edges share an id before the type was ever keyed (a graph written before
    # relationship types had unique constraints)
    document, payload = alice_works_for_acme()
    graph_sink.write_batch(document, payload.model_copy(update={"relations": []}))
    alice, acme = payload.entities
    for _ in range(2):
        graph_sink.query(
            "MATCH (a:Entity {id: $alice}), (b:Entity {id: $acme}) CREATE (a)-[:WORKS_FOR {id: $id}]->(b)",
            {"alice": alice.entity_id, "acme": acme.entity_id, "id": payload.relations[0].relation_id},
        )
    # WHEN a batch with that type is written THEN the constraint cannot be built, and the batch fails for good
    # with the reason, rather than writing edges that nothing keeps unique
    with pytest.raises(PermanentError) as refused:
        graph_sink.write_batch(document, payload)
    assert refused.value.reason_code == "graph.constraint_failed"
    assert graph_sink.unique_relation_constraints()["WORKS_FOR"] == "FAILED"


# -- context: what a search answer shows around its hits --


def test_context_gives_each_chunks_document_locator_and_mentions(sink: Any) -> None:
    # GIVEN a written batch, and a second relation one hop away from what the first chunk mentions
    document, payload = alice_works_for_acme()
    chunks = payload.chunks
    leeds = make_entity("Place", "Leeds", chunks[1:2])
    acme = payload.entities[1]
    payload = payload.model_copy(
        update={
            "entities": [*payload.entities, leeds],
            "relations": [*payload.relations, make_relation(acme, "LOCATED_IN", leeds)],
        }
    )
    sink.write_batch(document, payload)

    # WHEN the context of the first and last chunks (and an unknown id) is asked for
    context = sink.context([chunks[0].chunk_id, chunks[2].chunk_id, "no-such-chunk"])

    # THEN each known chunk comes with its document path, locator and mentions; the unknown one is left out
    assert set(context.chunks) == {chunks[0].chunk_id, chunks[2].chunk_id}
    first = context.chunks[chunks[0].chunk_id]
    assert (first.path, first.locator) == (document.path, "line 1")
    assert set(first.entity_ids) == {payload.entities[0].entity_id, acme.entity_id}
    assert context.chunks[chunks[2].chunk_id].entity_ids == ()
    # AND the one-hop relations of the mentioned entities, with the entity at the far end (Leeds) included
    assert {(r.type, r.source_id, r.target_id) for r in context.relations} == {
        ("WORKS_FOR", payload.entities[0].entity_id, acme.entity_id),
        ("LOCATED_IN", acme.entity_id, leeds.entity_id),
    }
    assert context.entities[leeds.entity_id].name == "Leeds"
    assert context.entities[acme.entity_id].type == "Organization"


def test_context_caps_the_relations_and_of_nothing_is_empty(sink: Any) -> None:
    document, payload = alice_works_for_acme()
    sink.write_batch(document, payload)
    capped = sink.context([payload.chunks[0].chunk_id], max_relations=0)
    assert capped.relations == ()
    assert capped.chunks  # the chunk itself still comes back
    empty = sink.context([])
    assert (empty.chunks, empty.entities, empty.relations) == ({}, {}, ())


# -- relation provenance --


def test_a_relation_keeps_the_union_of_its_supporting_chunks(sink: Any) -> None:
    # GIVEN a relation written from one batch, supported by its first chunk
    document, payload = alice_works_for_acme()
    alice, acme = payload.entities
    chunks = payload.chunks
    first = make_relation(alice, "WORKS_FOR", acme, chunks=chunks[:1])
    sink.write_batch(document, payload.model_copy(update={"relations": [first]}))
    # WHEN a second batch brings the same relation supported by the first and the second chunk
    second = make_relation(alice, "WORKS_FOR", acme, chunks=chunks[1::-1])
    second_batch = payload.model_copy(update={"relations": [second]})
    sink.write_batch(document, second_batch)
    # THEN the relation holds both chunks' ids, each once, in first-seen order
    assert sink.query("MATCH ()-[r:WORKS_FOR]->() RETURN r.chunk_ids") == [[[chunks[0].chunk_id, chunks[1].chunk_id]]]
    # AND writing either batch again changes nothing
    before = snapshot(sink)
    sink.write_batch(document, second_batch)
    sink.write_batch(document, payload.model_copy(update={"relations": [first]}))
    assert snapshot(sink) == before


def test_one_batch_naming_a_relation_twice_keeps_both_provenances(sink: Any) -> None:
    document, payload = alice_works_for_acme()
    alice, acme = payload.entities
    chunks = payload.chunks
    twice = [make_relation(alice, "WORKS_FOR", acme, chunks=[chunk]) for chunk in chunks[:2]]
    sink.write_batch(document, payload.model_copy(update={"relations": twice}))
    assert sink.query("MATCH ()-[r:WORKS_FOR]->() RETURN r.chunk_ids") == [[[chunks[0].chunk_id, chunks[1].chunk_id]]]


# -- removing a version, deleting a document --

SHARED_TEXT = "Alice Smith works for Acme Corp."


def version_one() -> tuple[DocumentRef, BatchPayload]:
    """v1: Alice works for and leads Acme; Bob knows Alice (Bob and LEADS are in v1 only).

    What v1 and v2 share has the same aliases and evidence in both: those carry no provenance, so the first stored
    stays on an entity or relation that stays, and a clean write of v2 alone would differ there.
    """
    document = make_document(version="v1")
    chunks = make_chunks(document, [SHARED_TEXT, "Bob Brown knows Alice Smith; she leads Acme Corp."])
    alice = make_entity("Person", "Alice Smith", chunks, aliases=["A. Smith"])
    acme = make_entity("Organization", "Acme Corp", chunks)
    bob = make_entity("Person", "Bob Brown", chunks[1:])
    relations = [
        make_relation(alice, "WORKS_FOR", acme, evidence=SHARED_TEXT, chunks=chunks[:1]),
        make_relation(bob, "KNOWS", alice, chunks=chunks[1:]),
        make_relation(alice, "LEADS", acme, chunks=chunks[1:]),
    ]
    return document, BatchPayload(chunks=chunks, entities=[alice, acme, bob], relations=relations)


def version_two() -> tuple[DocumentRef, BatchPayload]:
    """v2: Alice still works for Acme, which is in Leeds (Leeds and LOCATED_IN are new)."""
    document = make_document(version="v2")
    chunks = make_chunks(document, [SHARED_TEXT, "Acme Corp is in Leeds."])
    alice = make_entity("Person", "Alice Smith", chunks[:1], aliases=["A. Smith"])
    acme = make_entity("Organization", "Acme Corp", chunks)
    leeds = make_entity("Place", "Leeds", chunks[1:])
    relations = [
        make_relation(alice, "WORKS_FOR", acme, evidence=SHARED_TEXT, chunks=chunks[:1]),
        make_relation(acme, "LOCATED_IN", leeds, chunks=chunks[1:]),
    ]
    return document, BatchPayload(chunks=chunks, entities=[alice, acme, leeds], relations=relations)


def fresh_snapshot(sink: Any, *batches: tuple[DocumentRef, BatchPayload]) -> Any:
    """The snapshot of a graph that only ever saw `batches`; the sink's graph is emptied afterwards."""
    for document, payload in batches:
        sink.write_batch(document, payload)
    clean = snapshot(sink)
    sink.delete_graph()
    sink.ensure_schema()
    return clean


def test_removing_the_old_version_leaves_the_graph_a_clean_write_of_the_new_one_leaves(sink: Any) -> None:
    # GIVEN the graph a clean write of v2 alone leaves, and a graph holding v1 and then v2 of the same document
    clean = fresh_snapshot(sink, version_two())
    (old_document, old), (new_document, new) = version_one(), version_two()
    sink.write_batch(old_document, old)
    sink.write_batch(new_document, new)
    document = new_document.document_id
    assert sink.document_versions(document) == {"v1": 2, "v2": 2}
    works_for = new.relations[0].relation_id
    assert sink.query("MATCH ()-[r {id: $id}]->() RETURN size(r.chunk_ids)", {"id": works_for}) == [[2]]
    # WHEN v1 is removed
    sink.remove_version(document, "v1")
    # THEN its chunks and their mentions are gone, and only v2 is counted
    assert sink.document_versions(document) == {"v2": 2}
    assert sink.query("MATCH (c:Chunk {version: 'v1'}) RETURN count(c)") == [[0]]
    # AND Bob, mentioned in v1 only, is gone with his KNOWS; LEADS, supported by v1 only, is gone
    assert sink.query("MATCH (e:Entity {name: 'Bob Brown'}) RETURN count(e)") == [[0]]
    assert sink.query("MATCH ()-[r:KNOWS|LEADS]->() RETURN count(r)") == [[0]]
    # AND WORKS_FOR, still supported by v2, keeps only v2's chunk
    assert sink.query("MATCH ()-[r {id: $id}]->() RETURN r.chunk_ids", {"id": works_for}) == [
        [[new.chunks[0].chunk_id]]
    ]
    # AND the whole graph is the one a clean write of v2 leaves: nodes, properties, edges and counts
    assert snapshot(sink) == clean
    # AND removing v1 again changes nothing
    sink.remove_version(document, "v1")
    assert snapshot(sink) == clean


def crashing_after(writes: int, run: Run) -> Run:
    """`run`, until it has run `writes` statements; then it fails as a worker that died would."""
    done = 0

    def write(query: str, params: dict[str, Any]) -> list[list[Any]]:
        nonlocal done
        if done == writes:
            raise TransientError(Reason.GRAPH_UNAVAILABLE, "the worker died")
        done += 1
        return run(query, params)

    return write


def test_a_removal_cut_short_anywhere_is_finished_by_running_it_again(sink: Any) -> None:
    # GIVEN the graph a removal of v1 leaves, and the number of statements it takes one chunk per round
    (old_document, old), (new_document, new) = version_one(), version_two()
    document = new_document.document_id
    sink.write_batch(old_document, old)
    sink.write_batch(new_document, new)
    sink.remove_version(document, "v1")
    clean = snapshot(sink)
    statements = 2 * 3 + 1  # two rounds of three writes, then the document
    for crash_after in range(statements):
        sink.delete_graph()
        sink.ensure_schema()
        sink.write_batch(old_document, old)
        sink.write_batch(new_document, new)
        # WHEN a removal one chunk at a time crashes after `crash_after` of its writes
        with pytest.raises(TransientError):
            remove_chunks(sink.query, crashing_after(crash_after, sink.query), document, "v1", limit=1)
        # AND the removal runs again
        sink.remove_version(document, "v1")
        # THEN the graph is the one an uninterrupted removal leaves
        assert snapshot(sink) == clean, f"crash after {crash_after} writes"


def test_removing_a_version_in_many_small_rounds_ends_the_same(sink: Any) -> None:
    (old_document, old), (new_document, new) = version_one(), version_two()
    clean = fresh_snapshot(sink, version_two())
    sink.write_batch(old_document, old)
    sink.write_batch(new_document, new)
    remove_chunks(sink.query, sink.query, new_document.document_id, "v1", limit=1)
    assert snapshot(sink) == clean


def test_an_entity_another_document_mentions_stays(sink: Any) -> None:
    # GIVEN v1 of a document, and another document that mentions Bob (whom only v1 of the first mentions)
    old_document, old = version_one()
    other = make_document("reports/other.txt")
    other_chunks = make_chunks(other, ["Bob Brown writes."])
    bob = make_entity("Person", "Bob Brown", other_chunks)
    sink.write_batch(old_document, old)
    sink.write_batch(other, BatchPayload(chunks=other_chunks, entities=[bob]))
    # WHEN v1 is removed
    sink.remove_version(old_document.document_id, "v1")
    # THEN Bob stays, mentioned by the other document; its KNOWS (supported by v1 only) is gone
    assert sink.query("MATCH (e:Entity) RETURN e.name") == [["Bob Brown"]]
    assert sink.counts() == GraphCounts(documents=1, chunks=1, entities=1, relations=0)
    # AND the first document, left with no chunk, is gone
    assert sink.document_versions(old_document.document_id) == {}


def test_a_relation_without_provenance_stays_until_an_end_of_it_goes(sink: Any) -> None:
    # GIVEN v1, plus relations written before provenance was stored: one between entities v2 keeps, one to Bob
    (old_document, old), (new_document, new) = version_one(), version_two()
    alice, acme, bob = old.entities
    legacy = [make_relation(acme, "EMPLOYS", alice), make_relation(bob, "MET", acme)]
    sink.write_batch(old_document, old.model_copy(update={"relations": [*old.relations, *legacy]}))
    sink.write_batch(new_document, new)
    assert sink.query("MATCH ()-[r:EMPLOYS]->() RETURN r.chunk_ids") == [[None]]
    # WHEN v1 is removed
    sink.remove_version(new_document.document_id, "v1")
    # THEN EMPLOYS stays; MET went with Bob
    assert sink.query("MATCH ()-[r:EMPLOYS|MET]->() RETURN type(r)") == [["EMPLOYS"]]


def test_delete_document_removes_every_version_and_keeps_what_others_mention(sink: Any) -> None:
    # GIVEN both versions of a document, and another document mentioning Alice
    (old_document, old), (new_document, new) = version_one(), version_two()
    other = make_document("reports/other.txt")
    other_chunks = make_chunks(other, ["Alice Smith again."])
    # (the same alias: aliases carry no provenance, so a removed version's aliases stay on an entity that stays)
    alice = make_entity("Person", "Alice Smith", other_chunks, aliases=["A. Smith"])
    other_batch = BatchPayload(chunks=other_chunks, entities=[alice])
    clean = fresh_snapshot(sink, (other, other_batch))
    sink.write_batch(old_document, old)
    sink.write_batch(other, other_batch)
    sink.write_batch(new_document, new)
    # WHEN the document is deleted
    sink.delete_document(new_document.document_id)
    # THEN the graph is the one the other document alone leaves
    assert sink.document_versions(new_document.document_id) == {}
    assert snapshot(sink) == clean
    # AND deleting it again, or a document never written, changes nothing
    sink.delete_document(new_document.document_id)
    sink.delete_document(document_id("testaccount", "incoming", "never/written.txt"))
    assert snapshot(sink) == clean


def test_unknown_documents_and_versions_are_no_ops(sink: Any) -> None:
    document, payload = alice_works_for_acme()
    sink.write_batch(document, payload)
    before = snapshot(sink)
    sink.delete_document("no-such-document")
    sink.remove_version("no-such-document", "v1")
    sink.remove_version(document.document_id, "no-such-version")
    assert snapshot(sink) == before
    assert sink.document_versions("no-such-document") == {}
    assert sink.document_versions(document.document_id) == {"v1": 3}


# -- entity resolution's look-ups --


def resolvable(
    entity_type: str, name: str, chunks: list[Chunk], blocks: list[str], aliases: list[str] | None = None
) -> Entity:
    """An entity as entity resolution hands it to the sink: with its blocking keys."""
    return make_entity(entity_type, name, chunks, aliases).model_copy(update={"blocks": blocks})


def test_entity_candidates_are_found_by_type_and_blocking_key_with_their_aliases(sink: Any) -> None:
    # GIVEN entities written with blocking keys: two sharing "okapi", one Place sharing it too, one unrelated
    document = make_document()
    chunks = make_chunks(document, ["Okapi Analytics and Okapi Robotics; Okapi, the town; Zebra Labs."])
    okapi = resolvable("Organization", "Okapi Analytics", chunks, ["okapi", "o analytics"], ["Okapi Analytics Ltd"])
    robotics = resolvable("Organization", "Okapi Robotics", chunks, ["okapi", "o robotics"])
    town = resolvable("Place", "Okapi", chunks, ["okapi"])
    zebra = resolvable("Organization", "Zebra Labs", chunks, ["zebra", "z labs"])
    sink.write_batch(document, BatchPayload(chunks=chunks, entities=[okapi, robotics, town, zebra]))
    # WHEN organisations are looked up by the first key of a name, and by the second key of another
    found = sink.entity_candidates("Organization", ["okapi", "z labs", "nothing"])
    # THEN the organisations with either key come back once each, ordered by id, with their aliases; the Place
    # with the same key does not
    expected = sorted(
        [(okapi.entity_id, "Okapi Analytics", ("Okapi Analytics Ltd",)), (robotics.entity_id, "Okapi Robotics", ()),
         (zebra.entity_id, "Zebra Labs", ())]
    )  # fmt: skip
    assert [(c.entity_id, c.name, c.aliases) for c in found] == expected
    assert {c.type for c in found} == {"Organization"}
    # AND a key nobody has, or no key at all, finds nothing
    assert sink.entity_candidates("Organization", ["nothing"]) == []
    assert sink.entity_candidates("Organization", []) == []


def test_entity_candidates_are_capped_per_key_to_the_lowest_ids(sink: Any) -> None:
    # GIVEN twelve people sharing one blocking key (a common surname) and one with a rare key
    document = make_document()
    chunks = make_chunks(document, ["Many Smiths."])
    smiths = [resolvable("Person", f"Jo{i} Smith", chunks, [f"jo{i}", "j smith"]) for i in range(12)]
    rare = resolvable("Person", "Quentin Smith", chunks, ["quentin", "q smith"])
    sink.write_batch(document, BatchPayload(chunks=chunks, entities=[*smiths, rare]))
    # WHEN the crowded key and the rare one are looked up with a cap of five per key
    found = [c.entity_id for c in sink.entity_candidates("Person", ["j smith", "quentin"], per_block=5)]
    # THEN the five lowest ids of the crowded key come back, and the rare one is not crowded out
    lowest = sorted(s.entity_id for s in smiths)
    assert found == sorted([*lowest[:5], rare.entity_id])
    # AND an entity asked for by id comes back whatever the cap (one of another type, or unknown, does not)
    highest = lowest[-1]
    asked = sink.entity_candidates("Person", ["j smith"], per_block=5, ids=[highest, "no-such-id", rare.entity_id])
    assert [c.entity_id for c in asked] == sorted([*lowest[:5], highest, rare.entity_id])
    assert sink.entity_candidates("Organization", [], ids=[highest]) == []


def test_the_first_blocking_keys_written_stay_as_the_first_name_does(sink: Any) -> None:
    document = make_document()
    chunks = make_chunks(document, ["Okapi Analytics"])
    first = resolvable("Organization", "Okapi Analytics", chunks, ["okapi", "o analytics"])
    sink.write_batch(document, BatchPayload(chunks=chunks, entities=[first]))
    # WHEN the same entity comes again with other keys, or with none (written by a sink user that does not resolve)
    sink.write_batch(document, BatchPayload(chunks=chunks, entities=[first.model_copy(update={"blocks": ["x", "y"]})]))
    sink.write_batch(document, BatchPayload(chunks=chunks, entities=[first.model_copy(update={"blocks": []})]))
    # THEN the first keys stay
    assert sink.query("MATCH (e:Entity) RETURN e.block1, e.block2") == [
        ["Organization:okapi", "Organization:o analytics"]
    ]
    assert [c.entity_id for c in sink.entity_candidates("Organization", ["o analytics"])] == [first.entity_id]
    assert sink.entity_candidates("Organization", ["x", "y"]) == []


def test_linked_entities_answers_which_pairs_a_relation_joins_either_way_round(sink: Any) -> None:
    document, payload = alice_works_for_acme()
    sink.write_batch(document, payload)
    alice, acme = payload.entities
    pairs = [(acme.entity_id, alice.entity_id), (alice.entity_id, "no-such-entity"), (alice.entity_id, alice.entity_id)]
    assert sink.linked_entities(pairs) == {(acme.entity_id, alice.entity_id)}
    assert sink.linked_entities([]) == set()


@pytest.mark.falkordb
def test_falkordb_looks_candidates_up_through_an_index(graph_sink: FalkorDBGraphSink) -> None:
    # GIVEN the schema ensured WHEN the candidate query is planned THEN it starts from an index, not a label scan
    from falkordb import FalkorDB

    from shared.adapters.cypher import ENTITY_CANDIDATES

    graph = FalkorDB.from_url(graph_sink.target).select_graph(graph_sink.graph_name)
    plan = "\n".join(
        graph.explain(ENTITY_CANDIDATES, {"blocks": ["Person:x"], "per_block": 5, "ids": ["x"], "type": "Person"}).plan
    )
    assert "Node By Index Scan" in plan, plan
    assert "Label Scan" not in plan, plan
    indexed = graph_sink.query("CALL db.indexes() YIELD label, properties RETURN label, properties")
    assert {"block1", "block2"} <= set(dict(indexed)["Entity"])


# -- communities: the entity graph read in pages, Community nodes and their IN_COMMUNITY edges --


def a_small_world() -> tuple[DocumentRef, BatchPayload]:
    """Five entities: Alice and Bob at Acme (Acme in Leeds), and Carol alone; WORKS_FOR Alice→Acme twice supported."""
    document = make_document("reports/world.txt")
    chunks = make_chunks(document, ["Alice Smith works for Acme Corp.", "Alice again at Acme.", "Bob Jones too."])
    alice = make_entity("Person", "Alice Smith", chunks[:2])
    bob = make_entity("Person", "Bob Jones", chunks[2:])
    acme = make_entity("Organization", "Acme Corp", chunks)
    leeds = make_entity("Location", "Leeds", chunks[:1])
    carol = make_entity("Person", "Carol White", chunks[2:])
    relations = [
        make_relation(alice, "WORKS_FOR", acme, evidence="Alice Smith works for Acme Corp.", chunks=chunks[:2]),
        make_relation(bob, "WORKS_FOR", acme, chunks=chunks[2:]),
        make_relation(acme, "LOCATED_IN", leeds, evidence="Acme Corp is in Leeds."),
    ]
    return document, BatchPayload(chunks=chunks, entities=[alice, bob, acme, leeds, carol], relations=relations)


def make_community(community_id: str, level: int, members: list[str], size: int, summary: str = "s") -> Community:
    return Community(
        community_id=community_id,
        level=level,
        size=size,
        member_ids=tuple(sorted(members)),
        title=f"title of {community_id}",
        summary=summary,
        summarizer="extractive/1",
        fingerprint=f"fp-{community_id}-{summary}",
        content=f"content-{community_id}",
        updated="2026-12-02T16:00:00+00:00",
    )


def test_the_entity_graph_reads_in_pages_with_each_relation_once_and_weighted_by_support(sink: Any) -> None:
    # GIVEN five entities and three relations, one supported by two chunks, one with no provenance
    document, payload = a_small_world()
    sink.write_batch(document, payload)
    # WHEN the entity graph is read two entities at a time
    pages, after = [], ""
    while True:
        page = sink.entity_graph(after, 2)
        pages.append(page)
        if page.next_after is None:
            break
        after = page.next_after
    # THEN every entity comes once, in id order, over three pages (the last one short)
    ids = [entity.entity_id for page in pages for entity in page.entities]
    assert ids == sorted(entity.entity_id for entity in payload.entities)
    assert [len(page.entities) for page in pages] == [2, 2, 1]
    # AND every relation once, with the page of its source, weighted by its chunks (at least 1)
    relations = {r.relation_id: r for page in pages for r in page.relations}
    assert len(relations) == sum(len(page.relations) for page in pages) == 3
    weights = {r.type + ":" + r.source_id: r.weight for r in relations.values()}
    alice, bob, acme = payload.entities[:3]
    assert weights == {
        f"WORKS_FOR:{alice.entity_id}": 2,
        f"WORKS_FOR:{bob.entity_id}": 1,
        f"LOCATED_IN:{acme.entity_id}": 1,
    }
    for page in pages:
        page_ids = {entity.entity_id for entity in page.entities}
        assert all(relation.source_id in page_ids for relation in page.relations)
    # AND the evidence of the relations that have one is found by their ends
    evidence = sink.relation_evidence(list(relations.values()))
    assert sorted(evidence.values()) == ["Acme Corp is in Leeds.", "Alice Smith works for Acme Corp."]
    assert sink.relation_evidence([]) == {}


def test_communities_are_written_idempotently_with_their_edges_and_read_back(sink: Any) -> None:
    # GIVEN the small world's entities
    document, payload = a_small_world()
    sink.write_batch(document, payload)
    alice, bob, acme, leeds, _carol = (entity.entity_id for entity in payload.entities)
    # WHEN two level-0 communities and their level-1 parent are written (parent first: the call orders nothing)
    parent = make_community("c-top", 1, ["c-work", "c-place"], 4)
    communities = [parent, make_community("c-work", 0, [alice, bob, acme], 3), make_community("c-place", 0, [leeds], 1)]
    sink.write_communities(communities)
    # THEN they read back with their members and properties, in id order
    assert sink.communities() == sorted(communities, key=lambda c: c.community_id)
    assert sink.unique_constraints()["Community"] == "OPERATIONAL"
    # AND the entities of the top community are reachable through the IN_COMMUNITY chain
    below = sink.query("MATCH (e:Entity)-[:IN_COMMUNITY*]->(:Community {id: 'c-top'}) RETURN e.id ORDER BY e.id")
    assert [row[0] for row in below] == sorted([alice, bob, acme, leeds])
    # AND entity-to-entity relations are not counted with them
    assert sink.counts().relations == 3
    # AND writing the same communities again changes nothing
    before = snapshot(sink)
    sink.write_communities(communities)
    assert snapshot(sink) == before
    # AND reading in pages of one gives the same communities
    paged = [sink.communities("", 1)[0]]
    while len(page := sink.communities(paged[-1].community_id, 1)) == 1:
        paged.append(page[0])
    assert paged == sink.communities()


def test_a_rewritten_community_moves_members_and_drops_the_ones_it_lost(sink: Any) -> None:
    # GIVEN Alice, Bob and Acme in one community, Leeds in another
    document, payload = a_small_world()
    sink.write_batch(document, payload)
    alice, bob, acme, leeds, carol = (entity.entity_id for entity in payload.entities)
    sink.write_communities(
        [make_community("c-work", 0, [alice, bob, acme], 3), make_community("c-place", 0, [leeds], 1)]
    )
    # WHEN the place community is rewritten with Acme (moved from c-work) and Carol, and c-work without Bob
    sink.write_communities(
        [make_community("c-place", 0, [leeds, acme, carol], 3, "v2"), make_community("c-work", 0, [alice], 1, "v2")]
    )
    # THEN each entity has exactly one IN_COMMUNITY edge, to its new community, and Bob none
    rows = sink.query("MATCH (e:Entity)-[:IN_COMMUNITY]->(c:Community) RETURN e.id, c.id ORDER BY e.id, c.id")
    assert sorted(map(tuple, rows)) == sorted(
        [(alice, "c-work"), (acme, "c-place"), (leeds, "c-place"), (carol, "c-place")]
    )
    assert {c.community_id: (c.member_ids, c.summary) for c in sink.communities()} == {
        "c-place": (tuple(sorted([leeds, acme, carol])), "v2"),
        "c-work": ((alice,), "v2"),
    }


def test_deleting_communities_and_entities_leaves_no_dangling_edge(sink: Any) -> None:
    # GIVEN two communities over the small world
    document, payload = a_small_world()
    sink.write_batch(document, payload)
    alice, bob, acme, leeds, _carol = (entity.entity_id for entity in payload.entities)
    sink.write_communities(
        [make_community("c-work", 0, [alice, bob, acme], 3), make_community("c-place", 0, [leeds], 1)]
    )
    # WHEN one community is deleted (with an unknown id beside it)
    sink.delete_communities(["c-place", "no-such-community"])
    # THEN it is gone with its edge, the other stays
    assert [c.community_id for c in sink.communities()] == ["c-work"]
    assert sink.query("MATCH (:Entity)-[r:IN_COMMUNITY]->() RETURN count(r)") == [[3]]
    # WHEN the document goes (its entities with it)
    sink.delete_document(document.document_id)
    # THEN the community has no member left (the next refresh deletes it): no edge points at a vanished entity
    assert sink.communities()[0].member_ids == ()
    assert sink.query("MATCH ()-[r:IN_COMMUNITY]->() RETURN count(r)") == [[0]]
    # AND an empty delete is a no-op
    sink.delete_communities([])


# -- relation weight --


def test_a_relations_weight_is_the_number_of_its_supporting_chunks_and_a_redelivery_keeps_it(sink: Any) -> None:
    # GIVEN a relation written from a batch that supports it by one chunk
    document, payload = alice_works_for_acme()
    alice, acme = payload.entities
    chunks = payload.chunks
    first = payload.model_copy(update={"relations": [make_relation(alice, "WORKS_FOR", acme, chunks=chunks[:1])]})
    sink.write_batch(document, first)
    assert sink.query("MATCH ()-[r:WORKS_FOR]->() RETURN r.weight") == [[1]]
    # WHEN a second batch supports it by that chunk and another, and is then delivered again with the first
    second = payload.model_copy(update={"relations": [make_relation(alice, "WORKS_FOR", acme, chunks=chunks[1::-1])]})
    sink.write_batch(document, second)
    sink.write_batch(document, second)
    sink.write_batch(document, first)
    # THEN the weight is the number of distinct supporting chunks: 2
    assert sink.query("MATCH ()-[r:WORKS_FOR]->() RETURN r.weight") == [[2]]


def test_removing_a_version_lowers_the_weight_of_a_relation_it_supported(sink: Any) -> None:
    # GIVEN WORKS_FOR supported by a chunk of v1 and a chunk of v2
    (old_document, old), (new_document, new) = version_one(), version_two()
    sink.write_batch(old_document, old)
    sink.write_batch(new_document, new)
    works_for = new.relations[0].relation_id
    assert sink.query("MATCH ()-[r {id: $id}]->() RETURN r.weight", {"id": works_for}) == [[2]]
    # WHEN v1 is removed
    sink.remove_version(new_document.document_id, "v1")
    # THEN its weight counts v2's chunk only
    assert sink.query("MATCH ()-[r {id: $id}]->() RETURN r.weight", {"id": works_for}) == [[1]]
