"""Every span, metric and attribute name the code emits, declared once.

The workbook and alert rules in dashboards/ and infra/ query these names; a test checks each name they use against
this module, so a rename here that the queries do not follow fails the build. OpenTelemetry semantic conventions are
used where one exists (messaging.*, gen_ai.*, db.*, error.type); the rest is under `tributary.`.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

SCOPE = "tributary"  # the instrumentation scope of every span and instrument


class Span(StrEnum):
    """Span names. A stage span is named `process <queue>` as messaging spans are; its stage is an attribute."""

    BLOB_EVENT = "tributary.blob_event"  # one BlobCreated delivery: validation, hash, the job record
    INGEST = "tributary.ingest"  # parse and publish, in the job's trace (the trace of the file)
    STAGE = "process"  # + " <queue>": one stage message (enrich, extract, graph, vector, cleanup, delete)
    CHAT = "chat"  # + " <deployment>": one chat model request (a GenAI client span)
    GRAPH_WRITE = "tributary.graph.write"  # the graph sink's write of one batch (a db client span)
    VECTOR_WRITE = "tributary.vector.upsert"  # the vector sink's upsert of one batch (a db client span)


class Attr(StrEnum):
    """Attribute keys (on spans and metric points)."""

    TRACKING_ID = "tributary.tracking_id"
    JOB_ID = "tributary.job.id"
    JOB_KIND = "tributary.job.kind"
    JOB_STATE = "tributary.job.state"
    DOCUMENT_ID = "tributary.document.id"
    CONTENT_TYPE = "tributary.document.content_type"
    STAGE = "tributary.stage"
    BATCH = "tributary.batch"
    OUTCOME = "tributary.outcome"  # done | retried | dead_lettered (stage messages)
    REASON_CODE = "tributary.reason_code"
    EXTRACTOR = "tributary.extractor"
    ERROR_TYPE = "error.type"
    MESSAGING_SYSTEM = "messaging.system"
    MESSAGING_OPERATION = "messaging.operation.name"
    MESSAGING_DESTINATION = "messaging.destination.name"
    MESSAGING_MESSAGE_ID = "messaging.message.id"
    MESSAGING_DELIVERY_COUNT = "messaging.servicebus.message.delivery_count"
    DB_SYSTEM = "db.system.name"
    DB_OPERATION = "db.operation.name"
    DB_BATCH_SIZE = "db.operation.batch.size"
    CHUNK_SOURCE = "tributary.llm.chunk_source"  # model | cache | fallback
    FALLBACK_REASON = "tributary.llm.fallback_reason"
    GEN_AI_OPERATION = "gen_ai.operation.name"
    GEN_AI_PROVIDER = "gen_ai.provider.name"
    GEN_AI_SYSTEM = "gen_ai.system"  # the older name of the provider, which Azure Monitor's views still read
    GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
    GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
    GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
    GEN_AI_OUTPUT_TYPE = "gen_ai.output.type"
    GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
    GEN_AI_RESPONSE_ID = "gen_ai.response.id"
    GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
    GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
    GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
    GEN_AI_TOKEN_TYPE = "gen_ai.token.type"  # input | output
    CLOUDEVENTS_TYPE = "cloudevents.event_type"  # a completion notification's type (io.tributary.job.succeeded, ...)


@dataclass(frozen=True)
class Instrument:
    name: str
    kind: Literal["counter", "histogram"]
    unit: str
    description: str


class Metric:
    """Instruments. Counters count units of work by outcome; histograms time them."""

    FILES = Instrument("tributary.files", "counter", "{file}", "jobs ended, by kind, state and reason code")
    BYTES = Instrument("tributary.bytes", "counter", "By", "bytes of the files whose job ended, by job state")
    CHUNKS = Instrument("tributary.chunks", "counter", "{chunk}", "chunks published by ingest")
    ENTITIES = Instrument("tributary.entities", "counter", "{entity}", "entities written by the graph sink")
    RELATIONS = Instrument("tributary.relations", "counter", "{relation}", "relations written by the graph sink")
    STAGE_DURATION = Instrument(
        "messaging.process.duration", "histogram", "s", "time to process one stage message, by stage and outcome"
    )
    QUEUE_AGE = Instrument(
        "tributary.queue.age", "histogram", "s", "age of a stage message when a worker took it (since it was built)"
    )
    LLM_TOKENS = Instrument(
        "tributary.llm.tokens", "counter", "{token}", "chat model tokens, by gen_ai.token.type, once per extract batch"
    )
    LLM_REQUESTS = Instrument("tributary.llm.requests", "counter", "{request}", "chat model requests per extract batch")
    LLM_CHUNKS = Instrument(
        "tributary.llm.chunks",
        "counter",
        "{chunk}",
        "extracted chunks by where the answer came from: model, cache, "
        "fallback (the offline extractor; with the reason)",
    )
    DEAD_LETTERS = Instrument(
        "tributary.dead_letters", "counter", "{message}", "stage messages that will never complete, by reason code"
    )
    NOTIFICATIONS = Instrument(
        "tributary.notifications",
        "counter",
        "{event}",
        "completion events sent, by cloudevents.event_type and outcome: delivered | dead_lettered",
    )

    @classmethod
    def all(cls) -> list[Instrument]:
        return [value for value in vars(cls).values() if isinstance(value, Instrument)]


def stage_span_name(queue: str) -> str:
    return f"{Span.STAGE} {queue}"


def declared_names() -> set[str]:
    """Every name a query may use: spans (the stage span's by its prefix), instruments, attribute keys."""
    return {*(span.value for span in Span), *(metric.name for metric in Metric.all()), *(attr.value for attr in Attr)}
