"""A changed document replaces its old version only once the new one is complete (DESIGN.md §3), through the
app's own triggers on the local host: the clean-up stage removes the replaced version from the graph and the index,
and search never serves a version that is not the committed one."""

from __future__ import annotations

import pytest

from shared.api_search import search
from shared.domain import Chunk, JobState, Stage
from shared.domain.ids import entity_id
from tests.support.host_pipeline import HostPipeline

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

FIRST = (
    b"Ada Lovelace works at Analytical Engines Ltd in London.\n\n"
    b"Charles Babbage founded Difference Works in Cambridge.\n"
)
SECOND = (
    b"Ada Lovelace works at Analytical Engines Ltd in London.\n\nGrace Hopper joined Compiler Systems in Arlington.\n"
)


def entity_names(pipeline: HostPipeline) -> set[str]:
    return {row[0] for row in pipeline.ports.graph.query("MATCH (e:Entity) RETURN e.name")}  # type: ignore[attr-defined]


def test_a_changed_document_replaces_its_old_version_once_the_new_one_is_complete(host_pipeline: HostPipeline) -> None:
    # GIVEN a document ingested, then changed and ingested again
    first = host_pipeline.drop("notes/people.txt", FIRST)
    assert first.state is JobState.SUCCEEDED
    assert "Charles Babbage" in entity_names(host_pipeline)
    second = host_pipeline.drop("notes/people.txt", SECOND)

    # THEN the new version is committed and its clean-up ran once
    assert second.state is JobState.SUCCEEDED
    assert second.base_version == first.version
    assert host_pipeline.ports.jobs.committed_version(second.document_id) == second.version
    assert host_pipeline.job(second).counters(Stage.CLEANUP).done == 1
    # AND no chunk or vector of the old version remains, and an entity only the old text named is gone
    graph, vectors = host_pipeline.ports.graph, host_pipeline.ports.vectors
    assert graph.document_versions(second.document_id) == {second.version: second.totals.chunks}
    assert vectors.document_versions(second.document_id) == {second.version: second.totals.chunks}
    names = entity_names(host_pipeline)
    assert {"Ada Lovelace", "Grace Hopper"} <= names
    assert "Charles Babbage" not in names
    assert entity_id("Person", "Charles Babbage") not in {
        row[0]
        for row in graph.query("MATCH (e:Entity) RETURN e.id")  # type: ignore[attr-defined]
    }

    # WHEN the old content is uploaded again THEN it becomes the committed version and the newer one goes
    third = host_pipeline.drop("notes/people.txt", FIRST)
    assert third.state is JobState.SUCCEEDED
    assert graph.document_versions(third.document_id) == {first.version: third.totals.chunks}
    assert "Charles Babbage" in entity_names(host_pipeline)


def test_search_serves_only_the_committed_version(host_pipeline: HostPipeline) -> None:
    # GIVEN a committed document, and a chunk of a newer version already in the index but not committed (what a
    # reader meets while a re-ingest is under way), whose text is exactly the query
    committed = host_pipeline.drop("notes/people.txt", FIRST)
    ports = host_pipeline.ports
    query = "Who founded Difference Works: Charles Babbage, in Cambridge?"
    pending = Chunk(
        chunk_id="0" * 32,
        document_id=committed.document_id,
        version="f" * 64,
        ordinal=0,
        text=query,
        locator="line 1",
        embedding=ports.embedder.embed([query])[0],
    )
    ports.vectors.upsert([pending])
    [nearest] = ports.vectors.search(pending.embedding or [], k=1)
    assert nearest.chunk_id == pending.chunk_id  # the raw index would answer with it

    # WHEN a user searches THEN only the committed version answers
    answer = search(ports, {"q": query, "k": "3"})
    assert answer.status == 200
    hits = answer.body["hits"]
    assert hits
    assert pending.chunk_id not in {hit["chunk_id"] for hit in hits}
    assert "Charles Babbage" in hits[0]["text"]  # the committed version's chunk about him
