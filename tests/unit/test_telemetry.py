"""Telemetry set-up and trace context (shared/telemetry): which exporter a process gets, and how a span rejoins the
trace of its file whatever carried it."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.trace import format_trace_id

from shared.telemetry import blob_event_span, configure_telemetry, flush_telemetry, ingest_span, local_directory
from shared.telemetry.context import current_trace_id, parent_context, trace_of
from shared.telemetry.local_traces import read_trace
from shared.telemetry.names import Metric, declared_names
from shared.telemetry.setup import choose_mode

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize(
    ("environ", "telemetry", "on_azure", "mode"),
    [
        # the worker configured the distro itself: configuring again would export everything twice
        (
            {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true", "APPLICATIONINSIGHTS_CONNECTION_STRING": "x"},
            "auto",
            True,
            "worker",
        ),
        ({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}, "off", False, "off"),
        ({"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}, "auto", False, "azure_monitor"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "auto", False, "otlp"),
        ({}, "auto", False, "local"),
        ({}, "auto", True, "off"),  # never write files on an Azure instance
        ({"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "false"}, "auto", False, "local"),
    ],
)
def test_the_mode_follows_the_environment(environ: dict[str, str], telemetry: str, on_azure: bool, mode: str) -> None:
    assert choose_mode(environ, telemetry=telemetry, on_azure=on_azure) == mode


def test_a_tracking_id_names_its_trace_and_anything_else_starts_a_new_one() -> None:
    from opentelemetry import trace

    rejoined = trace.get_current_span(trace_of(TRACE)).get_span_context()
    assert format_trace_id(rejoined.trace_id) == TRACE
    assert rejoined.is_remote
    # the same made-up parent every time, so spans rejoining the trace hang off one node
    assert trace.get_current_span(trace_of(TRACE)).get_span_context().span_id == rejoined.span_id
    for not_a_trace in ("job-7", "0" * 32, "abc"):
        assert not trace.get_current_span(trace_of(not_a_trace)).get_span_context().is_valid
    # a message's own traceparent wins over the tracking id
    parent = f"00-{'1' * 32}-{'2' * 16}-01"
    context = trace.get_current_span(parent_context(parent, TRACE)).get_span_context()
    assert format_trace_id(context.trace_id) == "1" * 32
    # a malformed one falls back to the tracking id
    fallback = trace.get_current_span(parent_context("00-zz-01", TRACE)).get_span_context()
    assert format_trace_id(fallback.trace_id) == TRACE


def test_a_redelivered_blob_event_rejoins_the_trace_of_the_job_it_finds(tmp_path: Path) -> None:
    # GIVEN local telemetry, and a job created by an earlier delivery (so in another trace than this one's)
    configure_telemetry(tmp_path)
    if local_directory() is None:
        pytest.skip("this process's telemetry was set up with another exporter first; the local files are not written")

    # WHEN this delivery's ingest runs for that job
    with blob_event_span("incoming", "again.txt"):
        delivery_trace = current_trace_id()
        with ingest_span("job-1", "doc-1", TRACE):
            inner_trace = current_trace_id()
    flush_telemetry()

    # THEN the ingest span is in the job's trace, linked to this delivery's span, which stays in its own trace
    assert inner_trace == TRACE
    assert delivery_trace != TRACE
    directory = local_directory()
    assert directory is not None
    (ingest,) = [node for node in read_trace(directory, TRACE) if node.name == "tributary.ingest"]
    assert ingest.attributes["tributary.job.id"] == "job-1"
    assert delivery_trace is not None
    assert [root.name for root in read_trace(directory, delivery_trace)] == ["tributary.blob_event"]


def test_every_instrument_has_a_unique_declared_name() -> None:
    names = [instrument.name for instrument in Metric.all()]
    assert len(names) == len(set(names)) >= 8
    assert set(names) <= declared_names()


def test_an_extract_batch_record_is_counted_by_token_type_and_chunk_source(tmp_path: Path) -> None:
    import json

    from shared.domain import BatchExtraction
    from shared.telemetry import metrics
    from shared.telemetry.local_files import METRICS_FILE

    # GIVEN local telemetry
    configure_telemetry(tmp_path)
    directory = local_directory()
    if directory is None:
        pytest.skip("this process's telemetry was set up with another exporter first; the local files are not written")

    # WHEN an LLM batch record (some chunks by the model, some left to the fallback) is counted
    record = BatchExtraction(
        batch=0,
        extractor="llm:chat+rules",
        chunks=5,
        model_chunks=3,
        fallback_chunks=2,
        requests=1,
        input_tokens=1200,
        output_tokens=300,
        fallback_reason="llm.budget_exhausted",
    )
    metrics.extraction_recorded(record)
    flush_telemetry()

    # THEN the metrics hold its tokens by type and its chunks by source, with the fallback's reason
    last = json.loads((directory / METRICS_FILE).read_text().splitlines()[-1])
    points = [
        (metric["name"], point["attributes"], point.get("value", point.get("sum")))
        for resource in last["resource_metrics"]
        for scope in resource["scope_metrics"]
        for metric in scope["metrics"]
        for point in metric["data"]["data_points"]
    ]
    assert ("tributary.llm.tokens", {"gen_ai.token.type": "output"}) in [(name, attrs) for name, attrs, _ in points]
    fallback = [
        value
        for name, attrs, value in points
        if name == "tributary.llm.chunks" and attrs.get("tributary.llm.fallback_reason") == "llm.budget_exhausted"
    ]
    assert fallback
    assert fallback[0] >= 2
