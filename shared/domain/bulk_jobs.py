"""Bulk jobs (DESIGN.md §4): one per bulk run (`POST /api/bulk`, `tributary bulk`), linked to each document job it
started. Its counts are read from what the job store holds (the pages listed, the items run), never carried from the
orchestrator's memory, so a run cancelled midway still says truthfully what ran."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class BulkOperation(StrEnum):
    REPROCESS = "reprocess"  # each blob again through ingest, as a new job even if its content is unchanged
    DELETE = "delete"  # each blob's document out of the graph, the vector index and the served versions


class BulkState(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # terminated: what ran before the stop is in the counts
    FAILED = "failed"  # the orchestration itself failed (not an item: items fail one by one)


BULK_TERMINAL_STATES = frozenset({BulkState.COMPLETED, BulkState.CANCELLED, BulkState.FAILED})


class ItemOutcome(StrEnum):
    DONE = "done"  # the document job was started (reprocess) or the delete recorded (delete)
    FAILED = "failed"  # the item could not be run, or its job failed at once; the reason code says why
    SKIPPED = "skipped"  # nothing to do: the blob is gone, or the document is unknown to a delete


class BulkCounts(BaseModel):
    """What the store knows of a run: blobs listed (by pages recorded) and items run, by outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pages: int = 0
    listed: int = 0
    listed_bytes: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def ran(self) -> int:
        return self.done + self.failed + self.skipped


class BulkJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bulk_id: str = Field(description="the orchestration's instance id")
    operation: BulkOperation
    container: str
    selector: str = Field("", description="what the request selected (prefix, modified since, paths), as JSON")
    dry_run: bool = False
    state: BulkState = BulkState.RUNNING
    reason_code: str | None = None
    counts: BulkCounts = Field(default_factory=BulkCounts, description="computed by the store on every read")
    created_at: datetime
    updated_at: datetime

    @property
    def terminal(self) -> bool:
        return self.state in BULK_TERMINAL_STATES


class BulkItem(BaseModel):
    """One blob of a run: what became of it, and the document job it started (the link)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="blob path within the run's container")
    outcome: ItemOutcome
    job_id: str | None = Field(None, description="the document job (reprocess) or delete job it started")
    reason_code: str | None = None
