"""Telemetry: OpenTelemetry set-up, trace context through messages, the spans and metrics the pipeline emits.

Names live in `names`; everything the pipeline calls is re-exported here."""

from shared.telemetry import metrics
from shared.telemetry.context import current_trace_id, current_traceparent
from shared.telemetry.names import Span
from shared.telemetry.setup import configure_telemetry, flush_telemetry, local_directory
from shared.telemetry.spans import blob_event_span, ingest_span, sink_span, stage_span

__all__ = [
    "Span",
    "blob_event_span",
    "configure_telemetry",
    "current_trace_id",
    "current_traceparent",
    "flush_telemetry",
    "ingest_span",
    "local_directory",
    "metrics",
    "sink_span",
    "stage_span",
]
