"""Trace context across hops: the W3C `traceparent` each message carries, and the trace a job's tracking id names.

The tracking id of a job is the trace id of the file's trace, so a span can always rejoin that trace, even when the
message that should have carried its parent did not (one sent before telemetry was on, or a redelivered blob event).
"""

from __future__ import annotations

import hashlib

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The `traceparent` of the current span, for the messages it sends (None when there is no valid span)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), None when there is none (telemetry off and no parent)."""
    context = trace.get_current_span().get_span_context()
    return format_trace_id(context.trace_id) if context.is_valid else None


def parent_context(traceparent: str | None, tracking_id: str) -> Context:
    """The parent of a span continuing a file's trace: the message's `traceparent`, else the trace the tracking id
    names (a span with no parent span in it), else a new trace."""
    if traceparent:
        context = _propagator.extract({"traceparent": traceparent})
        if trace.get_current_span(context).get_span_context().is_valid:
            return context
    return trace_of(tracking_id)


def trace_of(tracking_id: str) -> Context:
    """A context whose remote parent sits in the trace `tracking_id` names; an empty one when it names none."""
    try:
        trace_id = int(tracking_id, 16)
    except ValueError:
        return Context()
    if len(tracking_id) != 32 or trace_id == 0:
        return Context()
    # The parent span id is made up, and deterministic, so every span rejoining the trace hangs off the same one.
    span_id = int.from_bytes(hashlib.sha256(tracking_id.encode()).digest()[:8], "big") or 1
    parent = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))
