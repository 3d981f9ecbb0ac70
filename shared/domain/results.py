"""What a stage invocation reports back to whoever settles the message."""

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.jobs import JobState
from shared.domain.models import Stage


class StageResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    stage: Stage
    batch: int
    sent: list[str] = Field(default_factory=list, description="message ids sent downstream")
    marker_new: bool = Field(description="False on a redelivery of an already-processed batch")
    job_finished: JobState | None = Field(None, description="set when this invocation finished the job")


class IngestOutcome(BaseModel):
    """The result of one blob event: the job it led to and where that job stands."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str
    document_id: str
    path: str
    state: JobState
    reason_code: str | None = None
    detail: str | None = None
    batches: int = 0
    size: int = 0
