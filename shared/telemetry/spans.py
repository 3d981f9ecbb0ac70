"""The spans of one file's trace: the blob event, ingest, one per stage message, and the sinks' writes.

blob event ─► ingest ─► process enrich ─► process extract ─┬► process graph ─► tributary.graph.write
                                                           └► process vector ─► tributary.vector.upsert
A stage span's parent is the span that sent its message (the `traceparent` it carries); the span the host itself
opened for the invocation (on Azure, with telemetryMode OpenTelemetry) is linked, not a parent, so that one file
stays one trace however many invocations carried it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind

from shared.telemetry.context import current_trace_id, parent_context, trace_of
from shared.telemetry.names import SCOPE, Attr, stage_span_name
from shared.telemetry.names import Span as SpanName

_tracer = trace.get_tracer(SCOPE)


def _links_to_current(trace_id: str | None) -> list[Link]:
    """A link to the current span (the host's invocation) when it is in another trace than the one continued."""
    current = trace.get_current_span().get_span_context()
    if not current.is_valid or current_trace_id() == trace_id:
        return []
    return [Link(current)]


@contextmanager
def blob_event_span(container: str, path: str) -> Iterator[Span]:
    """One BlobCreated delivery: a child of the invocation's span, or the root of a new trace."""
    attributes = {Attr.MESSAGING_DESTINATION.value: container, "tributary.blob.path": path}
    with _tracer.start_as_current_span(SpanName.BLOB_EVENT, kind=SpanKind.CONSUMER, attributes=attributes) as span:
        yield span


@contextmanager
def ingest_span(job_id: str, document_id: str, tracking_id: str, *, rejoin: bool = True) -> Iterator[Span]:
    """Parse and publish of a job, in the job's trace: under the blob event that created the job, or (a redelivered
    event) rejoining the trace the job's tracking id names, linked to this delivery's span. `rejoin` False: the
    tracking id is the client's own (blob metadata), not a trace id, so the span stays under the blob event."""
    if not rejoin or current_trace_id() == tracking_id:
        parent, links = None, []
    else:
        parent, links = trace_of(tracking_id), _links_to_current(tracking_id)
    attributes = {
        Attr.JOB_ID.value: job_id,
        Attr.DOCUMENT_ID.value: document_id,
        Attr.TRACKING_ID.value: tracking_id,
    }
    with _tracer.start_as_current_span(SpanName.INGEST, context=parent, links=links, attributes=attributes) as span:
        yield span


@contextmanager
def stage_span(
    *, stage: str, queue: str, job_id: str, tracking_id: str, traceparent: str | None, batch: int, message_id: str
) -> Iterator[Span]:
    """One stage message, a child of the span that sent it."""
    attributes = {
        Attr.STAGE.value: stage,
        Attr.BATCH.value: batch,
        Attr.JOB_ID.value: job_id,
        Attr.TRACKING_ID.value: tracking_id,
        Attr.MESSAGING_SYSTEM.value: "servicebus",
        Attr.MESSAGING_OPERATION.value: "process",
        Attr.MESSAGING_DESTINATION.value: queue,
        Attr.MESSAGING_MESSAGE_ID.value: message_id,
    }
    with _tracer.start_as_current_span(
        stage_span_name(queue),
        context=parent_context(traceparent, tracking_id),
        kind=SpanKind.CONSUMER,
        links=_links_to_current(tracking_id),
        attributes=attributes,
    ) as span:
        yield span


@contextmanager
def sink_span(name: SpanName, system: str, batch_size: int) -> Iterator[Span]:
    """A sink's write of one batch: a database client span under the stage's."""
    attributes = {
        Attr.DB_SYSTEM.value: system,
        Attr.DB_OPERATION.value: "write_batch" if name is SpanName.GRAPH_WRITE else "upsert",
        Attr.DB_BATCH_SIZE.value: batch_size,
    }
    with _tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes) as span:
        yield span
