"""What `Neo4jGraphSink` sends to Neo4j, pinned without a server (none can run here, DESIGN.md §7).

The sink runs on an in-process recorder of the driver surface it uses (tests/support/neo4j_recorder.py), injected
through its constructor. The statements must be exactly those `cypher.batch_statements` builds with the NEO4J
dialect: the same core the FalkorDB contract suite runs against a real server, on the same test data. The whole
contract suite runs against a real Neo4j when NEO4J_URI is set (tests/contract/test_graph_sink.py).
"""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Any

import pytest
from neo4j.exceptions import ServiceUnavailable, SessionExpired

from shared.adapters import community_cypher, neo4j_graph
from shared.adapters.cypher import (
    CHUNK_CONTEXT,
    COUNT_QUERIES,
    DELETE_CHUNKS,
    DELETE_DOCUMENT,
    DELETE_DOCUMENT_IF_EMPTY,
    DELETE_UNMENTIONED_ENTITIES,
    DELETE_UNSUPPORTED_RELATIONS,
    DOCUMENT_VERSIONS,
    ENTITY_CANDIDATES,
    ENTITY_NEIGHBOURHOOD,
    LINKED_ENTITIES,
    NEO4J,
    STRIP_PROVENANCE,
    VERSION_CHUNKS,
    batch_statements,
)
from shared.adapters.neo4j_graph import Neo4jGraphSink, sliced
from shared.domain import BatchPayload, PermanentError, TransientError
from shared.domain.errors import ConfigError
from shared.ports import GraphCounts, GraphSink
from tests.contract.test_graph_sink import (
    alice_works_for_acme,
    make_chunks,
    make_community,
    make_document,
    make_entity,
    make_relation,
)
from tests.support.neo4j_recorder import RecordingDriver, server_error

NODE_DDL = [
    "CREATE CONSTRAINT document_id IF NOT EXISTS FOR (n:Document) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT chunk_id IF NOT EXISTS FOR (n:Chunk) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (n:Entity) REQUIRE n.id IS UNIQUE",
]
LOOKUP_DDL = [
    "CREATE INDEX entity_block1 IF NOT EXISTS FOR (n:Entity) ON (n.block1)",
    "CREATE INDEX entity_block2 IF NOT EXISTS FOR (n:Entity) ON (n.block2)",
]
WORKS_FOR_DDL = "CREATE CONSTRAINT rel_works_for_id IF NOT EXISTS FOR ()-[r:WORKS_FOR]-() REQUIRE r.id IS UNIQUE"


def recording_sink(driver: RecordingDriver | None = None, **options: Any) -> tuple[Neo4jGraphSink, RecordingDriver]:
    driver = driver or RecordingDriver()
    return Neo4jGraphSink(driver, "graphdb", **options), driver


def core(document: Any, payload: BatchPayload) -> list[tuple[str, dict[str, Any]]]:
    """What the shared Cypher core says a batch is, as (query, params)."""
    return [(s.query, s.params) for s in batch_statements(document, payload, NEO4J)]


def failing_on(fragment: str, error: BaseException) -> RecordingDriver:
    return RecordingDriver(fail=lambda query, params: error if fragment in query else None)


# -- ensure_schema --


def test_is_a_graph_sink() -> None:
    assert isinstance(recording_sink()[0], GraphSink)


def test_ensure_schema_creates_each_unique_id_constraint_if_not_exists_in_its_own_write_transaction() -> None:
    # GIVEN a sink on a database
    sink, driver = recording_sink()
    # WHEN the schema is ensured
    sink.ensure_schema()
    # THEN the Neo4j 5 DDL of each keyed label is sent, idempotent, with no parameters, then the range indexes
    # entity resolution looks entities up by (their blocking keys)
    assert driver.writes() == [(ddl, {}) for ddl in [*NODE_DDL, *LOOKUP_DDL]]
    assert NEO4J.schema_statements() == NODE_DDL
    # AND each runs in a managed write transaction of its own (schema and data never share one), on the database
    assert [(t.mode, len(t.statements), t.session_config["database"]) for t in driver.transactions] == [
        ("write", 1, "graphdb")
    ] * 5


def test_a_database_holding_duplicate_ids_is_a_permanent_constraint_failure() -> None:
    # GIVEN a server that cannot build the constraint: the data already holds duplicate ids
    error = server_error("Neo.DatabaseError.Schema.ConstraintCreationFailed", "Both Node(1) and Node(2) have id")
    sink, _ = recording_sink(failing_on("CREATE CONSTRAINT", error))
    # WHEN the schema is ensured THEN it fails for good with the reason
    with pytest.raises(PermanentError) as refused:
        sink.ensure_schema()
    assert refused.value.reason_code == "graph.constraint_failed"


# -- write_batch --


def test_write_batch_sends_the_shared_core_after_keying_the_relation_type() -> None:
    # GIVEN the contract suite's representative batch: a document, three chunks, two entities, one relation
    document, payload = alice_works_for_acme()
    sink, driver = recording_sink()
    # WHEN it is written
    sink.write_batch(document, payload)
    # THEN WORKS_FOR is keyed on id first, then exactly the core's statements run, in order
    assert driver.writes() == [(WORKS_FOR_DDL, {}), *core(document, payload)]
    # AND each statement is a managed write transaction of its own
    assert [len(t.statements) for t in driver.transactions] == [1] * 5
    assert all(t.mode == "write" and t.committed for t in driver.transactions)


def test_write_batch_pins_the_cypher_and_parameters() -> None:
    # GIVEN the representative batch
    document, payload = alice_works_for_acme()
    alice, acme = payload.entities
    relation = payload.relations[0]
    sink, driver = recording_sink()
    # WHEN it is written
    sink.write_batch(document, payload)
    # THEN the statements are these, word for word
    _, (chunks_query, chunks_params), (person_query, person_params), (org_query, org_params), relations = (
        driver.writes()
    )
    assert (
        chunks_query.split()
        == (
            "MERGE (d:Document {id: $document.id}) "
            "SET d.path = $document.path, d.version = $document.version, "
            "d.account = $document.account, d.container = $document.container "
            "WITH d UNWIND $rows AS r MERGE (c:Chunk {id: r.id}) "
            "SET c.document_id = r.document_id, c.version = r.version, c.ordinal = r.ordinal, "
            "c.text = r.text, c.locator = r.locator "
            "MERGE (d)-[:HAS_CHUNK]->(c)"
        ).split()
    )
    assert chunks_params["document"] == {
        "id": document.document_id,
        "path": "reports/q1.txt",
        "version": "v1",
        "account": "testaccount",
        "container": "incoming",
    }
    assert chunks_params["rows"][1] == {
        "id": payload.chunks[1].chunk_id,
        "document_id": document.document_id,
        "version": "v1",
        "ordinal": 1,
        "text": "Acme Corp is in Leeds.",
        "locator": "line 2",
    }
    assert "SET e:Person," in person_query
    assert "SET e:Organization," in org_query
    # AND each entity's write lock is taken before its aliases are read (Neo4j's MERGE of an existing node takes
    # none), so concurrent writers of one entity queue instead of losing each other's aliases
    words = " ".join(person_query.split())
    assert "SET e._lock = true REMOVE e._lock SET e:Person, e.aliases = reduce(acc = coalesce(e.aliases" in words
    assert words.index("MERGE (e:Entity") < words.index("SET e._lock")
    assert person_params == {
        "rows": [
            {
                "id": alice.entity_id,
                "type": "Person",
                "name": "Alice Smith",
                "aliases": ["Alice Smith", "A. Smith"],
                "chunk_ids": [payload.chunks[0].chunk_id],
                "block1": None,  # the test's entities were not resolved: no blocking keys
                "block2": None,
            }
        ]
    }
    assert org_params["rows"][0]["chunk_ids"] == [payload.chunks[0].chunk_id, payload.chunks[1].chunk_id]
    # AND an entity's mentions are written in its own statement (no clean-up can delete it in between)
    assert words.endswith(
        "WITH e, r UNWIND r.chunk_ids AS chunk_id MATCH (c:Chunk {id: chunk_id}) MERGE (c)-[:MENTIONS]->(e)"
    )
    assert "MERGE (s)-[x:WORKS_FOR {id: r.id}]->(t)" in relations[0]
    assert relations[1] == {
        "rows": [
            {
                "id": relation.relation_id,
                "source_id": alice.entity_id,
                "target_id": acme.entity_id,
                "evidence": "Alice Smith works for Acme Corp.",
                "chunk_ids": [],
            }
        ]
    }
    assert "SET x.chunk_ids = CASE WHEN x.chunk_ids IS NULL AND size(r.chunk_ids) = 0 THEN NULL" in " ".join(
        relations[0].split()
    )
    # AND Neo4j takes text as it is: a NUL is not replaced as it is for FalkorDB
    nul_document = make_document()
    sink.write_batch(nul_document, BatchPayload(chunks=make_chunks(nul_document, ["a\x00b"])))
    assert driver.writes()[-1][1]["rows"][0]["text"] == "a\x00b"


def test_a_relation_type_is_keyed_once_and_a_new_one_before_its_first_write() -> None:
    # GIVEN a sink that wrote a batch with WORKS_FOR
    document, payload = alice_works_for_acme()
    sink, driver = recording_sink()
    sink.write_batch(document, payload)
    # WHEN it writes that batch again, then one with a KNOWS relation too
    sink.write_batch(document, payload)
    alice, acme = payload.entities
    knows = make_relation(alice, "KNOWS", acme)
    sink.write_batch(document, payload.model_copy(update={"relations": [*payload.relations, knows]}))
    # THEN WORKS_FOR was keyed once, and KNOWS before the first statement that MERGEs it
    queries = [query for query, _ in driver.writes()]
    assert queries.count(WORKS_FOR_DDL) == 1
    knows_ddl = "CREATE CONSTRAINT rel_knows_id IF NOT EXISTS FOR ()-[r:KNOWS]-() REQUIRE r.id IS UNIQUE"
    assert queries.count(knows_ddl) == 1
    first_knows_write = next(i for i, query in enumerate(queries) if "[x:KNOWS" in query)
    assert queries.index(knows_ddl) < first_knows_write
    assert all("IF NOT EXISTS" in query for query in queries if query.startswith("CREATE CONSTRAINT"))


def test_a_type_whose_keying_failed_is_keyed_again_next_time() -> None:
    # GIVEN a server unavailable while the sink keys WORKS_FOR
    document, payload = alice_works_for_acme()
    down = True
    driver = RecordingDriver(
        fail=lambda query, params: ServiceUnavailable("gone") if down and "WORKS_FOR" in query else None
    )
    sink, _ = recording_sink(driver)
    with pytest.raises(TransientError):
        sink.write_batch(document, payload)
    # WHEN the redelivery comes after the server is back
    down = False
    sink.write_batch(document, payload)
    # THEN the type is keyed before the relation is written
    queries = [query for query, _ in driver.writes()]
    assert queries.index(WORKS_FOR_DDL) < next(i for i, query in enumerate(queries) if "[x:WORKS_FOR" in query)


def test_an_invalid_type_sends_nothing() -> None:
    # GIVEN a batch with a relation type that could inject Cypher
    document, payload = alice_works_for_acme()
    alice, acme = payload.entities
    bad = payload.model_copy(update={"relations": [make_relation(alice, "R]->() DETACH DELETE n //", acme)]})
    sink, driver = recording_sink()
    # WHEN it is written THEN it is refused before any transaction
    with pytest.raises(PermanentError) as refused:
        sink.write_batch(document, bad)
    assert refused.value.reason_code == "graph.invalid_type"
    assert driver.transactions == []


def test_rows_are_written_batch_size_at_a_time_in_order() -> None:
    # GIVEN a sink writing 2 rows per transaction, and a batch of 5 chunks mentioning one entity
    document = make_document()
    chunks = make_chunks(document, [f"part {n}" for n in range(5)])
    payload = BatchPayload(chunks=chunks, entities=[make_entity("Person", "Ann Lee", chunks)])
    sink, driver = recording_sink(batch_size=2)
    # WHEN it is written
    sink.write_batch(document, payload)
    # THEN each statement of the core runs in slices of its rows, every slice with the statement's other parameters
    expected = [
        (s.query, s.params) for statement in batch_statements(document, payload, NEO4J) for s in sliced(statement, 2)
    ]
    assert driver.writes() == expected
    chunk_slices = [params for query, params in driver.writes() if "HAS_CHUNK" in query]
    assert [[row["ordinal"] for row in params["rows"]] for params in chunk_slices] == [[0, 1], [2, 3], [4]]
    assert all(params["document"]["id"] == document.document_id for params in chunk_slices)
    assert len(driver.transactions) == len(expected) == 3 + 1  # chunks, then the entity with its 5 mentions


def test_a_batch_without_chunks_still_upserts_its_document() -> None:
    document = make_document()
    sink, driver = recording_sink(batch_size=2)
    sink.write_batch(document, BatchPayload(chunks=[]))
    assert driver.writes() == core(document, BatchPayload(chunks=[]))
    assert driver.writes()[0][1]["rows"] == []


def test_batch_size_defaults_to_1000_and_must_be_positive() -> None:
    assert recording_sink()[0].batch_size == 1000
    with pytest.raises(ValueError, match="batch_size"):
        recording_sink(batch_size=0)


# -- counts, close --


def test_counts_run_the_shared_count_queries_in_one_read_transaction() -> None:
    # GIVEN a server that answers each count
    answers = dict(zip(COUNT_QUERIES.values(), [[[1]], [[3]], [[2]], [[1]]], strict=True))
    sink, driver = recording_sink(RecordingDriver(answer=lambda query, params: answers.get(query, [])))
    # WHEN the counts are read THEN they are the server's integers, from one read transaction
    assert sink.counts() == GraphCounts(documents=1, chunks=3, entities=2, relations=1)
    [transaction] = driver.transactions
    assert transaction.mode == "read"
    assert [query for query, _ in transaction.statements] == list(COUNT_QUERIES.values())


def test_context_runs_the_shared_context_queries_in_read_transactions() -> None:
    # GIVEN a server that knows one chunk mentioning one entity, which has one relation
    rows = {
        CHUNK_CONTEXT: [["c1", "reports/q1.txt", "line 1", "e1", "Person", "Alice Smith"]],
        ENTITY_NEIGHBOURHOOD: [["r1", "WORKS_FOR", "e1", "e2", "e2", "Organization", "Acme Corp"]],
    }
    sink, driver = recording_sink(RecordingDriver(answer=lambda query, params: rows.get(query, [])))

    # WHEN the context of that chunk is read
    context = sink.context(["c1"], max_relations=7)

    # THEN the shared queries ran read-only with their parameters, and the answer is folded as on FalkorDB
    assert [(t.mode, t.statements) for t in driver.transactions] == [
        ("read", [(CHUNK_CONTEXT, {"chunk_ids": ["c1"]})]),
        ("read", [(ENTITY_NEIGHBOURHOOD, {"entity_ids": ["e1"], "limit": 7})]),
    ]
    assert context.chunks["c1"].entity_ids == ("e1",)
    assert context.entities["e2"].name == "Acme Corp"
    assert [(r.type, r.source_id, r.target_id) for r in context.relations] == [("WORKS_FOR", "e1", "e2")]


def test_entity_resolution_look_ups_run_the_shared_queries_in_read_transactions() -> None:
    # GIVEN a server that knows one organisation under a blocking key, and one relation
    rows = {
        ENTITY_CANDIDATES: [["e1", "Organization", "Okapi Analytics", ["Okapi Analytics Ltd"]]],
        LINKED_ENTITIES: [["e2", "e1"]],
    }
    sink, driver = recording_sink(RecordingDriver(answer=lambda query, params: rows.get(query, [])))
    # WHEN candidates are looked up, and links between pairs asked for
    found = sink.entity_candidates("Organization", ["okapi", "o analytics", "okapi"], per_block=3, ids=["e1"])
    linked = sink.linked_entities([("e2", "e1"), ("e3", "e1")])
    # THEN both ran read-only, the keys qualified by the type as the sink stores them, each once
    assert [(t.mode, t.statements) for t in driver.transactions] == [
        (
            "read",
            [
                (
                    ENTITY_CANDIDATES,
                    {
                        "blocks": ["Organization:okapi", "Organization:o analytics"],
                        "per_block": 3,
                        "ids": ["e1"],
                        "type": "Organization",
                    },
                )
            ],
        ),
        ("read", [(LINKED_ENTITIES, {"pairs": [["e2", "e1"], ["e3", "e1"]]})]),
    ]
    assert [(c.entity_id, c.name, c.aliases) for c in found] == [("e1", "Okapi Analytics", ("Okapi Analytics Ltd",))]
    assert linked == {("e2", "e1")}


# -- remove_version, delete_document, document_versions --


def chunks_in_rounds(rounds: list[list[list[Any]]]) -> RecordingDriver:
    """A server whose VERSION_CHUNKS answers `rounds` one after the other, then nothing."""
    remaining = list(rounds)

    def answer(query: str, params: dict[str, Any]) -> list[list[Any]]:
        return remaining.pop(0) if query == VERSION_CHUNKS and remaining else []

    return RecordingDriver(answer=answer)


def test_remove_version_runs_the_shared_clean_up_round_by_round_each_statement_its_own_transaction() -> None:
    # GIVEN a server holding two rounds of a version's chunks: c1, c2 (mentioning e1, e2) then c3 (mentioning none)
    driver = chunks_in_rounds([[["c1", ["e1", "e2"]], ["c2", ["e2"]]], [["c3", []]]])
    sink, _ = recording_sink(driver, batch_size=2)
    # WHEN the version is removed
    sink.remove_version("doc", "v1")
    # THEN each round reads its chunks, then drops the relations only they support, strips their provenance,
    # drops the entities nothing else mentions and the chunks; then the document if it has no chunk left
    selection = {"document_id": "doc", "version": "v1", "limit": 2}
    first = {"chunk_ids": ["c1", "c2"], "entity_ids": ["e1", "e2"]}
    second = {"chunk_ids": ["c3"], "entity_ids": []}
    cleanup = [DELETE_UNSUPPORTED_RELATIONS, STRIP_PROVENANCE, DELETE_UNMENTIONED_ENTITIES, DELETE_CHUNKS]
    assert [(t.mode, t.statements) for t in driver.transactions] == [
        ("read", [(VERSION_CHUNKS, selection)]),
        *[("write", [(query, first)]) for query in cleanup],
        ("read", [(VERSION_CHUNKS, selection)]),
        *[("write", [(query, second)]) for query in cleanup],
        ("read", [(VERSION_CHUNKS, selection)]),
        ("write", [(DELETE_DOCUMENT_IF_EMPTY, {"document_id": "doc"})]),
    ]
    assert all(t.committed and t.session_config["database"] == "graphdb" for t in driver.transactions)


def test_remove_version_pins_the_cypher() -> None:
    sink, driver = recording_sink(chunks_in_rounds([[["c1", ["e1"]]]]))
    sink.remove_version("doc", "v1")
    queries = [" ".join(query.split()) for t in driver.transactions for query, _ in t.statements]
    assert queries == [
        "MATCH (:Document {id: $document_id})-[:HAS_CHUNK]->(c:Chunk) "
        "WHERE $version IS NULL OR c.version = $version WITH c LIMIT $limit "
        "OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity) RETURN c.id, collect(e.id)",
        "UNWIND $entity_ids AS eid MATCH (:Entity {id: eid})-[x]-(:Entity) "
        "WHERE x.chunk_ids IS NOT NULL AND size(x.chunk_ids) > 0 AND all(i IN x.chunk_ids WHERE i IN $chunk_ids) "
        "WITH DISTINCT x DELETE x",
        "UNWIND $entity_ids AS eid MATCH (:Entity {id: eid})-[x]-(:Entity) "
        "WHERE x.chunk_ids IS NOT NULL AND any(i IN x.chunk_ids WHERE i IN $chunk_ids) "
        "WITH DISTINCT x SET x.chunk_ids = [i IN x.chunk_ids WHERE NOT i IN $chunk_ids], "
        "x.weight = size([i IN x.chunk_ids WHERE NOT i IN $chunk_ids])",
        "UNWIND $entity_ids AS eid MATCH (e:Entity {id: eid}) OPTIONAL MATCH (c:Chunk)-[:MENTIONS]->(e) "
        "WHERE NOT c.id IN $chunk_ids WITH e, count(c) AS others WHERE others = 0 DETACH DELETE e",
        "UNWIND $chunk_ids AS cid MATCH (c:Chunk {id: cid}) DETACH DELETE c",
        "MATCH (:Document {id: $document_id})-[:HAS_CHUNK]->(c:Chunk) "
        "WHERE $version IS NULL OR c.version = $version WITH c LIMIT $limit "
        "OPTIONAL MATCH (c)-[:MENTIONS]->(e:Entity) RETURN c.id, collect(e.id)",
        "MATCH (d:Document {id: $document_id}) WHERE NOT (d)-[:HAS_CHUNK]->() DELETE d",
    ]


def test_delete_document_selects_every_version_and_always_deletes_the_document() -> None:
    # GIVEN a document with one chunk left (any version)
    sink, driver = recording_sink(chunks_in_rounds([[["c1", ["e1"]]]]))
    # WHEN it is deleted
    sink.delete_document("doc")
    # THEN the chunks are selected without a version, and the Document node goes with whatever is attached to it
    reads = [params for t in driver.transactions if t.mode == "read" for _, params in t.statements]
    assert reads == [{"document_id": "doc", "version": None, "limit": 1000}] * 2
    assert driver.writes()[-1] == (DELETE_DOCUMENT, {"document_id": "doc"})
    assert " ".join(DELETE_DOCUMENT.split()) == "MATCH (d:Document {id: $document_id}) DETACH DELETE d"


def test_deleting_an_unknown_document_reads_once_and_deletes_nothing_else() -> None:
    sink, driver = recording_sink()
    sink.delete_document("nothing")
    assert [(t.mode, [q for q, _ in t.statements]) for t in driver.transactions] == [
        ("read", [VERSION_CHUNKS]),
        ("write", [DELETE_DOCUMENT]),
    ]


def test_a_failure_midway_through_a_removal_is_the_projects_error_and_stops_it() -> None:
    # GIVEN a server that fails the entity clean-up (the driver's own retries spent)
    error = ServiceUnavailable("gone")
    driver = RecordingDriver(
        answer=lambda query, params: [["c1", ["e1"]]] if query == VERSION_CHUNKS else [],
        fail=lambda query, params: error if query == DELETE_UNMENTIONED_ENTITIES else None,
    )
    sink, _ = recording_sink(driver)
    # WHEN a version is removed THEN it fails as retryable, before the chunks were deleted (a rerun finds them)
    with pytest.raises(TransientError) as failed:
        sink.remove_version("doc", "v1")
    assert failed.value.reason_code == "graph.unavailable"
    assert DELETE_CHUNKS not in [query for query, _ in driver.writes()]


def test_document_versions_reads_the_counts_per_version() -> None:
    answers = {DOCUMENT_VERSIONS: [["v1", 3], ["v2", 2]]}
    sink, driver = recording_sink(RecordingDriver(answer=lambda query, params: answers.get(query, [])))
    assert sink.document_versions("doc") == {"v1": 3, "v2": 2}
    assert [(t.mode, t.statements) for t in driver.transactions] == [
        ("read", [(DOCUMENT_VERSIONS, {"document_id": "doc"})])
    ]


def test_close_closes_the_driver() -> None:
    sink, driver = recording_sink()
    sink.close()
    assert driver.closed


# -- errors --


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        pytest.param(
            server_error("Neo.ClientError.Schema.ConstraintValidationFailed", "already exists with label"),
            TransientError,
            "graph.conflict",
            id="constraint-violation",
        ),
        pytest.param(ServiceUnavailable("Unable to retrieve routing information"), TransientError, "graph.unavailable"),
        pytest.param(SessionExpired("leader switched"), TransientError, "graph.unavailable"),
        pytest.param(
            server_error("Neo.TransientError.Transaction.DeadlockDetected", "deadlock"),
            TransientError,
            "graph.unavailable",
            id="deadlock",
        ),
        pytest.param(
            server_error("Neo.ClientError.Security.Unauthorized", "bad credentials"),
            TransientError,
            "graph.unavailable",
            id="auth",
        ),
        pytest.param(
            server_error("Neo.ClientError.Statement.SyntaxError", "invalid input"),
            PermanentError,
            "graph.query_failed",
            id="syntax",
        ),
    ],
)
def test_driver_errors_during_a_write_map_to_reasons(error: BaseException, kind: type, reason: str) -> None:
    # GIVEN a server that fails the relation statement with `error` (the driver's own retries spent)
    document, payload = alice_works_for_acme()
    sink, _ = recording_sink(failing_on("[x:WORKS_FOR", error))
    # WHEN the batch is written THEN the error is the project's, with the reason, and the driver's as its cause
    with pytest.raises(kind) as raised:
        sink.write_batch(document, payload)
    assert raised.value.reason_code == reason
    assert raised.value.__cause__ is error


def test_a_constraint_violation_outside_a_batch_write_is_permanent() -> None:
    # GIVEN a query that CREATEs a node with an id that exists (what the contract suite does behind the sink's back)
    error = server_error("Neo.ClientError.Schema.ConstraintValidationFailed", "Node(0) already exists with label")
    sink, _ = recording_sink(failing_on("CREATE (:Document", error))
    # WHEN it runs THEN it is refused for good: retrying cannot help a CREATE
    with pytest.raises(PermanentError, match="already exists") as refused:
        sink.query("CREATE (:Document {id: $id})", {"id": "x"})
    assert refused.value.reason_code == "graph.query_failed"


# -- construction --


def test_from_settings_builds_a_driver_that_fails_as_unavailable_when_nothing_listens() -> None:
    # GIVEN a sink built from settings for a port nothing listens on (the real driver: it connects lazily)
    sink = Neo4jGraphSink.from_settings(
        "bolt://127.0.0.1:1", "neo4j", "secret", "neo4j", max_transaction_retry_time=0.2
    )
    try:
        # WHEN it is used THEN it fails with a retryable reason, once the driver's short retry budget is spent
        started = time.monotonic()
        with pytest.raises(TransientError) as failed:
            sink.counts()
        assert failed.value.reason_code == "graph.unavailable"
        assert time.monotonic() - started < 10
        assert "secret" not in repr(sink)
    finally:
        sink.close()


@pytest.mark.parametrize(
    "uri",
    [
        "http://example.org:7474",  # the driver's HTTP Query API preview: needs aiohttp, not in requirements.txt
        "https://example.org",
        "redis://example.org:6379",
        "example.org:7687",
        "neo4j://",
    ],
)
def test_from_settings_refuses_a_uri_that_is_not_bolt(uri: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Neo4jGraphSink.from_settings(uri, "neo4j", "secret", None)
    assert refused.value.reason_code == "config.invalid_setting"
    assert "TRIBUTARY_NEO4J_URI" in str(refused.value)


def test_the_adapter_imports_only_the_driver_the_standard_library_and_the_project() -> None:
    # The deployed app installs requirements.txt only: the adapter may need nothing else (and no local host).
    tree = ast.parse(Path(neo4j_graph.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names} | {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert {name.split(".")[0] for name in imported} <= {
        "__future__",
        "collections",
        "contextlib",
        "neo4j",
        "shared",
        "threading",
        "typing",
    }
    assert not any(name.startswith("shared.devhost") for name in imported)


# -- communities (shared/adapters/community_cypher.py) --

COMMUNITY_DDL = "CREATE CONSTRAINT community_id IF NOT EXISTS FOR (n:Community) REQUIRE n.id IS UNIQUE"


def flat(query: str) -> str:
    return " ".join(query.split())


def test_write_communities_keys_community_once_then_runs_the_shared_statements_in_order() -> None:
    # GIVEN a sink, and a level-0 community whose member Bob the graph holds in another community
    driver = RecordingDriver(
        answer=lambda query, params: [["c-work", "bob"]] if query == community_cypher.CURRENT_MEMBERS else []
    )
    sink, _ = recording_sink(driver)
    work = make_community("c-work", 0, ["alice", "acme"], 2)
    # WHEN it is written, twice
    sink.write_communities([work])
    sink.write_communities([work])
    # THEN Community is keyed once, before the first write; each call runs the same statements, each in its own
    # transaction: nodes, the members read, the lost member unlinked, the members moved, linked, then properties
    queries = [(t.mode, flat(t.statements[0][0])) for t in driver.transactions]
    one_call = [
        ("write", flat(community_cypher.MERGE_COMMUNITIES)),
        ("read", flat(community_cypher.CURRENT_MEMBERS)),
        ("write", flat(community_cypher.UNLINK_MEMBERS.format(label="Entity"))),
        ("write", flat(community_cypher.UNLINK_FROM_OTHERS.format(label="Entity"))),
        ("write", flat(community_cypher.LINK_MEMBERS.format(label="Entity"))),
        ("write", flat(community_cypher.SET_COMMUNITIES)),
    ]
    assert queries == [("write", COMMUNITY_DDL), *one_call, *one_call]
    # AND the parameters carry the members, the lost one, and every property (no temporal function in Cypher)
    writes = driver.writes()
    assert writes[2][1] == {"pairs": [{"member": "bob", "community": "c-work"}]}
    assert writes[4][1] == {"rows": [{"id": "c-work", "member_ids": ["acme", "alice"]}]}
    assert writes[5][1]["rows"][0] == {
        "id": "c-work",
        "level": 0,
        "size": 2,
        "title": "title of c-work",
        "summary": "s",
        "summarizer": "extractive/1",
        "fingerprint": "fp-c-work-s",
        "content": "content-c-work",
        "updated": "2026-12-02T16:00:00+00:00",
    }
    assert all("datetime(" not in query for query, _ in writes)


def test_the_entity_graph_and_communities_are_read_in_read_transactions_and_deleted_in_a_write() -> None:
    # GIVEN a sink whose server answers one entity with one relation, and one community
    def answer(query: str, params: dict[str, Any]) -> list[list[Any]]:
        if query == community_cypher.ENTITY_GRAPH_PAGE:
            return [["a", "Person", "Alice", "r1", "KNOWS", "b", 2]]
        if query == community_cypher.COMMUNITY_PAGE:
            return [["c1", 0, 2, "t", "s", "extractive/1", "fp", "content", "2026-12-02", ["b", "a"]]]
        return []

    sink, driver = recording_sink(RecordingDriver(answer=answer))
    # WHEN the entity graph and the communities are read, and a community deleted
    page = sink.entity_graph("", 10)
    [community] = sink.communities()
    sink.delete_communities(["c1"])
    # THEN they come back as the port says, read in read transactions; the delete is a write
    assert [(r.relation_id, r.weight) for r in page.relations] == [("r1", 2)]
    assert page.next_after is None
    assert community.member_ids == ("a", "b")
    assert [t.mode for t in driver.transactions] == ["read", "read", "write"]
    assert driver.transactions[0].statements[0][1] == {"after": "", "limit": 10}
    assert driver.transactions[2].statements == [(community_cypher.DELETE_COMMUNITIES, {"ids": ["c1"]})]
