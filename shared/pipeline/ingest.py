"""Ingest (the blob trigger's work): validate, record the job, parse in a stream and publish chunk batches."""

import hashlib
import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from shared.config import Settings
from shared.domain import (
    BatchOutcome,
    BatchPayload,
    BlobEvent,
    Counts,
    DocumentRef,
    IngestOutcome,
    Job,
    JobState,
    ParseIssue,
    PermanentError,
    Record,
    Stage,
)
from shared.domain.ids import document_id, document_version, job_id, retry_job_id, skip_job_id
from shared.domain.reasons import Reason
from shared.domain.stage_events import InvalidTrackingIdError, client_tracking_id
from shared.extraction.fingerprint import extraction_fingerprint
from shared.ingestion_config import IngestionConfig, load_ingestion_config
from shared.parsing import FORMATS, SNIFF_BYTES, ParseLimits, ParseOptions, parse, sniff
from shared.parsing.sniff import EXTENSION_MISMATCH
from shared.pipeline.chunking import batched, chunk_records, chunk_settings
from shared.pipeline.envelopes import make_envelope
from shared.pipeline.finishing import finish_if_complete
from shared.pipeline.job_events import job_ended
from shared.ports import BlobInfo, Ports
from shared.telemetry import blob_event_span, current_trace_id, current_traceparent, ingest_span, metrics

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 20
_RESUMABLE = frozenset({JobState.QUEUED, JobState.PARSING})
NOT_INCOMING = Reason.INGEST_NOT_INCOMING_CONTAINER


def ingest_blob(event: BlobEvent, ports: Ports, *, forced_job_id: str | None = None) -> IngestOutcome | None:
    """Handle one BlobCreated event. Bad content ends as a failed job; only transient errors propagate.

    None: the event is for another container than the incoming one, and is ignored (no job).
    `forced_job_id`: a reprocess on purpose (a bulk run): a new job of this id whatever the content, never skipped as
    unchanged; a redelivery finds the same job and answers where it stands."""
    with blob_event_span(event.container, event.path):
        return _ingest_blob(event, ports, forced_job_id)


def _ingest_blob(event: BlobEvent, ports: Ports, forced_job_id: str | None) -> IngestOutcome | None:
    if event.container != ports.settings.incoming_container:
        # An Event Grid-sourced blob trigger is handed every event its subscription delivers, whatever the container
        # its path names: the claim-check payloads in the work container must never become documents.
        log.warning(
            "%s: ignored %s/%s; only blobs in %r are ingested",
            NOT_INCOMING,
            event.container,
            event.path,
            ports.settings.incoming_container,
        )
        return None
    info = ports.blobs.properties(event.container, event.path)
    doc_id = document_id(ports.blobs.account, event.container, event.path)
    if info.size > ports.settings.file_max_bytes:
        # Refused before hashing: reading a huge blob only to refuse it would cost as much as parsing it.
        error = PermanentError(Reason.LIMITS_FILE_TOO_LARGE, f"{info.size} bytes > {ports.settings.file_max_bytes}")
        return _refuse(event, doc_id, f"etag:{info.etag}", info, error, ports)

    content_sha256, head = _hash_and_head(event, ports)
    base_version, generation = _base(doc_id, ports)
    version = document_version(content_sha256, processing_fingerprint(ports.settings), generation)
    if base_version == version and forced_job_id is None:
        return _skip(event, doc_id, version, info, ports, "content equals the committed version")

    new_job = _new_job(event, doc_id, version, base_version, info, generation)
    if forced_job_id is not None:
        new_job = new_job.model_copy(update={"job_id": forced_job_id})
    job, _ = ports.jobs.create_job(new_job)
    if forced_job_id is not None and job.terminal:
        return _outcome(job.job_id, doc_id, event, job.state, info, reason_code=job.reason_code)
    if job.state is JobState.FAILED:
        # The same content failed before, and this is another upload of it (a user retrying, or the same upload's
        # event redelivered after a crash): a new job, keyed on the upload, so a failed file can always be retried.
        retry_id = retry_job_id(job.job_id, event.event_id)
        job, _ = ports.jobs.create_job(new_job.model_copy(update={"job_id": retry_id}))
    if job.terminal:
        return _skip(event, doc_id, version, info, ports, f"already {job.state} as job {job.job_id}")
    if job.state not in _RESUMABLE:
        # Parsing finished before a crash: everything it published is already on its way.
        finish_if_complete(job.job_id, ports)
        return _outcome(job.job_id, doc_id, event, job.state, info, batches=job.batches_expected or 0)

    # A client's tracking id names no trace: the spans stay in this event's (only the job is found by that id).
    with ingest_span(job.job_id, doc_id, job.tracking_id, rejoin=job.tracking_id != _client_tracking_id(info)):
        return _parse_and_publish(event, job, info, head, ports)


def _parse_and_publish(event: BlobEvent, job: Job, info: BlobInfo, head: bytes, ports: Ports) -> IngestOutcome:
    doc_id = job.document_id
    issues = _IssueLog(job.job_id, ports)
    try:
        _check_tracking_id(info, issues)
        document, options = _resolve(event, job, info, head, issues, ports)
        ports.jobs.transition(job.job_id, JobState.PARSING, allowed_from=_RESUMABLE)
        batches = _publish_batches(job, document, options, issues, ports)
        issues.flush()
    except PermanentError as error:
        issues.flush()  # what was found before the file failed is still worth showing
        _fail(job.job_id, error, ports)
        return _outcome(job.job_id, doc_id, event, JobState.FAILED, info, error=error)

    ports.jobs.set_batches_expected(job.job_id, batches)
    ports.jobs.transition(job.job_id, JobState.PROCESSING, allowed_from={JobState.PARSING})
    # A file with no records has no batch left to wait for, so it can finish here.
    finished = finish_if_complete(job.job_id, ports)
    state = finished.state if finished else JobState.PROCESSING
    return _outcome(job.job_id, doc_id, event, state, info, batches=batches)


def _resolve(
    event: BlobEvent, job: Job, info: BlobInfo, head: bytes, issues: "_IssueLog", ports: Ports
) -> tuple[DocumentRef, ParseOptions]:
    """The document with its sniffed content type, and the options the ingestion config gives its path."""
    sniffed = sniff(head, event.path)
    if sniffed.hint_mismatch:
        issues.add(ParseIssue(locator="file", reason_code=EXTENSION_MISMATCH, detail=sniffed.hint_mismatch))
    config = ingestion_config(ports.settings.ingestion_config, ports.settings.extraction_schema)
    _, options = config.options_for(event.container, event.path)
    # A rule may force the parser; the refusals in sniff (executables, binaries) stand whatever it says.
    content_type = FORMATS[options.format] if options.format else sniffed.content_type
    document = DocumentRef(
        account=ports.blobs.account,
        container=event.container,
        path=event.path,
        document_id=job.document_id,
        version=job.version,
        size=info.size,
        content_type=content_type,
        generation=job.generation,
    )
    return document, options


def _check_tracking_id(info: BlobInfo, issues: "_IssueLog") -> None:
    """A tracking id in the metadata that was refused is an issue of the file (the job went on with its trace id)."""
    try:
        client_tracking_id(info.metadata)
    except InvalidTrackingIdError as error:
        log.warning("%s: %s/%s: %s", Reason.INGEST_TRACKING_ID_INVALID, info.container, info.path, error)
        issues.add(ParseIssue(locator="metadata", reason_code=Reason.INGEST_TRACKING_ID_INVALID, detail=str(error)))


@lru_cache(maxsize=8)
def ingestion_config(path: Path | None, schema_path: Path | None) -> IngestionConfig:
    """The ingestion config, loaded and validated once per process (an invalid one fails every file loudly)."""
    return load_ingestion_config(path, schema_path)


class _IssueLog:
    """Issues of one file, capped, recorded in the job store in one go (insert-if-absent, so re-parses are safe)."""

    def __init__(self, job_id_: str, ports: Ports) -> None:
        self.job_id = job_id_
        self.ports = ports
        self.pending: list[ParseIssue] = []
        self.seen = 0

    def add(self, issue: ParseIssue) -> None:
        self.seen += 1
        cap = self.ports.settings.max_issues_per_file
        if self.seen > cap:
            raise PermanentError(
                Reason.LIMITS_TOO_MANY_ISSUES, f"more than {cap} issues; the last: {issue.reason_code}"
            )
        self.pending.append(issue)

    def records(self, items: Iterable[Record | ParseIssue]) -> Iterator[Record]:
        """The records of a parse, with its issues set aside here."""
        for item in items:
            if isinstance(item, ParseIssue):
                self.add(item)
            else:
                yield item

    def flush(self) -> None:
        if self.pending:
            self.ports.jobs.record_issues(self.job_id, self.pending)
            self.pending = []


def _publish_batches(job: Job, document: DocumentRef, options: ParseOptions, issues: _IssueLog, ports: Ports) -> int:
    settings = ports.settings
    limits = ParseLimits(max_bytes=settings.file_max_bytes)
    batches = 0
    records = issues.records(_read(document, limits, options, ports))
    chunks = chunk_records(records, document, chunk_settings(settings))
    # Parsing is a stream: a batch's duration is the time from the batch before (reading, parsing, chunking, sending).
    started = time.perf_counter()
    for batch_number, batch in enumerate(batched(chunks, settings.batch_max_chunks)):
        envelope = make_envelope(
            job_id=job.job_id,
            document=document,
            stage=Stage.ENRICH,
            batch=batch_number,
            payload=BatchPayload(chunks=batch),
            tracking_id=job.tracking_id,
            traceparent=current_traceparent(),
            ports=ports,
        )
        ports.bus.send(settings.queues[Stage.ENRICH], [envelope])
        took = (time.perf_counter() - started) * 1000
        counts = Counts(chunks=len(batch))
        if ports.jobs.record_batch(job.job_id, Stage.PARSE, batch_number, BatchOutcome.DONE, counts, duration_ms=took):
            metrics.chunks_published(len(batch))  # once per batch, as the job's own counter (a re-parse adds nothing)
        batches += 1
        started = time.perf_counter()
    return batches


def _read(
    document: DocumentRef, limits: ParseLimits, options: ParseOptions, ports: Ports
) -> Iterator[Record | ParseIssue]:
    """The document's records as parsing reads them from the blob; a PDF with no text layer (a scan) is read by OCR
    instead when it is configured (the parser yields no record before deciding there is no text)."""
    with ports.blobs.open_read(document.container, document.path) as stream:
        try:
            yield from parse(stream, document.content_type, limits, options)
            return
        except PermanentError as error:
            if error.reason_code != Reason.PARSE_PDF_NO_TEXT or ports.ocr is None:
                raise
    log.info("%s has no text layer: read by %s", document.path, ports.ocr.name)
    with ports.blobs.open_read(document.container, document.path) as stream:
        yield from ports.ocr.read(stream)


def _hash_and_head(event: BlobEvent, ports: Ports) -> tuple[str, bytes]:
    """sha256 of the whole content (part of the version) and its first bytes (for sniffing), in one streamed pass."""
    digest = hashlib.sha256()
    head = b""
    with ports.blobs.open_read(event.container, event.path) as stream:
        while block := stream.read(_READ_SIZE):
            if len(head) < SNIFF_BYTES:
                head += block[: SNIFF_BYTES - len(head)]
            digest.update(block)
    return digest.hexdigest(), head


def processing_fingerprint(settings: Settings) -> str:
    """What, besides the content and the generation, decides a version: how it is chunked and how it is extracted."""
    return f"{chunk_settings(settings).fingerprint()}/{extraction_fingerprint(settings)}"


def _base(doc_id: str, ports: Ports) -> tuple[str | None, int]:
    """The committed version a new job replaces (None: nothing is served) and the document's generation."""
    known = ports.jobs.document_state(doc_id)
    return (known.committed_version, known.generation) if known else (None, 0)


def _new_job(
    event: BlobEvent, doc_id: str, version: str, base_version: str | None, info: BlobInfo, generation: int = 0
) -> Job:
    now = datetime.now(UTC)
    return Job(
        job_id=job_id(doc_id, version, base_version),
        document_id=doc_id,
        path=f"{event.container}/{event.path}",
        version=version,
        base_version=base_version,
        generation=generation,
        tracking_id=_tracking_id(info),
        size=info.size,
        created_at=now,
        updated_at=now,
    )


def _tracking_id(info: BlobInfo) -> str:
    """The client's tracking id (blob metadata `tracking_id`) when it has a valid one, else the file's trace: this
    blob event's W3C trace id, or a random one of that shape when telemetry is off. Only the job's id changes: the
    trace id still carries the spans."""
    return _client_tracking_id(info) or current_trace_id() or uuid.uuid4().hex


def _client_tracking_id(info: BlobInfo) -> str | None:
    """The blob's valid client tracking id, if any (an invalid one is reported once, by `_check_tracking_id`)."""
    try:
        return client_tracking_id(info.metadata)
    except InvalidTrackingIdError:
        return None


def _skip(event: BlobEvent, doc_id: str, version: str, info: BlobInfo, ports: Ports, why: str) -> IngestOutcome:
    """Record a no-op job for an upload whose content was already processed."""
    template = _new_job(event, doc_id, version, None, info)
    skip = template.model_copy(
        update={
            "job_id": skip_job_id(doc_id, version, event.event_id),
            "state": JobState.SKIPPED,
            "reason_code": "unchanged",
            "last_error": why,
        }
    )
    stored, created = ports.jobs.create_job(skip)
    if created:
        job_ended(stored, ports)
    return _outcome(stored.job_id, doc_id, event, JobState.SKIPPED, info, reason_code="unchanged", detail=why)


def _refuse(
    event: BlobEvent, doc_id: str, version: str, info: BlobInfo, error: PermanentError, ports: Ports
) -> IngestOutcome:
    base_version, generation = _base(doc_id, ports)
    job, _ = ports.jobs.create_job(_new_job(event, doc_id, version, base_version, info, generation))
    _fail(job.job_id, error, ports)
    return _outcome(job.job_id, doc_id, event, JobState.FAILED, info, error=error)


def _fail(job_id_: str, error: PermanentError, ports: Ports) -> None:
    failed = ports.jobs.transition(
        job_id_,
        JobState.FAILED,
        allowed_from={JobState.QUEUED, JobState.PARSING, JobState.PROCESSING},
        reason_code=error.reason_code,
        last_error=error.detail[:2000],
    )
    job = ports.jobs.get_job(job_id_) if failed else None
    if job is not None:
        job_ended(job, ports)


def _outcome(
    job_id_: str,
    doc_id: str,
    event: BlobEvent,
    state: JobState,
    info: BlobInfo,
    *,
    batches: int = 0,
    error: PermanentError | None = None,
    reason_code: str | None = None,
    detail: str | None = None,
) -> IngestOutcome:
    return IngestOutcome(
        job_id=job_id_,
        document_id=doc_id,
        path=f"{event.container}/{event.path}",
        state=state,
        reason_code=error.reason_code if error else reason_code,
        detail=error.detail if error else detail,
        batches=batches,
        size=info.size,
    )
