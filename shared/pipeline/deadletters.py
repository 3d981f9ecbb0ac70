"""Dead letters of a stage queue: what is there (counted by reason, a few samples), and their replay.

A replay resends a dead-lettered message with its original MessageId, body and properties, so the stage sees the very
message it failed on and every write stays keyed as before (nothing is applied twice). Three decisions make it safe:

- **The duplicate detection window.** The stage queues drop a MessageId they accepted within their window (Service
  Bus: DuplicateDetectionHistoryTimeWindow, 10 min by our Bicep; the local broker mirrors it). A resend inside the
  window is silently dropped, and completing the dead-lettered copy after it would lose the message. So a message
  whose enqueue time plus the window (plus `CLOCK_MARGIN` for the difference between the broker's clock and ours) has
  not passed is *held*: left where it is, reported with the time it becomes replayable. The window is read from the
  queue; where the bus cannot read it (Service Bus without Manage rights: the app's identity only sends and receives)
  the setting TRIBUTARY_DUPLICATE_DETECTION_WINDOW_SECONDS is assumed, which the Bicep template gives the queues too,
  and the report says it was assumed. Azure's maximum (7 days) would be the only bound that needs no setting, but it
  would hold every message for a week; the setting is deployed from the same parameter as the queues' window.
- **Order: reopen the batch, send, then complete the dead-lettered copy.** A crash after the send leaves the copy
  (its lock lapses); the next replay resends it, the queue drops that resend as a duplicate of the first one, and
  the copy is completed: nothing lost, nothing doubled. A crash after the reopen leaves a job processing whose
  batch has no marker; the next replay finds it processing and goes on.
- **The job.** A dead-lettered batch failed its job (shared.pipeline.stages.record_dead_letter) and left a
  DEAD_LETTERED marker, which would keep a replayed success from counting. `JobStore.reopen_batch` removes it and
  moves the job back to processing once none of its batches is dead-lettered, so the last sink batch finishes it as
  usual. A message whose job has been superseded (a newer job of the document: a retry, a new upload, a delete; or
  the document committed another version since) is not replayed: its work would be written for content the file no
  longer holds. Nor is one of an unknown, finished, or never fully parsed job. These are *skipped* and left in the
  dead-letter subqueue: the operator sees them and decides; replay never deletes what it did not resend.

Clean-up messages are replayed whatever their job's state (it succeeded, that is why it sent them): the clean-up
handler never removes the committed version, so a late one is harmless. Delete messages are not: repeat the delete.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.config import Settings
from shared.domain import Envelope, Job, JobKind, JobState, Reason, Stage, TributaryError
from shared.domain.job_queries import JobFilter
from shared.ports import DeadLetter, DeadLetterQueues, DeadLetterReceiver, Ports

log = logging.getLogger(__name__)

CLOCK_MARGIN = timedelta(seconds=60)  # the broker stamps enqueue times with its clock; ours may run behind it
SCAN_LIMIT = 1000  # dead letters read per call at most (a listing or a replay); run again for more
RECEIVE_BATCH = 50
SAMPLES = 5
NEWER_JOBS_CHECKED = 100
_REASON_CODE = re.compile(r"\b[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+\b")
_KNOWN_CODES = frozenset(Reason)


class UnknownQueueError(TributaryError, LookupError):
    """Neither a stage name nor a configured queue name."""

    def __init__(self, name: str) -> None:
        super().__init__(Reason.DEADLETTER_QUEUE_UNKNOWN, f"no stage or configured queue is named {name!r}")


class DeadLettersUnsupportedError(TributaryError):
    """The app's bus cannot read dead-letter subqueues (a send-only bus)."""

    def __init__(self, bus: object) -> None:
        super().__init__(Reason.DEADLETTER_BUS_UNSUPPORTED, f"{type(bus).__name__} holds no dead letters")


# -- models (the API's and the CLI's answers)


class DeadLetterSample(BaseModel):
    """One dead-lettered message, without its body."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    sequence_number: int
    job_id: str | None = Field(None, description="from the message's properties (or its body)")
    stage: str | None = None
    batch: int | None = None
    enqueued_time: datetime
    delivery_count: int
    dead_letter_reason: str | None = Field(None, description="DeadLetterReason as the broker wrote it")
    reason_code: str | None = Field(None, description="our reason code, when the reason or description carries one")
    description: str | None = Field(None, description="DeadLetterErrorDescription (cut to 500 characters)")


class DeadLetterSummary(BaseModel):
    """A queue's dead-letter subqueue: counts by reason and a few samples (oldest first)."""

    queue: str
    stage: str
    scanned: int = Field(description=f"messages read (at most {SCAN_LIMIT})")
    truncated: bool = Field(description="true: the subqueue holds more than were read")
    by_reason: dict[str, int] = Field(description="by DeadLetterReason")
    by_reason_code: dict[str, int] = Field(description="by our reason code, for the messages that carry one")
    samples: list[DeadLetterSample]


class ReplayRequest(BaseModel):
    """Which dead letters to replay; every filter given must match."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(
        None, min_length=1, max_length=200, description="DeadLetterReason, or our reason code the message carries"
    )
    job_id: str | None = Field(None, min_length=1, max_length=200)
    limit: int = Field(100, ge=1, le=SCAN_LIMIT, description="replay at most this many messages")
    dry_run: bool = Field(False, description="report what would move, move nothing")


class Outcome(StrEnum):
    REPLAYED = "replayed"  # resent with its MessageId, its dead-lettered copy completed (dry run: would be)
    HELD = "held"  # left: inside the duplicate detection window, replayable at `replayable_at`
    SKIPPED = "skipped"  # left: its job cannot take it (reason_code says why)


class ReplayItem(BaseModel):
    message_id: str
    sequence_number: int
    job_id: str | None = None
    stage: str | None = None
    batch: int | None = None
    outcome: Outcome
    reason_code: str | None = Field(None, description="why it was held or skipped")
    detail: str = ""
    replayable_at: datetime | None = Field(None, description="held: when its resend is no longer dropped")
    job_reopened: bool = Field(False, description="its batch's dead-letter marker was removed from the job")


class ReplayReport(BaseModel):
    queue: str
    stage: str
    dry_run: bool
    duplicate_window_seconds: float
    window_assumed: bool = Field(description="true: the queue's window was unreadable, the setting was assumed")
    scanned: int = Field(description="dead letters read")
    matched: int = Field(description="of those, the ones the filters select")
    replayed: int
    held: int
    skipped: int
    items: list[ReplayItem]


# -- the queue


def resolve_queue(name: str, ports: Ports) -> tuple[str, Stage]:
    """The queue and its stage for a stage name (`graph`) or a configured queue name; UnknownQueueError else."""
    queues = ports.settings.queues
    if name in queues:
        return queues[name], Stage(name)
    for stage, queue in queues.items():
        if queue == name:
            return queue, Stage(stage)
    raise UnknownQueueError(name)


def dead_letter_port(ports: Ports) -> DeadLetterQueues:
    if not isinstance(ports.bus, DeadLetterQueues):
        raise DeadLettersUnsupportedError(ports.bus)
    return ports.bus


# -- listing


def list_dead_letters(name: str, ports: Ports, *, samples: int = SAMPLES) -> DeadLetterSummary:
    """Counts by reason and the oldest `samples` of the queue's dead letters (at most SCAN_LIMIT read)."""
    queue, stage = resolve_queue(name, ports)
    peeked = dead_letter_port(ports).peek_dead_letters(queue, SCAN_LIMIT + 1)
    read = peeked[:SCAN_LIMIT]
    by_reason = Counter(message.dead_letter_reason or "" for message in read)
    by_code = Counter(code for message in read if (code := reason_code(message)))
    return DeadLetterSummary(
        queue=queue,
        stage=stage.value,
        scanned=len(read),
        truncated=len(peeked) > SCAN_LIMIT,
        by_reason=dict(by_reason.most_common()),
        by_reason_code=dict(by_code.most_common()),
        samples=[sample(message) for message in read[:samples]],
    )


def reason_code(message: DeadLetter) -> str | None:
    """Our reason code: the DeadLetterReason itself when it is one (hosts that dead-letter with it), else the first
    registered code its description names."""
    if message.dead_letter_reason in _KNOWN_CODES:
        return message.dead_letter_reason
    for candidate in _REASON_CODE.findall(message.dead_letter_error_description or ""):
        if candidate in _KNOWN_CODES:
            return str(candidate)
    return None


def sample(message: DeadLetter) -> DeadLetterSample:
    job_id, stage, batch = _where(message)
    return DeadLetterSample(
        message_id=message.message_id,
        sequence_number=message.sequence_number,
        job_id=job_id,
        stage=stage,
        batch=batch,
        enqueued_time=message.enqueued_time,
        delivery_count=message.delivery_count,
        dead_letter_reason=message.dead_letter_reason,
        reason_code=reason_code(message),
        description=(message.dead_letter_error_description or "")[:500] or None,
    )


def _where(message: DeadLetter) -> tuple[str | None, str | None, int | None]:
    # The properties repeat the envelope's job, stage and batch (shared.adapters.bus_messages) for exactly this.
    properties = message.application_properties
    job_id, stage, batch = properties.get("job_id"), properties.get("stage"), properties.get("batch")
    return (
        str(job_id) if job_id is not None else None,
        str(stage) if stage is not None else None,
        int(batch) if isinstance(batch, int | str) and str(batch).isdigit() else None,
    )


# -- replay


def duplicate_window(port: DeadLetterQueues, queue: str, settings: Settings) -> tuple[timedelta, bool]:
    """The queue's duplicate detection window, and whether it was assumed from the settings (unreadable)."""
    window = port.duplicate_detection_window(queue)
    if window is None:
        return timedelta(seconds=settings.duplicate_detection_window_seconds), True
    return window, False


def replay_dead_letters(
    name: str, request: ReplayRequest, ports: Ports, *, now: Callable[[], datetime] | None = None
) -> ReplayReport:
    """Replay the queue's dead letters that `request` selects (see the module's docstring for the rules)."""
    clock = now or (lambda: datetime.now(UTC))
    queue, stage = resolve_queue(name, ports)
    port = dead_letter_port(ports)
    window, assumed = duplicate_window(port, queue, ports.settings)
    run = _Run(request, ports, port, queue, window, clock)
    if request.dry_run:
        run.consider(port.peek_dead_letters(queue, SCAN_LIMIT), None)
    else:
        with port.dead_letter_receiver(queue) as receiver:
            run.receive_all(receiver)
    outcomes = Counter(item.outcome for item in run.items)
    log.info("replay of %s: %s (dry run: %s)", queue, dict(outcomes), request.dry_run)
    return ReplayReport(
        queue=queue,
        stage=stage.value,
        dry_run=request.dry_run,
        duplicate_window_seconds=window.total_seconds(),
        window_assumed=assumed,
        scanned=run.scanned,
        matched=len(run.items),
        replayed=outcomes[Outcome.REPLAYED],
        held=outcomes[Outcome.HELD],
        skipped=outcomes[Outcome.SKIPPED],
        items=run.items,
    )


class _Run:
    """One replay: the messages read so far, what became of each, and what is known of their jobs."""

    def __init__(
        self,
        request: ReplayRequest,
        ports: Ports,
        port: DeadLetterQueues,
        queue: str,
        window: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self.request = request
        self.ports = ports
        self.port = port
        self.queue = queue
        self.window = window
        self.clock = clock
        self.items: list[ReplayItem] = []
        self.scanned = 0
        self.replayed = 0
        self._seen: set[int] = set()
        self._superseded: dict[str, str | None] = {}

    def receive_all(self, receiver: DeadLetterReceiver) -> None:
        # What is not replayed stays locked until the receiver closes, so the next receive moves on to newer messages
        # instead of handing the same ones back; a receive with nothing new (or a full scan) ends the run.
        while self.scanned < SCAN_LIMIT and self.replayed < self.request.limit:
            received = receiver.receive(min(RECEIVE_BATCH, SCAN_LIMIT - self.scanned))
            if not self.consider(received, receiver):
                return

    def consider(self, messages: Iterable[DeadLetter], receiver: DeadLetterReceiver | None) -> bool:
        """Decide on (and, with a receiver, act on) each new message; whether any was new."""
        fresh = False
        for message in messages:
            if message.sequence_number in self._seen:
                continue  # its lock lapsed and it came back: decided already
            self._seen.add(message.sequence_number)
            fresh = True
            self.scanned += 1
            if self.replayed >= self.request.limit:
                continue  # left locked, released with the receiver
            item = self.decide(message)
            if item is None:
                continue  # not selected by the filters
            if item.outcome is Outcome.REPLAYED:
                self.replayed += 1
                if receiver is not None:
                    item = self.replay(message, item, receiver)
            self.items.append(item)
        return fresh

    def decide(self, message: DeadLetter) -> ReplayItem | None:
        """What to do with one message (None: the filters do not select it)."""
        job_id, stage, batch = _where(message)
        envelope = _envelope(message)
        if envelope is not None:
            job_id, stage, batch = envelope.job_id, envelope.stage.value, envelope.batch
        if self.request.job_id is not None and job_id != self.request.job_id:
            return None
        if self.request.reason is not None and self.request.reason not in (
            message.dead_letter_reason,
            reason_code(message),
        ):
            return None
        item = ReplayItem(
            message_id=message.message_id,
            sequence_number=message.sequence_number,
            job_id=job_id,
            stage=stage,
            batch=batch,
            outcome=Outcome.REPLAYED,
        )
        if envelope is None:
            return _skip(item, Reason.MESSAGE_MALFORMED, "the body is not an envelope")
        refusal = self.refusal(envelope)
        if refusal is not None:
            return _skip(item, *refusal)
        # The margin never exceeds the window: a window of seconds (a test's) is the local broker's, on our clock.
        replayable_at = message.enqueued_time + self.window + min(CLOCK_MARGIN, self.window)
        if self.window > timedelta(0) and replayable_at > self.clock():
            return item.model_copy(
                update={
                    "outcome": Outcome.HELD,
                    "reason_code": Reason.DEADLETTER_DUPLICATE_WINDOW_OPEN.value,
                    "detail": f"enqueued {message.enqueued_time.isoformat()}; the queue drops its MessageId for "
                    f"{self.window.total_seconds():g} s",
                    "replayable_at": replayable_at,
                }
            )
        return item

    def refusal(self, envelope: Envelope) -> tuple[Reason, str] | None:
        """Why the envelope's job cannot take it back, if it cannot."""
        job = self.ports.jobs.get_job(envelope.job_id)
        if job is None:
            return Reason.MESSAGE_UNKNOWN_JOB, f"no job {envelope.job_id}"
        if job.kind is not JobKind.INGEST or envelope.stage is Stage.DELETE:
            return Reason.DEADLETTER_NOT_REPLAYABLE, f"a {job.kind.value} job's {envelope.stage} message"
        if envelope.stage is Stage.CLEANUP:
            return None  # sent by a job that succeeded; the handler never removes the committed version
        if job.state in (JobState.SUCCEEDED, JobState.SKIPPED):
            return Reason.DEADLETTER_JOB_FINISHED, f"the job {job.state.value}"
        if job.state in (JobState.QUEUED, JobState.PARSING) or job.batches_expected is None:
            return Reason.DEADLETTER_JOB_INCOMPLETE, f"the job is {job.state.value}, its parse never finished"
        if job.job_id not in self._superseded:
            self._superseded[job.job_id] = self.superseded_by(job)
        superseded = self._superseded[job.job_id]
        return (Reason.DEADLETTER_JOB_SUPERSEDED, superseded) if superseded else None

    def superseded_by(self, job: Job) -> str | None:
        """What took the job's place, if anything: the document's later state, or a newer job of it."""
        document = self.ports.jobs.document_state(job.document_id)
        if document is not None and document.generation != job.generation:
            return f"the document was deleted since (generation {document.generation})"
        if document is not None and document.committed_version != job.base_version:
            return "the document committed another version since"
        newer = self.ports.jobs.list_jobs_page(
            JobFilter(prefix=job.path, since=job.created_at), limit=NEWER_JOBS_CHECKED
        )
        for other in newer:
            if other.document_id == job.document_id and other.job_id != job.job_id:
                return f"a newer job of the document exists: {other.job_id} ({other.state.value})"
        return None

    def replay(self, message: DeadLetter, item: ReplayItem, receiver: DeadLetterReceiver) -> ReplayItem:
        """Reopen the batch, resend the message, then complete its dead-lettered copy (in that order)."""
        reopened = False
        if item.job_id is not None and item.stage is not None and item.batch is not None:
            reopened = self.ports.jobs.reopen_batch(item.job_id, Stage(item.stage), item.batch)
        self.port.resend(self.queue, message)
        receiver.complete(message)
        return item.model_copy(update={"job_reopened": reopened, "detail": "resent with its MessageId"})


def _envelope(message: DeadLetter) -> Envelope | None:
    try:
        return Envelope.model_validate_json(message.body)
    except ValidationError:
        return None


def _skip(item: ReplayItem, reason: Reason, detail: str) -> ReplayItem:
    return item.model_copy(update={"outcome": Outcome.SKIPPED, "reason_code": reason.value, "detail": detail})
