"""The instruments of shared.telemetry.names.Metric, and one function per thing counted.

Instruments come from the API's global meter, which forwards to whichever provider `configure_telemetry` installs
(or the worker's distro, on Azure); until then, and when telemetry is off, they cost a no-op call.
"""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.metrics import Counter, Histogram

from shared.domain import BatchExtraction
from shared.telemetry.names import SCOPE, Attr, Instrument, Metric

_meter = metrics.get_meter(SCOPE)


def _counter(instrument: Instrument) -> Counter:
    return _meter.create_counter(instrument.name, unit=instrument.unit, description=instrument.description)


def _histogram(instrument: Instrument) -> Histogram:
    return _meter.create_histogram(instrument.name, unit=instrument.unit, description=instrument.description)


_files = _counter(Metric.FILES)
_bytes = _counter(Metric.BYTES)
_chunks = _counter(Metric.CHUNKS)
_entities = _counter(Metric.ENTITIES)
_relations = _counter(Metric.RELATIONS)
_dead_letters = _counter(Metric.DEAD_LETTERS)
_llm_tokens = _counter(Metric.LLM_TOKENS)
_llm_requests = _counter(Metric.LLM_REQUESTS)
_llm_chunks = _counter(Metric.LLM_CHUNKS)
_stage_duration = _histogram(Metric.STAGE_DURATION)
_queue_age = _histogram(Metric.QUEUE_AGE)
_notifications = _counter(Metric.NOTIFICATIONS)


def job_ended(kind: str, state: str, size: int, reason_code: str | None = None) -> None:
    """A job reached its terminal state (counted by the one call that moved it there)."""
    attributes = {Attr.JOB_KIND.value: kind, Attr.JOB_STATE.value: state, Attr.REASON_CODE.value: reason_code or ""}
    _files.add(1, attributes)
    _bytes.add(size, attributes)


def chunks_published(count: int) -> None:
    _chunks.add(count)


def graph_written(entities: int, relations: int) -> None:
    _entities.add(entities)
    _relations.add(relations)


def dead_lettered(stage: str, reason_code: str) -> None:
    _dead_letters.add(1, {Attr.STAGE.value: stage, Attr.REASON_CODE.value: reason_code})


def stage_processed(stage: str, queue: str, seconds: float, outcome: str, error_type: str | None = None) -> None:
    attributes = {
        Attr.STAGE.value: stage,
        Attr.MESSAGING_DESTINATION.value: queue,
        Attr.MESSAGING_SYSTEM.value: "servicebus",
        Attr.OUTCOME.value: outcome,
    }
    if error_type:
        attributes[Attr.ERROR_TYPE.value] = error_type
    _stage_duration.record(seconds, attributes)


def message_age(stage: str, seconds: float) -> None:
    _queue_age.record(max(seconds, 0.0), {Attr.STAGE.value: stage})


def extraction_recorded(record: BatchExtraction) -> None:
    """An extract batch's record, counted when the job store first took it (a redelivery counts nothing)."""
    if record.requests:
        _llm_requests.add(record.requests)
    if record.input_tokens:
        _llm_tokens.add(record.input_tokens, {Attr.GEN_AI_TOKEN_TYPE.value: "input"})
    if record.output_tokens:
        _llm_tokens.add(record.output_tokens, {Attr.GEN_AI_TOKEN_TYPE.value: "output"})
    for source, count in (("model", record.model_chunks), ("cache", record.cached_chunks)):
        if count:
            _llm_chunks.add(count, {Attr.CHUNK_SOURCE.value: source})
    if record.fallback_chunks:  # only the LLM extractor falls back; the offline ones record none
        reason = {Attr.CHUNK_SOURCE.value: "fallback", Attr.FALLBACK_REASON.value: record.fallback_reason or ""}
        _llm_chunks.add(record.fallback_chunks, reason)


def notification_sent(event_type: str, outcome: str) -> None:
    """A completion event delivered, or dead-lettered after its retries."""
    _notifications.add(1, {Attr.CLOUDEVENTS_TYPE.value: event_type, Attr.OUTCOME.value: outcome})
