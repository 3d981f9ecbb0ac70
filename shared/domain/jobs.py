"""Job state (DESIGN.md §4): one job per document version, truthful about every batch."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.ids import delete_job_id
from shared.domain.models import Stage


class JobState(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.SKIPPED})


class JobKind(StrEnum):
    INGEST = "ingest"  # one version of a document, parsed and written to the sinks
    DELETE = "delete"  # a document's versions removed from the sinks


class BatchOutcome(StrEnum):
    DONE = "done"
    DEAD_LETTERED = "dead_lettered"


class StageCounters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    done: int = 0
    dead_lettered: int = 0

    @property
    def settled(self) -> int:
        return self.done + self.dead_lettered


class Counts(BaseModel):
    """What a batch adds to its job's totals; applied only the first time the batch's marker is recorded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunks: int = 0
    entities: int = 0
    relations: int = 0
    bytes: int = 0


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    kind: JobKind = JobKind.INGEST
    document_id: str
    path: str
    version: str
    base_version: str | None = None
    generation: int = Field(default=0, ge=0, description="the document's generation the job belongs to")
    state: JobState = JobState.QUEUED
    reason_code: str | None = None
    last_error: str | None = None
    tracking_id: str
    size: int = 0
    batches_expected: int | None = Field(default=None, description="known once parsing has finished")
    stages: dict[Stage, StageCounters] = Field(default_factory=dict)
    totals: Counts = Field(default_factory=Counts)
    extractor: str | None = None
    issues: int = Field(default=0, description="part-of-file problems recorded (JobStore.list_issues)")
    created_at: datetime
    updated_at: datetime

    def counters(self, stage: Stage) -> StageCounters:
        return self.stages.get(stage, StageCounters())

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


class DocumentState(BaseModel):
    """What the job store knows of a document: the version readers are served, and its generation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    document_id: str
    path: str = Field(description="container/blob path")
    committed_version: str | None = None
    generation: int = Field(default=0, ge=0, description="a delete opens the next one")


def delete_job(document: DocumentState, tracking_id: str, now: datetime) -> Job:
    """The job that removes `document`'s current generation, started (PROCESSING) when the delete is recorded."""
    return Job(
        job_id=delete_job_id(document.document_id, document.generation),
        kind=JobKind.DELETE,
        document_id=document.document_id,
        path=document.path,
        version=document.committed_version or "",
        base_version=document.committed_version,
        generation=document.generation,
        state=JobState.PROCESSING,
        tracking_id=tracking_id,
        created_at=now,
        updated_at=now,
    )


class BatchExtraction(BaseModel):
    """Which extractor produced one extract batch and what it cost (recorded once per batch with the job)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch: int = Field(ge=0)
    extractor: str = Field(description="`llm:<deployment>`, the offline extractor's name, or both joined by `+`")
    chunks: int = Field(0, ge=0)
    model_chunks: int = Field(0, ge=0, description="chunks the model answered in this run")
    cached_chunks: int = Field(0, ge=0, description="chunks answered from the response cache (no request)")
    fallback_chunks: int = Field(0, ge=0, description="chunks the offline extractor read instead of the model")
    requests: int = Field(0, ge=0)
    input_tokens: int = Field(0, ge=0)
    output_tokens: int = Field(0, ge=0)
    dropped: int = Field(0, ge=0, description="entities and relations of the answers outside the schema, left out")
    fallback_reason: str | None = Field(None, description="reason code of the first fallback in the batch")


def extraction_summary(records: list[BatchExtraction]) -> dict[str, object]:
    """A job's extract batches added up: how many each extractor produced, chunks by where their answer came from,
    requests, tokens, what was dropped, and the fallback reasons met (each with its number of batches)."""
    by_extractor: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for record in records:
        by_extractor[record.extractor] = by_extractor.get(record.extractor, 0) + 1
        if record.fallback_reason:
            reasons[record.fallback_reason] = reasons.get(record.fallback_reason, 0) + 1
    summed = ("model_chunks", "cached_chunks", "fallback_chunks", "requests", "input_tokens", "output_tokens")
    totals = {name: sum(getattr(record, name) for record in records) for name in (*summed, "dropped")}
    return {"batches": len(records), "by_extractor": by_extractor, **totals, "fallback_reasons": reasons}
