"""The ports every stage talks through. Adapters implement them; each passes its port's contract suite."""

from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from shared.config import Settings
from shared.domain import (
    BatchExtraction,
    BatchOutcome,
    BatchPayload,
    Chunk,
    Counts,
    DocumentRef,
    DocumentState,
    Envelope,
    Extraction,
    Job,
    JobState,
    ParseIssue,
    Record,
    Stage,
)
from shared.domain.bulk_jobs import BulkItem, BulkJob, BulkState
from shared.domain.bus import OutgoingMessage, PropertyValue
from shared.domain.job_queries import JobFilter, JobGroup, JobKey
from shared.domain.notifications import Notification
from shared.domain.search_filter import SearchFilter
from shared.domain.stage_events import StageEvent


class BlobInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    container: str
    path: str
    size: int
    etag: str
    last_modified: datetime
    # User metadata, as `properties()` reads it (listings leave it empty); the local folder store has none.
    metadata: dict[str, str] = Field(default_factory=dict)


class BlobPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    blobs: list[BlobInfo]
    continuation: str | None = None


@runtime_checkable
class BlobStore(Protocol):
    account: str

    def open_read(self, container: str, path: str) -> AbstractContextManager[BinaryIO]:
        """A binary stream of the blob; callers read it in pieces, never whole."""
        ...

    def upload(self, container: str, path: str, data: bytes | BinaryIO) -> BlobInfo: ...

    def download_bytes(self, container: str, path: str) -> bytes:
        """Whole content: only for small blobs such as claim-check payloads."""
        ...

    def properties(self, container: str, path: str) -> BlobInfo: ...

    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]: ...

    def delete(self, container: str, path: str) -> None:
        """Deleting a missing blob is not an error (idempotent)."""
        ...

    def list_page(self, container: str, prefix: str = "", continuation: str | None = None, size: int = 500) -> BlobPage:
        """One page of `list_blobs`, in name order: at most `size` blobs and the token of the next page (None: the
        last). A listing of any length is walked page by page, never held whole."""
        ...


@runtime_checkable
class Bus(Protocol):
    def send(self, queue: str, envelopes: Sequence[Envelope]) -> None:
        """Enqueue; a message whose MessageId was already accepted is dropped (duplicate detection)."""
        ...

    def max_delivery_count(self, queue: str) -> int | None:
        """The queue's own MaxDeliveryCount, or None when this bus cannot read it (no management rights)."""
        ...


class JobNotFoundError(LookupError):
    """An update addressed a job the store does not hold (every JobStore raises this one)."""


@runtime_checkable
class JobStore(Protocol):
    """Job state. Updates that address an unknown job raise LookupError (set_*, record_*); reads and
    compare-and-set calls answer None/False instead. A None reason or error on `transition` keeps the stored one."""

    def migrate(self) -> None:
        """Create or upgrade the schema; safe to call on every start."""
        ...

    def create_job(self, job: Job) -> tuple[Job, bool]:
        """Insert if absent. Returns the stored job and whether this call created it."""
        ...

    def get_job(self, job_id: str) -> Job | None: ...

    def list_jobs(self, state: JobState | None = None, limit: int = 100) -> list[Job]:
        """Newest first."""
        ...

    def transition(
        self,
        job_id: str,
        to: JobState,
        *,
        allowed_from: Collection[JobState],
        reason_code: str | None = None,
        last_error: str | None = None,
    ) -> bool:
        """Compare-and-set the state; False when the job was not in one of `allowed_from`."""
        ...

    def set_batches_expected(self, job_id: str, batches: int) -> None: ...

    def set_extractor(self, job_id: str, extractor: str) -> None: ...

    def record_batch(
        self,
        job_id: str,
        stage: Stage,
        batch: int,
        outcome: BatchOutcome,
        counts: Counts | None = None,
        reason_code: str | None = None,
        *,
        message_id: str | None = None,
        duration_ms: float | None = None,
    ) -> bool:
        """Insert the (job, stage, batch) marker if absent; only a new marker moves counters and totals.

        Returns whether the marker was new. Atomic: concurrent calls for the same batch count once. The marker keeps
        the time, the message the batch arrived in and the handler's duration for the trace (`stage_events`); the
        first call's stay.
        """
        ...

    def finish_if_complete(self, job_id: str) -> Job | None:
        """Mark a processing job succeeded once every sink has settled every expected batch.

        In the same transaction the document's committed version becomes the job's version. Returns the job
        when this call finished it (exactly one caller wins), else None.
        """
        ...

    def committed_version(self, document_id: str) -> str | None: ...

    def document_state(self, document_id: str) -> DocumentState | None:
        """The document's committed version and generation; None for a document no job ever named."""
        ...

    def begin_delete(self, document_id: str, tracking_id: str) -> Job | None:
        """Record the delete of a document, in one transaction: its committed version is forgotten (readers stop
        seeing it at once), its next generation opens (a job of the old one can no longer commit), and a delete job
        (`domain.jobs.delete_job`, PROCESSING) is created for the removal from the sinks. None for an unknown
        document. Concurrent deletes each open a generation of their own; none is lost."""
        ...

    def record_issues(self, job_id: str, issues: Sequence[ParseIssue]) -> int:
        """Insert each issue if absent, keyed on (job, locator, reason code), and add the number inserted to the
        job's `issues` counter, in one transaction. Returns that number (a re-parse after a crash adds nothing)."""
        ...

    def list_issues(self, job_id: str, limit: int = 100) -> list[ParseIssue]:
        """The job's issues in the order they were first recorded."""
        ...

    def close(self) -> None: ...

    # Bulk jobs (shared/bulk/): one per bulk run, its counts read from the pages and items recorded.

    def create_bulk_job(self, bulk: BulkJob) -> tuple[BulkJob, bool]:
        """Insert if absent. Returns the stored bulk job and whether this call created it."""
        ...

    def get_bulk_job(self, bulk_id: str) -> BulkJob | None:
        """The bulk job with its counts as recorded (pages listed, items by outcome), or None."""
        ...

    def list_bulk_jobs(self, limit: int = 20) -> list[BulkJob]:
        """Newest first."""
        ...

    def record_bulk_page(self, bulk_id: str, page: int, listed: int, listed_bytes: int) -> bool:
        """Insert the (bulk job, page) marker if absent with what the page listed; whether it was new (a page
        listed again after a redelivery counts once). Raises JobNotFoundError for an unknown bulk job."""
        ...

    def record_bulk_item(self, bulk_id: str, item: BulkItem) -> bool:
        """Insert the item (keyed on its path) if absent; whether it was new. The first outcome recorded stands.
        Raises JobNotFoundError for an unknown bulk job."""
        ...

    def list_bulk_items(self, bulk_id: str, after: str | None = None, limit: int = 100) -> list[BulkItem]:
        """Items in path order, those after the path `after` (keyset pagination, stable while items are added)."""
        ...

    def finish_bulk_job(self, bulk_id: str, to: BulkState, reason_code: str | None = None) -> bool:
        """Compare-and-set a running bulk job to a terminal state; False when it was not running (or is unknown)."""

    def reserve_tokens(self, key: str, tokens: int, limit: int, expires_at: datetime | None = None) -> bool:
        """Add `tokens` to the counter `key` only if it then stays within `limit`, atomically across workers; False
        (nothing added) otherwise. An absent counter starts at 0 and is kept until `expires_at` (None: for good);
        expired counters are dropped by the store in its own time."""
        ...

    def adjust_tokens(self, key: str, delta: int, expires_at: datetime | None = None) -> None:
        """Add `delta` to the counter `key` whatever the limit (negative: a reservation given back, or reconciled
        with what a call really used), atomically; an absent counter is created."""
        ...

    def tokens_used(self, key: str) -> int:
        """The counter `key` (0 when absent or expired)."""
        ...

    def record_extraction(self, job_id: str, record: BatchExtraction) -> bool:
        """Insert the extract batch's record if absent (the first one stays: it is what was sent downstream).
        Returns whether it was new; raises LookupError for an unknown job."""
        ...

    def list_extractions(self, job_id: str) -> list[BatchExtraction]:
        """The job's extract batch records, by batch number."""

    def list_jobs_page(self, where: JobFilter, limit: int, after: JobKey | None = None) -> list[Job]:
        """At most `limit` jobs matching `where`, newest first (created_at, then job_id, both descending), strictly
        after `after`: a page continues where the last one ended, whatever was inserted before it since."""
        ...

    def job_groups(self, since: datetime | None = None) -> list[JobGroup]:
        """Jobs created at or after `since` (every job when None), counted by kind, state, reason code and format."""
        ...

    # The trace API (GET /api/trace/{tracking_id}): what the job store knows of one file's way through the stages.

    def stage_events(self, job_id: str) -> list[StageEvent]:
        """The job's recorded stage batches (its markers), ordered by recorded time, then stage order, then batch.
        Empty for an unknown job."""
        ...

    def jobs_by_tracking_id(self, tracking_id: str, limit: int = 100) -> list[Job]:
        """At most `limit` jobs whose tracking id is `tracking_id`, newest first (created_at, then job_id)."""

    def reopen_batch(self, job_id: str, stage: Stage, batch: int) -> bool:
        """Undo the dead-lettering of one batch before its message is replayed, atomically: remove its
        DEAD_LETTERED marker (a DONE marker is never touched) and take it off the stage's dead_lettered counter; a
        FAILED job with no dead-lettered batch left and its batch count known goes back to PROCESSING with its reason
        code cleared (last_error stays for the record). Returns whether a marker was removed; False for an unknown
        job or a batch without a dead-lettered marker (a second call changes nothing)."""
        ...


class GraphCounts(BaseModel):
    model_config = ConfigDict(frozen=True)

    documents: int
    chunks: int
    entities: int
    relations: int


class EntityRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    entity_id: str
    type: str
    name: str


class ChunkContext(BaseModel):
    """Where a chunk comes from and the entities it mentions."""

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    path: str
    locator: str
    entity_ids: tuple[str, ...] = ()


class RelationRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    relation_id: str
    type: str
    source_id: str
    target_id: str


class GraphContext(BaseModel):
    """Chunks with their documents and mentions, the entities they mention, and those entities' one-hop
    relations (with the entities at their other ends)."""

    model_config = ConfigDict(frozen=True)

    chunks: dict[str, ChunkContext]
    entities: dict[str, EntityRef]
    relations: tuple[RelationRef, ...]


class EntityCandidate(BaseModel):
    """An entity the graph holds that a new name might be: what entity resolution compares it with."""

    model_config = ConfigDict(frozen=True)

    entity_id: str
    type: str
    name: str
    aliases: tuple[str, ...] = ()


class GraphRelation(BaseModel):
    """A relation as community detection reads it: `weight` is the number of chunks supporting it (at least 1)."""

    model_config = ConfigDict(frozen=True)

    relation_id: str
    type: str
    source_id: str
    target_id: str
    weight: int = 1


class EntityGraphPage(BaseModel):
    """A page of the entity graph: entities in id order, with the relations going out of them to entities."""

    model_config = ConfigDict(frozen=True)

    entities: tuple[EntityRef, ...]
    relations: tuple[GraphRelation, ...]
    next_after: str | None  # the `after` of the next page; None after the last one


class Community(BaseModel):
    """A community of entities (shared/communities/): level 0 groups entities, level n+1 groups level-n communities.

    `member_ids` are what its IN_COMMUNITY edges come from: entity ids at level 0, child community ids above.
    `content` covers the entities and the relations among them (what the summary depends on); `fingerprint` the
    level, the members, the content and the relations at its boundary (whether anything about it changed).
    """

    model_config = ConfigDict(frozen=True)

    community_id: str
    level: int
    size: int  # entities below it
    member_ids: tuple[str, ...]
    title: str
    summary: str
    summarizer: str
    fingerprint: str
    content: str
    updated: str  # ISO-8601 UTC time it was last written with a change


@runtime_checkable
class GraphSink(Protocol):
    def ensure_schema(self) -> None:
        """Unique constraints / indexes on the ids; idempotent."""
        ...

    def write_batch(self, document: DocumentRef, payload: BatchPayload) -> None:
        """Upsert the document, its chunks, entities, mentions and relations (MERGE on ids)."""
        ...

    def counts(self) -> GraphCounts: ...

    def context(self, chunk_ids: Sequence[str], max_relations: int = 100) -> GraphContext:
        """What the graph knows around these chunks (unknown ids are left out): what a search answer shows."""
        ...

    def remove_version(self, document_id: str, version: str) -> None:
        """Delete the version's chunks (with their HAS_CHUNK and MENTIONS) and their ids from relations' provenance.

        A relation left with no supporting chunk goes (one written before provenance was stored stays until an
        end of it goes), then every entity no chunk mentions any more (with its relations), then the Document
        node if it has no chunk left. In bounded batches; idempotent and resumable: running it again, after a
        crash or not, finishes the job and changes nothing more. Another document's mentions keep an entity.
        """
        ...

    def delete_document(self, document_id: str) -> None:
        """`remove_version` for every version, then the Document node; an unknown document is a no-op."""
        ...

    def document_versions(self, document_id: str) -> dict[str, int]:
        """Version → number of the document's chunks in the graph; empty for an unknown document."""
        ...

    def close(self) -> None: ...

    def entity_candidates(
        self, entity_type: str, blocks: Sequence[str], per_block: int = 20, ids: Sequence[str] = ()
    ) -> list[EntityCandidate]:
        """Entities of `entity_type` written with any of these blocking keys (`Entity.blocks`), with their aliases,
        and those of the type among `ids` whatever the cap (unknown ids are left out).

        Through indexes, so it stays fast on a large graph; at most `per_block` per key (the lowest ids, so the
        answer does not depend on the order nodes were stored in), each entity once, ordered by id.
        """
        ...

    def linked_entities(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The pairs of entity ids (as given) that a relation joins, either way round: resolution's "same
        organisation" evidence. Unknown ids join nothing."""
        ...

    def entity_graph(self, after: str = "", limit: int = 5000) -> EntityGraphPage:
        """Up to `limit` entities with ids above `after`, in id order, each with its relations to other entities
        (outgoing only, so each relation comes once over all pages): the entity graph read in bounded pages."""
        ...

    def relation_evidence(self, relations: Sequence[GraphRelation]) -> dict[str, str]:
        """Relation id → its evidence sentence, for those of `relations` that have one (unknown ones are left out)."""
        ...

    def write_communities(self, communities: Sequence[Community]) -> None:
        """Upsert the Community nodes (MERGE on id) and make each one's IN_COMMUNITY edges come from exactly its
        members, moving a member off any other community it was in. A child community must be written before, or
        with, its parent. Idempotent: writing the same communities again changes nothing."""
        ...

    def communities(self, after: str = "", limit: int = 1000) -> list[Community]:
        """Up to `limit` communities with ids above `after`, in id order, with their members as the edges say."""
        ...

    def delete_communities(self, community_ids: Sequence[str]) -> None:
        """Delete these Community nodes with their edges; unknown ids are a no-op."""
        ...


class VectorHit(BaseModel):
    """A chunk found by `VectorSink.search`; `score` is higher for a better match (see there for its scale)."""

    model_config = ConfigDict(frozen=True)

    chunk_id: str
    document_id: str
    version: str
    text: str
    score: float


@runtime_checkable
class VectorSink(Protocol):
    """Chunks with their embeddings. An adapter records the embedder (name and dimension) with its index when it
    creates it, and refuses to open an index recorded for another one (`vector.dimension_mismatch`)."""

    def upsert(self, chunks: Sequence[Chunk], document: DocumentRef | None = None) -> None:
        """Merge-or-upload on chunk_id; every chunk carries its embedding. `document` (the one the chunks belong to)
        gives the path and content type a search filter selects on; without it they are stored empty."""
        ...

    def count(self) -> int: ...

    def search(
        self, vector: Sequence[float], k: int = 5, *, text: str | None = None, filter: SearchFilter | None = None
    ) -> list[VectorHit]:
        """The k best chunks among those `filter` selects, best first.

        Without `text`: nearest by cosine similarity, which is the score (1 = same direction; a zero vector matches
        nothing). With `text`: hybrid, a keyword search of the chunk text and the vector search fused by reciprocal
        rank (RRF), so a chunk holding the words is found even when its vector is far; the score is then the fused
        rank score (higher is better, comparable within one answer only).
        """
        ...

    def delete_version(self, document_id: str, version: str) -> None:
        """Delete the version's chunks; idempotent (none left is a no-op), and resumable after a crash."""
        ...

    def delete_document(self, document_id: str) -> None:
        """Delete every chunk of the document; an unknown document is a no-op."""
        ...

    def document_versions(self, document_id: str) -> dict[str, int]:
        """Version → number of the document's chunks stored; empty for an unknown document."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


@runtime_checkable
class Extractor(Protocol):
    name: str

    def extract(self, chunks: Sequence[Chunk]) -> Extraction: ...


class ChatAnswer(BaseModel):
    """A chat model's answer: the JSON object it returned (already parsed, not yet validated against any model of
    ours), and what it cost."""

    model_config = ConfigDict(frozen=True)

    content: dict[str, Any]
    model: str
    input_tokens: int
    output_tokens: int
    finish_reason: str


@runtime_checkable
class ChatModel(Protocol):
    """A chat model answering in JSON that matches a JSON schema (structured output): the LLM extractor and the
    community summaries talk through it. Raises TransientError when the service is down, throttling past its
    retries or timing out, PermanentError when it refuses the request (content filter, a schema it rejects)."""

    name: str  # the deployment (Azure OpenAI) or model the answers come from

    def complete_json(
        self, system: str, user: str, *, schema_name: str, schema: dict[str, Any], max_tokens: int
    ) -> ChatAnswer: ...

    def close(self) -> None: ...


@runtime_checkable
class DocumentReader(Protocol):
    """Reads what parsing cannot: the text of a PDF without a text layer, by OCR (records per page, as parsing)."""

    name: str

    def read(self, stream: BinaryIO) -> Iterator[Record | ParseIssue]: ...

    def close(self) -> None: ...


@runtime_checkable
class Notifier(Protocol):
    """Where the end of a job or a bulk run is announced, as a CloudEvents 1.0 event (a webhook, an Event Grid topic).

    `target` names it in records and logs and never holds a secret (no key, no query string)."""

    target: str

    def publish(self, event: Notification) -> None:
        """Deliver the event, retrying within the configured attempts and time cap; raises
        `domain.notifications.DeliveryFailedError` (with the attempts made) when every attempt failed."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Ports:
    """Everything a stage handler may touch, wired once by the host (embedded, devhost or Azure)."""

    blobs: BlobStore
    bus: Bus
    jobs: JobStore
    graph: GraphSink
    vectors: VectorSink
    embedder: Embedder
    extractor: Extractor
    settings: Settings
    ocr: DocumentReader | None = None  # only when OCR is configured (TRIBUTARY_DOCUMENT_INTELLIGENCE_ENDPOINT)
    chat: ChatModel | None = None  # only when a chat model is configured (the LLM extractor, community summaries)
    notifier: Notifier | None = None  # only when a webhook or an Event Grid topic is configured (TRIBUTARY_NOTIFY_*)


@dataclass(frozen=True)
class ExtractionRun:
    """One extract batch's entities and relations, what produced them and at what cost, and any problem worth
    recording on the job (a permanent model failure the offline extractor covered for)."""

    extraction: Extraction
    record: BatchExtraction
    issues: tuple[ParseIssue, ...] = ()


@runtime_checkable
class BatchExtractor(Extractor, Protocol):
    """An extractor that accounts per job batch (the LLM extractor: its budget is per job, its cost recorded)."""

    def extract_batch(self, chunks: Sequence[Chunk], job_id: str | None, batch: int) -> ExtractionRun: ...


# Dead letters (shared/pipeline/deadletters.py). A port of its own rather than more of `Bus`: the stages only send,
# and the in-process test bus (and any future send-only bus) need not pretend to hold dead letters; a bus that can
# is checked with isinstance(bus, DeadLetterQueues).


class DeadLetter(BaseModel):
    """One message of a queue's dead-letter subqueue, as the broker holds it (`lock_token` None: peeked only)."""

    model_config = ConfigDict(frozen=True)

    queue: str
    sequence_number: int
    message_id: str
    body: bytes
    application_properties: dict[str, PropertyValue]
    content_type: str | None = None
    subject: str | None = None
    correlation_id: str | None = None
    delivery_count: int = 0
    enqueued_time: datetime
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None
    lock_token: str | None = None

    def resend(self) -> OutgoingMessage:
        """The message to send again: the original MessageId, body, properties, content type and subject."""
        return OutgoingMessage(
            body=self.body,
            message_id=self.message_id,
            application_properties=dict(self.application_properties),
            content_type=self.content_type,
            subject=self.subject,
            correlation_id=self.correlation_id,
        )


class DeadLetterReceiver(Protocol):
    """Peek-lock on one dead-letter subqueue; what it receives stays locked until completed or released."""

    def receive(self, max_messages: int) -> list[DeadLetter]:
        """Up to `max_messages`, oldest first ([] when none is left unlocked)."""
        ...

    def complete(self, message: DeadLetter) -> None:
        """Remove the message from the dead-letter subqueue for good."""
        ...

    def release(self, message: DeadLetter) -> None:
        """Unlock it, left where it is."""
        ...


@runtime_checkable
class DeadLetterQueues(Protocol):
    def duplicate_detection_window(self, queue: str) -> timedelta | None:
        """How long the queue drops a MessageId it accepted (timedelta(0): it does not detect duplicates); None
        when this bus cannot read it (no management rights). Raises for an unknown queue where it can tell."""
        ...

    def peek_dead_letters(self, queue: str, max_messages: int) -> list[DeadLetter]:
        """Up to `max_messages` of the dead-letter subqueue, oldest first, without locking them."""
        ...

    def dead_letter_receiver(self, queue: str) -> AbstractContextManager[DeadLetterReceiver]:
        """A receiver of the dead-letter subqueue; leaving it releases what is still locked."""
        ...

    def resend(self, queue: str, message: DeadLetter) -> None:
        """Send `message.resend()` to the queue (dropped by duplicate detection inside the window)."""
        ...
