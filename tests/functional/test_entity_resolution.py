"""Entity resolution across documents and runs, on the embedded default (the real rule extractor, a real FalkorDB):
the samples ingested twice, then a file that names known entities under other spellings, makes no duplicate
entity node, and the other spellings are aliases on the canonical node; a near-miss pair of distinct entities stays
apart. Below that, the resolver against the real graph: redelivery, two workers at once, stored context, deletes."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.domain import BatchPayload, Chunk, DocumentRef, Entity, Extraction, JobState, Relation
from shared.domain.ids import chunk_id, document_id, entity_id, relation_id
from shared.extraction.matchkeys import match_key, name_rules
from shared.extraction.resolution import resolve
from shared.extraction.schema import load_schema
from tests.support.pipeline import Pipeline, sample_files

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

SCHEMA = load_schema(None)
RULES = name_rules(SCHEMA)

OTHER_SPELLINGS = (
    b"OKAPI ANALYTICS signed a new contract in Lisbon.\n\n"
    b"Dr. Zoe Okafor works for Okapi Analytics.\n\n"
    b"Marta Wisniewska of Amberline University visited Brightwater Labs Ltd. in Porto.\n\n"
    # Near misses of known entities that are other entities: they must stay apart.
    b"Hanna Brandt works for Okapi Analytics Group.\n"
)


def entities(pipeline: Pipeline) -> list[tuple[str, str, list[str]]]:
    graph: Any = pipeline.ports.graph
    return [(t, n, list(a or [])) for t, n, a in graph.query("MATCH (e:Entity) RETURN e.type, e.name, e.aliases")]


def node(pipeline: Pipeline, entity_type: str, key: str) -> tuple[str, list[str]]:
    """The one node of the type whose name or an alias has the key: its name and aliases."""
    found = [
        (name, aliases)
        for type_, name, aliases in entities(pipeline)
        if type_ == entity_type and key in {match_key(n, RULES[type_]) for n in (name, *aliases)}
    ]
    assert len(found) == 1, found
    return found[0]


def test_known_entities_under_other_spellings_join_their_nodes(pipeline: Pipeline) -> None:
    # GIVEN the samples ingested, then ingested again (skipped: unchanged)
    files = sample_files()
    for name, content in files.items():
        assert pipeline.job(pipeline.drop(name, content)).state is JobState.SUCCEEDED, name
    for name, content in files.items():
        assert pipeline.job(pipeline.drop(name, content)).state is JobState.SKIPPED, name
    before = {(t, n) for t, n, _ in entities(pipeline)}
    assert ("Organization", "Okapi Analytics Ltd") in before
    assert ("Person", "Zoë Okafor") in before

    # WHEN a new file names known entities under other spellings (case, legal form, accents, honorific)
    job = pipeline.job(pipeline.drop("news/other-spellings.txt", OTHER_SPELLINGS))
    assert job.state is JobState.SUCCEEDED

    # THEN no two entity nodes of a type share a match key: no duplicate was made
    keys = Counter((t, match_key(n, RULES[t])) for t, n, _ in entities(pipeline))
    assert [key for key, count in keys.items() if count > 1] == []
    # AND the other spellings are aliases on the canonical nodes, which keep their first names
    assert {"OKAPI ANALYTICS", "Okapi Analytics"} <= set(node(pipeline, "Organization", "okapi analytics")[1])
    assert node(pipeline, "Organization", "okapi analytics")[0] == "Okapi Analytics Ltd"
    assert "Zoe Okafor" in node(pipeline, "Person", "zoe okafor")[1]
    assert "Marta Wisniewska" in node(pipeline, "Person", "marta wisniewska")[1]
    assert "Brightwater Labs Ltd" in node(pipeline, "Organization", "brightwater labs")[1]
    # AND the near misses are entities of their own, apart from the known ones
    after = {(t, n) for t, n, _ in entities(pipeline)}
    assert {("Person", "Hanna Brandt"), ("Organization", "Okapi Analytics Group")} <= after - before
    assert node(pipeline, "Person", "hannah brandt")[0] == "Hannah Brandt"
    # AND the new file's relations landed on the canonical nodes: Zoë Okafor works for the one Okapi node
    graph: Any = pipeline.ports.graph
    employers = graph.query("MATCH (p:Person)-[:WORKS_FOR]->(o:Organization) WHERE p.name = 'Zoë Okafor' RETURN o.name")
    assert ["Okapi Analytics Ltd"] in employers


# -- the resolver against the real graph --


def document(path: str) -> DocumentRef:
    return DocumentRef(
        account="a", container="c", path=path, document_id=document_id("a", "c", path), version="v1",
        size=1, content_type="text/plain",
    )  # fmt: skip


def batch(doc: DocumentRef, mentions: list[tuple[str, str]], text: str = "", works_for: bool = False) -> BatchPayload:
    """One chunk mentioning each (type, name), as the extractor hands it over; `works_for`: the first works for
    the second."""
    chunk = Chunk(
        chunk_id=chunk_id(doc.document_id, doc.version, 0), document_id=doc.document_id, version=doc.version,
        ordinal=0, text=text or "; ".join(name for _, name in mentions), locator="line 1",
    )  # fmt: skip
    found = [
        Entity(entity_id=entity_id(t, n), type=t, name=n, chunk_ids=[chunk.chunk_id]) for t, n in mentions
    ]  # fmt: skip
    relations = []
    if works_for:
        source, target = found[0].entity_id, found[1].entity_id
        relations.append(
            Relation(relation_id=relation_id(source, "WORKS_FOR", target), source_id=source, type="WORKS_FOR",
                     target_id=target, chunk_ids=[chunk.chunk_id])
        )  # fmt: skip
    return BatchPayload(chunks=[chunk], entities=found, relations=relations)


def resolved(payload: BatchPayload, graph: FalkorDBGraphSink) -> BatchPayload:
    """What the extract stage does: resolve the batch against the graph."""
    out = resolve(Extraction(entities=payload.entities, relations=payload.relations), payload.chunks, SCHEMA, graph)
    return payload.model_copy(update={"entities": out.entities, "relations": out.relations})


def stored(graph: FalkorDBGraphSink) -> dict[str, tuple[str, list[str]]]:
    return {i: (n, sorted(a or [])) for i, n, a in graph.query("MATCH (e:Entity) RETURN e.id, e.name, e.aliases")}


def test_tomorrows_spelling_joins_todays_entity_and_a_redelivery_lands_on_the_same_ids(
    graph_sink: FalkorDBGraphSink,
) -> None:
    # GIVEN today's file, resolved and written: Okapi Analytics
    today = document("today.txt")
    graph_sink.write_batch(today, resolved(batch(today, [("Organization", "Okapi Analytics")]), graph_sink))
    okapi = entity_id("Organization", "okapi analytics")
    # WHEN tomorrow's names it with its legal form, and with a misspelling
    tomorrow = document("tomorrow.txt")
    payload = batch(tomorrow, [("Organization", "Okapi Analytics Ltd"), ("Organization", "Okapi Analytcs")])
    first = resolved(payload, graph_sink)
    graph_sink.write_batch(tomorrow, first)
    # THEN both join today's node, as aliases
    assert stored(graph_sink) == {okapi: ("Okapi Analytics", ["Okapi Analytcs", "Okapi Analytics Ltd"])}
    # AND the same batch resolved again (a redelivery, now that its first resolution is in the graph) lands on the
    # same ids and changes nothing
    again = resolved(payload, graph_sink)
    assert again == first
    graph_sink.write_batch(tomorrow, again)
    assert stored(graph_sink) == {okapi: ("Okapi Analytics", ["Okapi Analytcs", "Okapi Analytics Ltd"])}


def test_two_workers_meeting_one_new_name_at_once_make_one_node(graph_sink: FalkorDBGraphSink) -> None:
    # GIVEN two batches naming a company the graph does not hold yet, spelt two ways with the same key
    one, two = document("one.txt"), document("two.txt")
    first = batch(one, [("Organization", "Tidewater Systems Ltd")])
    second = batch(two, [("Organization", "TIDEWATER SYSTEMS")])
    # WHEN two workers resolve them at the same time (neither sees the other's write) and then both write
    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda p: resolved(p[0], graph_sink), [(first,), (second,)])
    assert graph_sink.counts().entities == 0
    graph_sink.write_batch(one, a)
    graph_sink.write_batch(two, b)
    # THEN one node holds both spellings: the id is made of the key, not of what the graph held
    assert stored(graph_sink) == {
        entity_id("Organization", "tidewater systems"): ("Tidewater Systems Ltd", ["TIDEWATER SYSTEMS"])
    }


def test_an_initial_joins_a_stored_person_only_through_a_shared_organisation(graph_sink: FalkorDBGraphSink) -> None:
    # GIVEN John Smith, stored as working for Okapi Analytics
    today = document("today.txt")
    stored_batch = batch(today, [("Person", "John Smith"), ("Organization", "Okapi Analytics")], works_for=True)
    graph_sink.write_batch(today, resolved(stored_batch, graph_sink))
    john = entity_id("Person", "john smith")
    # WHEN another file names "J. Smith" with no link to anything THEN it stays a person of its own
    other = document("other.txt")
    alone = resolved(batch(other, [("Person", "J. Smith")]), graph_sink)
    assert [e.entity_id for e in alone.entities] == [entity_id("Person", "j smith")]
    # WHEN a file names "J. Smith" working for Okapi Analytics Ltd THEN he is John Smith
    linked = resolved(
        batch(other, [("Person", "J. Smith"), ("Organization", "Okapi Analytics Ltd")], works_for=True), graph_sink
    )
    assert {e.entity_id for e in linked.entities} == {john, entity_id("Organization", "okapi analytics")}
    graph_sink.write_batch(other, linked)
    assert stored(graph_sink)[john] == ("John Smith", ["J. Smith"])


def test_an_alias_outlives_the_document_that_brought_it_while_its_entity_stays(graph_sink: FalkorDBGraphSink) -> None:
    # GIVEN Okapi Analytics written from one document, and its legal-form spelling from another
    first, second = document("first.txt"), document("second.txt")
    graph_sink.write_batch(first, resolved(batch(first, [("Organization", "Okapi Analytics")]), graph_sink))
    graph_sink.write_batch(second, resolved(batch(second, [("Organization", "Okapi Analytics Ltd")]), graph_sink))
    okapi = entity_id("Organization", "okapi analytics")
    # WHEN the second document is deleted
    graph_sink.delete_document(second.document_id)
    # THEN the entity stays (the first document mentions it) and keeps the alias: aliases carry no provenance, and a
    # spelling once seen still names the entity
    assert stored(graph_sink) == {okapi: ("Okapi Analytics", ["Okapi Analytics Ltd"])}
    # WHEN the first document goes too THEN the entity goes with its aliases, and the name is free to start anew
    graph_sink.delete_document(first.document_id)
    assert stored(graph_sink) == {}
    again = resolved(batch(second, [("Organization", "Okapi Analytics Ltd")]), graph_sink)
    graph_sink.write_batch(second, again)
    assert stored(graph_sink) == {okapi: ("Okapi Analytics Ltd", [])}


def test_a_crowded_blocking_key_never_hides_the_node_a_name_keys_to(graph_sink: FalkorDBGraphSink) -> None:
    # GIVEN John Smith stored, with more than a look-up's worth of people of lower id under each of his blocking
    # keys ("john" and "j smith"), and a "J. Smith" stored who works for Okapi Analytics
    john = entity_id("Person", "john smith")
    crowd: list[tuple[str, str]] = []
    for first, last in (("John", "Smith{}"), ("Ja{}", "Smith")):
        names = (f"{first} {last}".format(n) for n in range(10_000))
        crowd += [("Person", n) for n in names if entity_id("Person", match_key(n, RULES["Person"])) < john][:25]
    people = document("people.txt")
    graph_sink.write_batch(people, resolved(batch(people, [*crowd, ("Person", "John Smith")]), graph_sink))
    okapi = document("okapi.txt")
    graph_sink.write_batch(
        okapi,
        resolved(
            batch(okapi, [("Person", "J. Smith"), ("Organization", "Okapi Analytics")], works_for=True), graph_sink
        ),
    )
    assert len(graph_sink.entity_candidates("Person", ["john", "j smith"])) == 40  # John Smith is not among them
    # WHEN a new file names John Smith working for Okapi Analytics (which would link him to the stored J. Smith)
    later = document("later.txt")
    out = resolved(
        batch(later, [("Person", "John Smith"), ("Organization", "Okapi Analytics")], works_for=True), graph_sink
    )
    # THEN he lands on his own node, not on J. Smith's
    assert john in {e.entity_id for e in out.entities}
