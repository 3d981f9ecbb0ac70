"""GET /api/stats, independent of HTTP: jobs counted by state, format and reason code over the last hour, the last
day and all time, with the files, bytes, chunks and entities they account for."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field

from shared.api_answers import ApiAnswer
from shared.domain import JobKind
from shared.domain.job_queries import JobGroup
from shared.ports import JobStore

NO_FORMAT = "none"  # the format key of files without an extension


class StatsWindow(BaseModel):
    """Jobs created in a window. Files, bytes, chunks, entities and formats count ingest jobs (one per upload of a
    file); states and reasons count every job (deletes too)."""

    since: datetime | None = Field(description="the window's start; null for all time")
    jobs: int
    files: int = Field(description="ingest jobs: one per upload (a re-upload is another, skipped if unchanged)")
    bytes: int = Field(description="size of the files uploaded")
    chunks: int
    entities: int = Field(description="entity mentions extracted (an entity found in two chunks counts twice)")
    by_state: dict[str, int]
    by_format: dict[str, int] = Field(description=f"by lower-cased file extension ({NO_FORMAT!r}: none)")
    by_reason: dict[str, int] = Field(description="by reason code, for jobs that have one")


class Stats(BaseModel):
    generated_at: datetime
    last_hour: StatsWindow
    last_day: StatsWindow
    all_time: StatsWindow


def stats(jobs: JobStore, now: datetime | None = None) -> ApiAnswer:
    now = now or datetime.now(UTC)
    body = Stats(
        generated_at=now,
        last_hour=window(jobs.job_groups(now - timedelta(hours=1)), now - timedelta(hours=1)),
        last_day=window(jobs.job_groups(now - timedelta(days=1)), now - timedelta(days=1)),
        all_time=window(jobs.job_groups(None), None),
    )
    return ApiAnswer(status=200, body=body.model_dump(mode="json"))


def window(groups: list[JobGroup], since: datetime | None) -> StatsWindow:
    """The groups the store counted, folded into one window's totals."""
    ingest = [group for group in groups if group.kind is JobKind.INGEST]
    by_state: Counter[str] = Counter()
    by_format: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    for group in groups:
        by_state[group.state.value] += group.jobs
        if group.reason_code:
            by_reason[group.reason_code] += group.jobs
    for group in ingest:
        by_format[group.format or NO_FORMAT] += group.jobs
    return StatsWindow(
        since=since,
        jobs=sum(group.jobs for group in groups),
        files=sum(group.jobs for group in ingest),
        bytes=sum(group.bytes for group in ingest),
        chunks=sum(group.chunks for group in ingest),
        entities=sum(group.entities for group in ingest),
        by_state=dict(sorted(by_state.items())),
        by_format=dict(sorted(by_format.items())),
        by_reason=dict(sorted(by_reason.items())),
    )
