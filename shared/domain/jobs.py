"""Job state (DESIGN.md §4): one job per document version, truthful about every batch."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.models import Stage


class JobState(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


TERMINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.SKIPPED})


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
    document_id: str
    path: str
    version: str
    base_version: str | None = None
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
