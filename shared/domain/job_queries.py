"""What the operations API asks the job store: jobs by filter a page at a time, and jobs counted by group."""

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.jobs import JobKind, JobState

# The format of a job is its file's extension (lower case ASCII, at most 16 characters; "" without one): known for
# every job from its path, and the same expression in every store (SQLite's function, PostgreSQL's in migration 0006).
_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,16})$")


def file_format(path: str) -> str:
    """The extension of the path's last segment, lower case ('' when it has none)."""
    match = _EXTENSION.search(path)
    return match[1].lower() if match else ""


class JobFilter(BaseModel):
    """Which jobs a listing returns; every condition given must hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: JobState | None = None
    since: datetime | None = Field(None, description="created at or after (timezone-aware)")
    prefix: str | None = Field(None, description="the job's path (container/blob) starts with it, case-sensitive")
    reason: str | None = Field(None, description="the job's reason code")


class JobKey(BaseModel):
    """A job's place in the newest-first order: a page continues strictly after it (keyset pagination)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    created_at: datetime
    job_id: str


class JobGroup(BaseModel):
    """How many jobs share a kind, state, reason code and format, with what they add up to."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: JobKind
    state: JobState
    reason_code: str | None
    format: str
    jobs: int
    bytes: int
    chunks: int
    entities: int
