"""What a stage handler returns: the payload for the next stage and what it adds to the job's totals."""

from pydantic import BaseModel, ConfigDict, Field

from shared.domain import BatchPayload, Counts


class StageOutput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    payload: BatchPayload
    counts: Counts = Field(default_factory=Counts)
