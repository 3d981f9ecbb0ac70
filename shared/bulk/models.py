"""What travels in a bulk run: the HTTP request, the orchestration's input, each activity's input and output, the
progress in custom status and the summary. One model per activity input, evolved by adding fields; every one small
(ids and paths, never content), since Durable keeps each in the orchestration's history."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.communities.refresh import CommunityRefresh
from shared.domain.bulk_jobs import BulkCounts, BulkItem, BulkOperation, BulkState, ItemOutcome

MAX_PATHS = 1000  # explicit paths per request: they travel in the orchestration's input


class BulkRequest(BaseModel):
    """The body of `POST /api/bulk`. Selectors combine: a blob is selected when it matches every one given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: BulkOperation
    container: str | None = Field(None, description="the incoming container (the only one whose blobs are documents)")
    prefix: str | None = Field(None, max_length=1024, description='blobs whose name starts with it ("": all)')
    modified_since: AwareDatetime | None = Field(None, description="blobs modified at or after this time")
    paths: list[str] | None = Field(
        None, max_length=MAX_PATHS, description="these blobs (repeats counted once; a missing one is skipped)"
    )
    dry_run: bool = Field(False, description="list and count only: nothing is reprocessed or deleted")

    @field_validator("paths")
    @classmethod
    def _distinct_named_paths(cls, paths: list[str] | None) -> list[str] | None:
        if paths is None:
            return None
        if any(not path or len(path) > 1024 for path in paths):
            raise ValueError("a path must be 1 to 1024 characters")
        return list(dict.fromkeys(paths))  # repeats once, in the order given

    @property
    def selects_something(self) -> bool:
        return self.prefix is not None or self.modified_since is not None or self.paths is not None

    def selector(self) -> dict[str, object]:
        """What the request selected, as the bulk job records it (paths counted, not listed)."""
        chosen = {
            "prefix": self.prefix,
            "modified_since": self.modified_since.isoformat() if self.modified_since else None,
            "paths": len(self.paths) if self.paths is not None else None,
        }
        return {name: value for name, value in chosen.items() if value is not None}


class BulkProgress(BaseModel):
    """The orchestration's custom status: blobs listed so far (`total`) and what became of those run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    pages: int = 0
    listing_complete: bool = False
    dry_run: bool = False
    # Once every blob ran, when the run refreshes communities (absent otherwise): its document jobs, then the refresh.
    documents: Literal["waiting", "ended", "timed_out"] | None = Field(
        None, description="the run's document jobs: still running, all ended, or still running at the wait's end"
    )
    communities: CommunityRefresh | None = Field(None, description="the communities refresh that ended the run")
    communities_error: str | None = Field(None, description="why the communities refresh failed (the run did not)")

    def listed(self, page: ListedPage, *, last: bool) -> BulkProgress:
        return self.model_copy(
            update={
                "total": self.total + page.listed,
                "skipped": self.skipped + page.skipped,
                "pages": self.pages + 1,
                "listing_complete": last,
            }
        )

    def ran(self, outcomes: list[ItemOutcome]) -> BulkProgress:
        return self.model_copy(
            update={
                "done": self.done + outcomes.count(ItemOutcome.DONE),
                "failed": self.failed + outcomes.count(ItemOutcome.FAILED),
                "skipped": self.skipped + outcomes.count(ItemOutcome.SKIPPED),
            }
        )


class BulkRun(BaseModel):
    """The orchestration's input. The first generation gets it from the starter; each `continue_as_new` passes it
    on with the next page's token and the progress so far, so the history of one generation holds one page."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str
    operation: BulkOperation
    container: str
    prefix: str = ""
    modified_since: datetime | None = None
    paths: list[str] | None = Field(None, description="explicit paths not yet listed (the rest of the request's)")
    dry_run: bool = False
    selector: str = "{}"
    page_size: int = Field(500, ge=1)
    batch_size: int = Field(16, ge=1)
    page: int = Field(0, ge=0, description="the page this generation lists")
    continuation: str | None = None
    progress: BulkProgress = Field(default_factory=BulkProgress)
    # Absent from the input of a run started before these existed, which then ends as it would have then.
    communities: bool = Field(False, description="refresh communities once the run's document jobs have ended")
    settle_poll_seconds: int = Field(30, ge=1, description="how often to check whether the document jobs ended")
    settle_timeout_seconds: int = Field(7200, ge=0, description="how long to wait for them before refreshing anyway")


class ListPageInput(BaseModel):
    """`bulk_list_page`: list one page (or resolve one slice of explicit paths) and record it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str
    page: int
    container: str
    prefix: str = ""
    modified_since: datetime | None = None
    paths: list[str] | None = None
    continuation: str | None = None
    size: int


class ListedPage(BaseModel):
    """A page listed: the paths to run, how many blobs it selected (run or skipped), and the next page's token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    paths: list[str]
    listed: int
    listed_bytes: int = 0
    skipped: int = Field(0, description="selected but recorded as skipped already (an explicit path that is missing)")
    continuation: str | None = None


class ItemInput(BaseModel):
    """`bulk_item`: run one blob of the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str
    operation: BulkOperation
    container: str
    path: str


class BatchInput(BaseModel):
    """`bulk_settle_batch`: run again, as the last attempt, the blobs of a batch whose fan-out failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str
    operation: BulkOperation
    container: str
    paths: list[str]


class BatchOutcomes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    outcomes: list[ItemOutcome]


class BulkBegin(BaseModel):
    """`bulk_begin`: record the bulk job (once; a redelivery finds it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str
    operation: BulkOperation
    container: str
    selector: str
    dry_run: bool
    started_at: datetime


class SettleInput(BaseModel):
    """`bulk_documents_settled`: whether the run's document jobs have ended, checked from `after` (an item path)
    onwards, so each check reads only what the last one had not seen end."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str
    after: str | None = None


class SettleAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    settled: bool = Field(description="every item's job has ended (or the item started none)")
    after: str | None = Field(None, description="the last item known ended: where the next check starts")
    waiting_on: str | None = Field(None, description="the first job still running")


class CommunitiesInput(BaseModel):
    """`bulk_communities`: refresh the graph's communities at the end of a run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str


class BulkFinish(BaseModel):
    """`bulk_finish`: close the bulk job and read its summary from the job store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str


class BulkSummary(BaseModel):
    """A run as the job store knows it (never the orchestrator's memory): the orchestration's output, and what
    `GET /api/bulk/{id}` and `tributary bulk` show."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bulk_id: str
    operation: BulkOperation
    container: str
    selector: str
    dry_run: bool
    state: BulkState
    reason_code: str | None = None
    counts: BulkCounts
    not_run: int = Field(description="listed but never run: a cancelled run stopped before them")
    created_at: datetime
    updated_at: datetime


class BulkStatus(BaseModel):
    """`GET /api/bulk/{id}`: the summary, the orchestration's runtime status and its latest progress."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: BulkSummary
    runtime_status: str | None = Field(None, description="Durable's: Pending, Running, Completed, Terminated, ...")
    progress: BulkProgress | None = None
    items: list[BulkItem] = Field(default_factory=list, description="the first items, each with its document job")


class BulkAccepted(BaseModel):
    """The 202 answer to `POST /api/bulk` (Durable's check-status response): the run's id and where to watch it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    statusQueryGetUri: str  # noqa: N815 - Durable's own field names
    sendEventPostUri: str  # noqa: N815
    terminatePostUri: str  # noqa: N815
    purgeHistoryDeleteUri: str  # noqa: N815
    rewindPostUri: str | None = None  # noqa: N815
    restartPostUri: str | None = None  # noqa: N815
    suspendPostUri: str | None = None  # noqa: N815
    resumePostUri: str | None = None  # noqa: N815
