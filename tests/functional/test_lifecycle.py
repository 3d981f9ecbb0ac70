"""A changed document replaces its old version only once the new one is complete (DESIGN.md §3), through the
app's own triggers on the local host: the clean-up stage removes the replaced version from the graph and the index,
and search never serves a version that is not the committed one."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from shared.api_search import search
from shared.config import STORAGE_CONNECTION
from shared.domain import BlobEvent, Chunk, Job, JobKind, JobState, Stage
from shared.domain.ids import entity_id, version_generation
from shared.pipeline.delete import request_delete
from shared.pipeline.ingest import ingest_blob
from tests.support.host_pipeline import HostPipeline, HostPipelineFactory

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


# --- delete ---------------------------------------------------------------------------------------------------

OTHER = b"Ada Lovelace met Mary Somerville in London.\n"


def delete_blob(pipeline: HostPipeline, name: str) -> Job:
    """Delete the blob from the incoming container and let the host run: the document's newest job (the delete)."""
    pipeline.host.blob_store(STORAGE_CONNECTION).delete(pipeline.incoming, name)
    pipeline.host.run_until_idle()
    return pipeline.latest_job(name)


def test_deleting_a_blob_removes_its_document_as_if_never_ingested(make_host_pipeline: HostPipelineFactory) -> None:
    # GIVEN what a clean run of one document leaves
    clean = make_host_pipeline()
    clean.drop("notes/other.txt", OTHER)
    expected = clean.store_counts()
    expected_names = entity_names(clean)

    # AND a pipeline holding that document and another, which shares an entity (Ada Lovelace) with it
    pipeline = make_host_pipeline()
    jobs = pipeline.drop_all({"notes/people.txt": FIRST, "notes/other.txt": OTHER})
    assert {job.state for job in jobs.values()} == {JobState.SUCCEEDED}
    assert "Charles Babbage" in entity_names(pipeline)

    # WHEN the other blob is deleted from the incoming container (BlobDeleted → the delete stage)
    deletion = delete_blob(pipeline, "notes/people.txt")

    # THEN its delete job succeeded and nothing of it is served or stored any more
    assert (deletion.kind, deletion.state) == (JobKind.DELETE, JobState.SUCCEEDED)
    assert deletion.base_version == jobs["notes/people.txt"].version
    people = deletion.document_id
    assert pipeline.ports.jobs.committed_version(people) is None
    assert pipeline.ports.graph.document_versions(people) == {}
    assert pipeline.ports.vectors.document_versions(people) == {}
    # AND the graph and the index hold exactly what the clean run of the other document holds: Ada stays
    assert pipeline.store_counts() == expected
    assert entity_names(pipeline) == expected_names
    assert "Charles Babbage" not in expected_names
    answer = search(pipeline.ports, {"q": "Charles Babbage founded Difference Works", "k": "10"})
    assert people not in {hit["document_id"] for hit in answer.body["hits"]}

    # WHEN the same file is uploaded again THEN it is processed anew, in the document's next generation
    again = pipeline.drop("notes/people.txt", FIRST)
    assert (again.state, again.generation, again.base_version) == (JobState.SUCCEEDED, 1, None)
    assert again.version != jobs["notes/people.txt"].version
    assert version_generation(again.version) == 1
    assert pipeline.ports.graph.document_versions(people) == {again.version: again.totals.chunks}
    assert "Charles Babbage" in entity_names(pipeline)

    # WHEN it is deleted through the HTTP API by document id THEN the same
    response = call_http(pipeline, "document_delete", "DELETE", f"/api/documents/{people}", document_id=people)
    assert response.status_code == 202
    pipeline.host.run_until_idle()
    assert pipeline.job(Job.model_validate(json.loads(response.get_body())["job"])).state is JobState.SUCCEEDED
    assert pipeline.store_counts() == expected

    # AND deleting a document nobody knows is a no-op, not an error
    unknown = call_http(pipeline, "document_delete", "DELETE", "/api/documents/0000", document_id="0000")
    assert unknown.status_code == 200
    assert json.loads(unknown.get_body())["job"] is None


def test_a_job_running_when_its_document_is_deleted_never_brings_it_back(host_pipeline: HostPipeline) -> None:
    # GIVEN a file parsed and its batches on the queues, not yet processed (the blob already gone again)
    ports = host_pipeline.ports
    store = host_pipeline.host.blob_store(STORAGE_CONNECTION)
    store.upload(host_pipeline.incoming, "notes/people.txt", FIRST)
    outcome = ingest_blob(BlobEvent(event_id="e1", container=host_pipeline.incoming, path="notes/people.txt"), ports)
    assert outcome is not None
    assert outcome.state is JobState.PROCESSING
    store.delete(host_pipeline.incoming, "notes/people.txt")

    # WHEN the document is deleted while its job runs, and everything queued then runs
    deletion = request_delete(outcome.document_id, ports)
    assert deletion is not None
    host_pipeline.host.run_until_idle()

    # THEN the job finished without committing, cleaned up after itself, and nothing of the document remains
    job = ports.jobs.get_job(outcome.job_id)
    assert job is not None
    assert job.state is JobState.SUCCEEDED
    assert ports.jobs.committed_version(outcome.document_id) is None
    assert job.counters(Stage.CLEANUP).done == 1
    assert ports.graph.document_versions(outcome.document_id) == {}
    assert ports.vectors.document_versions(outcome.document_id) == {}
    assert host_pipeline.job(deletion).state is JobState.SUCCEEDED


def call_http(pipeline: HostPipeline, function: str, method: str, url: str, **route_params: str) -> func.HttpResponse:
    """Call an HTTP function of the app the host loaded, as the worker would."""
    request = func.HttpRequest(method, url, body=b"", route_params=route_params)
    return pipeline.host.app.function(function).user_function(request)
