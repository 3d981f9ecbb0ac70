"""GET /api/trace/{tracking_id} through the local host (function_app.py on Azurite, the durable broker, FalkorDB):
a blob uploaded with `tracking_id` metadata is found by that id; a hostile one is refused with an issue; and
`tributary trace` prints the same events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.app_ports import app_ports
from shared.cli import app
from shared.config import STORAGE_CONNECTION
from shared.devhost.host import DevHost
from shared.domain import Job, JobState, Reason, Stage
from shared.domain.ids import document_id, message_id
from shared.telemetry import flush_telemetry, local_directory
from shared.telemetry.local_files import SPANS_FILE
from shared.telemetry.local_traces import read_trace
from tests.support.devhost import HostFactory, call_api
from tests.support.pipeline import sample_files

pytestmark = pytest.mark.timeout(180)

STAFF = sample_files()["samples/staff.csv"]
PIPELINE = ["parse", "enrich", "extract", "graph", "vector"]


def upload_with_metadata(host: DevHost, name: str, content: bytes, metadata: dict[str, str]) -> None:
    """An upload as a client's own tool does it: the storage SDK, with user metadata."""
    store = host.blob_store(STORAGE_CONNECTION)
    blob = store.service.get_blob_client(host.settings.incoming_container, name)
    blob.upload_blob(content, overwrite=True, metadata=metadata)


def job_of(host: DevHost, name: str) -> Job:
    wanted = document_id(host.blob_store(STORAGE_CONNECTION).account, host.settings.incoming_container, name)
    [job] = [job for job in app_ports().jobs.list_jobs(limit=1000) if job.document_id == wanted]
    return job


def test_a_blob_with_tracking_id_metadata_is_traced_by_that_id(open_host: HostFactory) -> None:
    # GIVEN a file uploaded to Azurite with the client's tracking id (the key in another case), run by the host
    host = open_host(serve_http=True)
    upload_with_metadata(host, "staff.csv", STAFF, {"Tracking_Id": "order-42"})
    host.run_until_idle()
    job = job_of(host, "staff.csv")
    assert (job.state, job.tracking_id) == (JobState.SUCCEEDED, "order-42")

    # WHEN the trace is asked for by the client's id, and by the job id
    status, by_tracking_id = call_api(host, "GET", "/api/trace/order-42")
    status_by_job, by_job_id = call_api(host, "GET", f"/api/trace/{job.job_id}")

    # THEN both answer the job with every pipeline stage of every batch, each queued one with its message id
    assert (status, status_by_job) == (200, 200)
    assert by_tracking_id == by_job_id
    assert by_tracking_id["tracking_id"] == "order-42"
    [shown] = by_tracking_id["jobs"]
    assert (shown["job_id"], shown["state"]) == (job.job_id, "succeeded")
    batches = job.batches_expected or 0
    assert batches >= 1
    pairs = sorted((event["stage"], event["batch"]) for event in shown["events"])
    assert pairs == sorted((stage, batch) for stage in PIPELINE for batch in range(batches))
    for event in shown["events"]:
        expected = None if event["stage"] == "parse" else message_id(job.job_id, Stage(event["stage"]), event["batch"])
        assert event["message_id"] == expected
        assert event["duration_ms"] is not None
    assert [total["stage"] for total in shown["stages"]] == PIPELINE

    # AND an id nothing has is a 404 problem document of its reason code
    missing, problem = call_api(host, "GET", "/api/trace/order-43")
    assert (missing, problem["reason_code"]) == (404, Reason.TRACE_NOT_FOUND)


def test_a_hostile_tracking_id_is_refused_with_an_issue_and_the_trace_id_kept(open_host: HostFactory) -> None:
    # GIVEN a file whose metadata names a tracking id with characters outside letters, digits and -_.:
    host = open_host(serve_http=True)
    upload_with_metadata(host, "staff.csv", STAFF, {"tracking_id": "x'); DROP TABLE jobs;--"})

    # WHEN the host runs it
    host.run_until_idle()

    # THEN the file is processed all the same, under its W3C trace id, with the refusal recorded as an issue
    job = job_of(host, "staff.csv")
    assert job.state is JobState.SUCCEEDED
    assert len(job.tracking_id) == 32
    assert int(job.tracking_id, 16) >= 0
    issues = app_ports().jobs.list_issues(job.job_id)
    assert [(i.locator, i.reason_code) for i in issues] == [("metadata", Reason.INGEST_TRACKING_ID_INVALID)]
    status, answer = call_api(host, "GET", f"/api/trace/{job.tracking_id}")
    assert status == 200
    assert [j["job_id"] for j in answer["jobs"]] == [job.job_id]


def test_tributary_trace_prints_the_job_stores_events_and_the_apis_json(open_host: HostFactory) -> None:
    # GIVEN a file run through the host under a client tracking id
    host = open_host()
    upload_with_metadata(host, "staff.csv", STAFF, {"tracking_id": "order-7"})
    host.run_until_idle()
    job = job_of(host, "staff.csv")
    data_dir = str(host.settings.data_dir)

    # WHEN `tributary trace` asks for the stage events, as a table and as JSON
    table = CliRunner().invoke(app, ["trace", "order-7", "--events", "--data-dir", data_dir])
    as_json = CliRunner().invoke(app, ["trace", job.job_id[:12], "-o", "json", "--data-dir", data_dir])

    # THEN the table lists each stage with the job's message ids, and the JSON is the API's answer
    assert table.exit_code == 0, table.output
    assert job.job_id in table.output
    for stage in PIPELINE:
        assert stage in table.output
    assert message_id(job.job_id, Stage.GRAPH, 0) in table.output
    assert as_json.exit_code == 0, as_json.output
    answer = json.loads(as_json.stdout)
    assert answer["tracking_id"] == "order-7"
    assert [j["job_id"] for j in answer["jobs"]] == [job.job_id]

    # AND an unknown id exits 2 with the problem document as its JSON
    unknown = CliRunner().invoke(app, ["trace", "no-such-id", "-o", "json", "--data-dir", data_dir])
    assert unknown.exit_code == 2
    assert json.loads(unknown.stdout)["reason_code"] == Reason.TRACE_NOT_FOUND


def test_a_client_tracking_id_leaves_the_spans_in_the_blob_events_trace(open_host: HostFactory) -> None:
    # GIVEN a file uploaded with a client tracking id, run by the host with the local exporter on
    host = open_host()
    upload_with_metadata(host, "staff.csv", STAFF, {"tracking_id": "order-9"})
    host.run_until_idle()
    flush_telemetry()
    directory = local_directory()
    assert directory is not None

    # WHEN the trace of the span that ingested it is read back
    ingest = [span for span in _spans_named(directory, "tributary.ingest") if span["tracking_id"] == "order-9"]
    assert len(ingest) == 1, ingest
    roots = read_trace(directory, ingest[0]["trace_id"])

    # THEN the W3C trace still holds the whole file: the blob event, the ingest under it and every stage below,
    # each span carrying the client's id as its tracking id
    assert [root.name for root in roots] == ["tributary.blob_event"]
    names = {node.name for node in roots[0].walk()}
    assert {"tributary.ingest", "process enrich", "process extract", "process graph"} <= names
    assert {node.attributes.get("tributary.tracking_id") for node in roots[0].walk()} >= {"order-9"}


def _spans_named(directory: Path, name: str) -> list[dict[str, str]]:
    """(trace id, tracking id) of each recorded span of that name."""
    found = []
    for line in (directory / SPANS_FILE).read_text(encoding="utf-8").splitlines():
        span = json.loads(line)
        if span["name"] == name:
            found.append(
                {
                    "trace_id": span["context"]["trace_id"].removeprefix("0x"),
                    "tracking_id": (span.get("attributes") or {}).get("tributary.tracking_id", ""),
                }
            )
    return found
