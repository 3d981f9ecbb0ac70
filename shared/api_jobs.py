"""The jobs API's answers, independent of HTTP: a job by id, and jobs listed by filter a page at a time.

Pages are keyset pages: a cursor names the last job of the page before (its creation time and id), so a page goes on
where the last ended whatever was inserted since (newer jobs come before the first page, never inside the walk).
The cursor is opaque to clients: base64url of a small JSON object, checked when it comes back.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from http import HTTPStatus

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.api_answers import ApiAnswer, parse_query, problem
from shared.domain import Job, JobState, ParseIssue, Reason
from shared.domain.job_queries import JobFilter, JobKey
from shared.domain.jobs import BatchExtraction, extraction_summary
from shared.ports import JobStore

ISSUE_SAMPLES = 100


def _in_utc(value: datetime) -> datetime:
    """The time in UTC; one that UTC cannot hold (year 1 east of Greenwich) is invalid input, not a crash."""
    try:
        return value.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("the time is out of range once in UTC") from error


class JobsQuery(BaseModel):
    """The query string of GET /api/jobs."""

    model_config = ConfigDict(extra="ignore")

    state: JobState | None = Field(None, description="only jobs in this state")
    since: AwareDatetime | None = Field(None, description="only jobs created at or after this time (with its offset)")
    prefix: str | None = Field(
        None, min_length=1, max_length=1024, description="only jobs whose path (container/blob) starts with it"
    )
    reason: str | None = Field(None, min_length=1, max_length=200, description="only jobs with this reason code")
    limit: int = Field(50, ge=1, le=1000, description="jobs per page")
    cursor: str | None = Field(
        None, max_length=2000, pattern=r"^[A-Za-z0-9_-]+$", description="next_cursor of the page before (opaque)"
    )

    @field_validator("since")
    @classmethod
    def _since_in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _in_utc(value)

    def filter(self) -> JobFilter:
        return JobFilter(state=self.state, since=self.since, prefix=self.prefix, reason=self.reason)


class JobExtraction(BaseModel):
    """What extracted the job's batches and what it cost, added up, and per extract batch."""

    model_config = ConfigDict(extra="allow")  # the summary's keys (domain.jobs.extraction_summary)

    per_batch: list[BatchExtraction] = Field(default_factory=list)


class JobDetail(Job):
    """A job, with the first of the issues found in its file and what extracted it."""

    issue_samples: list[ParseIssue] = Field(description=f"the first {ISSUE_SAMPLES} issues, in the order found")
    extraction: JobExtraction = Field(
        default_factory=JobExtraction,
        description="per extract batch: which extractor produced it and what it cost (LLM tokens, cache, fallbacks)",
    )


class JobPage(BaseModel):
    """A page of jobs, newest first."""

    jobs: list[Job]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class InvalidCursorError(ValueError):
    """A cursor this API did not hand out."""


def encode_cursor(job: Job) -> str:
    payload = json.dumps({"t": job.created_at.astimezone(UTC).isoformat(), "j": job.job_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> JobKey:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        fields = json.loads(raw)
        created = _in_utc(datetime.fromisoformat(fields["t"]))
        return JobKey(created_at=created, job_id=fields["j"])
    except (binascii.Error, ValueError, TypeError, KeyError, ValidationError) as error:
        raise InvalidCursorError(str(error)) from error


def get_job(jobs: JobStore, job_id: str) -> ApiAnswer:
    job = jobs.get_job(job_id)
    if job is None:
        return problem(HTTPStatus.NOT_FOUND, Reason.JOB_NOT_FOUND, f"no job has the id {job_id!r}")
    issues = jobs.list_issues(job.job_id, limit=ISSUE_SAMPLES) if job.issues else []
    extractions = jobs.list_extractions(job.job_id)
    extraction = JobExtraction(**extraction_summary(extractions), per_batch=extractions)
    detail = JobDetail(**job.model_dump(), issue_samples=issues, extraction=extraction)
    return ApiAnswer(status=200, body=detail.model_dump(mode="json"))


def list_jobs(jobs: JobStore, query: dict[str, str]) -> ApiAnswer:
    parsed = parse_query(JobsQuery, query)
    if isinstance(parsed, ApiAnswer):
        return parsed
    try:
        after = decode_cursor(parsed.cursor) if parsed.cursor else None
    except InvalidCursorError:
        return problem(HTTPStatus.BAD_REQUEST, Reason.REQUEST_INVALID_CURSOR, "the cursor is not one this API issued")
    return ApiAnswer(status=200, body=jobs_page(jobs, parsed, after).model_dump(mode="json"))


def jobs_page(jobs: JobStore, query: JobsQuery, after: JobKey | None) -> JobPage:
    """One page; a page one longer than asked for is read to know whether another follows."""
    listed = jobs.list_jobs_page(query.filter(), limit=query.limit + 1, after=after)
    page = listed[: query.limit]
    return JobPage(jobs=page, next_cursor=encode_cursor(page[-1]) if len(listed) > query.limit else None)
