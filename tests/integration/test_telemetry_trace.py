"""One file through the local host is one trace: a span per stage, each a child of the span that sent its message,
the sinks' writes children of their stage, all under the job's tracking id (shared/telemetry)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.app_ports import app_ports
from shared.cli import app
from shared.config import STORAGE_CONNECTION
from shared.devhost.host import DevHost
from shared.domain import JobState
from shared.telemetry import flush_telemetry, local_directory
from shared.telemetry.local_files import METRICS_FILE, SPANS_FILE
from shared.telemetry.local_traces import SpanNode, read_trace
from tests.support.devhost import HostFactory

pytestmark = pytest.mark.timeout(180)

# Enough sentences for several chunks, so that a small batch size makes several batches.
TEXT = "\n\n".join(f"Paragraph {n}. Ada Lovelace met Charles Babbage in London in 1833." * 8 for n in range(12))


def _run_one_file(host: DevHost, name: str) -> tuple[str, Path]:
    store = host.blob_store(STORAGE_CONNECTION)
    store.upload(host.settings.incoming_container, name, TEXT.encode())
    host.run_until_idle()
    flush_telemetry()
    jobs = [job for job in app_ports().jobs.list_jobs(limit=100) if job.path.endswith(name)]
    assert len(jobs) == 1
    assert jobs[0].state is JobState.SUCCEEDED
    directory = local_directory()
    assert directory is not None
    return jobs[0].tracking_id, directory


def _shape(node: SpanNode) -> tuple[str, tuple]:
    """The tree's shape by span name, children sorted (batches run in any order)."""
    return node.name, tuple(sorted((_shape(child) for child in node.children), key=repr))


def test_one_file_is_one_trace_with_a_span_per_stage_and_the_sinks_under_their_stage(
    open_host: HostFactory, host_settings: dict[str, str]
) -> None:
    # GIVEN the local host with two-chunk batches, WHEN one file runs through every stage
    host_settings["TRIBUTARY_BATCH_MAX_CHUNKS"] = "2"
    host = open_host()
    tracking_id, directory = _run_one_file(host, "trace-me.txt")
    job = next(job for job in app_ports().jobs.list_jobs(limit=100) if job.tracking_id == tracking_id)

    # THEN the job's tracking id names a trace with one root, the blob event, and the stages chained beneath it
    roots = read_trace(directory, tracking_id)
    assert [root.name for root in roots] == ["tributary.blob_event"]
    (ingest,) = roots[0].children
    assert ingest.name == "tributary.ingest"
    batches = job.batches_expected or 0
    assert batches >= 3
    sink = ("process graph", (("tributary.graph.write", ()),)), ("process vector", (("tributary.vector.upsert", ()),))
    one_batch = ("process enrich", (("process extract", tuple(sorted(sink, key=repr))),))
    assert _shape(ingest) == ("tributary.ingest", tuple([one_batch] * batches))
    # and every stage span names the job and says it is done; the sinks' spans name their database
    spans = list(roots[0].walk())
    stage_spans = [span for span in spans if span.name.startswith("process ")]
    assert len(stage_spans) == 4 * batches
    assert {span.attributes["tributary.job.id"] for span in stage_spans} == {job.job_id}
    assert {span.attributes["tributary.outcome"] for span in stage_spans} == {"done"}
    assert {
        span.attributes["db.system.name"]
        for span in spans
        if span.name.startswith("tributary.") and "db.system.name" in span.attributes
    } == {"falkordb", "lancedb"}
    # and no span of this job was left outside the trace
    recorded = [json.loads(line) for line in (directory / SPANS_FILE).read_text().splitlines()]
    of_job = [span for span in recorded if (span.get("attributes") or {}).get("tributary.job.id") == job.job_id]
    assert {span["context"]["trace_id"].removeprefix("0x") for span in of_job} == {tracking_id}


def test_metrics_count_the_file_its_chunks_and_each_stage_message(open_host: HostFactory) -> None:
    # GIVEN the local host, WHEN one file runs through
    host = open_host()
    _, directory = _run_one_file(host, "count-me.txt")

    # THEN the metrics file holds the file's end (succeeded) and the chunks it published
    # (cumulative since the process started: the last export holds every point, the other files' too)
    last = json.loads((directory / METRICS_FILE).read_text().splitlines()[-1])
    points: dict[str, float] = {}
    for resource in last["resource_metrics"]:
        for scope in resource["scope_metrics"]:
            for metric in scope["metrics"]:
                for point in metric["data"]["data_points"]:
                    state = point["attributes"].get("tributary.job.state")
                    key = metric["name"] + (f"[{state}]" if state else "")
                    points[key] = points.get(key, 0) + point.get("value", point.get("count", 0))
    job = next(job for job in app_ports().jobs.list_jobs(limit=100) if job.path.endswith("count-me.txt"))
    assert points.get("tributary.files[succeeded]", 0) >= 1
    assert points.get("tributary.chunks", 0) >= job.totals.chunks
    # one stage duration per stage message: four per batch
    assert points.get("messaging.process.duration", 0) >= 4 * (job.batches_expected or 0)


def test_tributary_trace_prints_the_tree_of_a_job(open_host: HostFactory) -> None:
    # GIVEN a file run through the local host
    host = open_host()
    tracking_id, _ = _run_one_file(host, "print-me.txt")
    job = next(job for job in app_ports().jobs.list_jobs(limit=100) if job.tracking_id == tracking_id)

    # WHEN `tributary trace` is given the job id's first characters
    result = CliRunner().invoke(app, ["trace", job.job_id[:12], "--data-dir", str(host.settings.data_dir)])

    # THEN it prints the trace with every stage and a duration on each line
    assert result.exit_code == 0, result.output
    for name in (
        "tributary.blob_event",
        "tributary.ingest",
        "process enrich",
        "process extract",
        "process graph",
        "tributary.vector.upsert",
    ):
        assert name in result.output
    assert tracking_id in result.output
