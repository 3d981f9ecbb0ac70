"""The trace API's answer, independent of HTTP: every stage batch of one file's jobs, in order, with durations and
the message ids, read from the job store (it exists on every host, where the spans may not: on Azure they are in
Application Insights). GET /api/trace/{tracking_id} and `tributary trace` both build it here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from http import HTTPStatus

from pydantic import BaseModel, ConfigDict, Field

from shared.api_answers import ApiAnswer, problem
from shared.domain import SINK_STAGES, BatchOutcome, Job, JobKind, JobState, Reason, Stage
from shared.domain.stage_events import StageEvent
from shared.ports import JobStore

MAX_JOBS = 20  # a client's tracking id may name many uploads: the newest are shown
MAX_EVENTS = 5000  # per job; the stage totals still count every event
# No job id (a hash) nor tracking id (a trace id, or at most 128 characters from the metadata) is longer: a longer
# one matches nothing, and is not worth a query.
MAX_ID_LENGTH = 256


class StageTotal(BaseModel):
    """One stage of a job, added up over its batches."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage
    batches: int = Field(description="batches recorded (done and dead-lettered)")
    dead_lettered: int
    total_ms: float = Field(description="the handler's time summed over the batches whose duration is known")
    max_ms: float | None = Field(description="the slowest batch; null when no duration is known")


class JobTrace(BaseModel):
    """One job of the trace: its times, each stage batch in order, and the stages added up."""

    model_config = ConfigDict(extra="forbid")

    job_id: str
    kind: JobKind
    path: str
    document_id: str
    version: str
    state: JobState
    reason_code: str | None
    created_at: datetime
    started_at: datetime | None = Field(description="the first stage batch recorded; null before any")
    finished_at: datetime | None = Field(
        description="null while running; succeeded: when its last sink batch settled it; failed or skipped: the"
        " job's last change"
    )
    events: list[StageEvent] = Field(description="by recorded time, then stage order, then batch")
    events_omitted: int = Field(0, description=f"events past the first {MAX_EVENTS}, left out (the totals count them)")
    stages: list[StageTotal] = Field(description="in pipeline order")


class TraceAnswer(BaseModel):
    """The jobs of one tracking id, newest first, each with its stage events."""

    model_config = ConfigDict(extra="forbid")

    tracking_id: str
    jobs: list[JobTrace]
    jobs_omitted: bool = Field(False, description=f"more than {MAX_JOBS} jobs carry this tracking id: the newest shown")


def get_trace(jobs: JobStore, wanted: str) -> ApiAnswer:
    """The trace of a tracking id, or of the tracking id of the job `wanted` names; 404 when nothing matches."""
    answer = build_trace(jobs, wanted)
    if answer is None:
        return problem(
            HTTPStatus.NOT_FOUND, Reason.TRACE_NOT_FOUND, f"no job has the id or tracking id {wanted[:80]!r}"
        )
    return ApiAnswer(status=200, body=answer.model_dump(mode="json"))


def build_trace(jobs: JobStore, wanted: str) -> TraceAnswer | None:
    """The answer of GET /api/trace/{wanted}, or None when no job has that id or tracking id."""
    if not wanted or len(wanted) > MAX_ID_LENGTH:
        return None
    named = jobs.get_job(wanted)
    tracking_id = named.tracking_id if named is not None else wanted
    found = jobs.jobs_by_tracking_id(tracking_id, MAX_JOBS + 1)
    omitted = len(found) > MAX_JOBS
    found = found[:MAX_JOBS]
    if named is not None and all(job.job_id != named.job_id for job in found):
        found.append(named)  # the job asked for is always shown, however many share its tracking id
    if not found:
        return None
    return TraceAnswer(
        tracking_id=tracking_id,
        jobs=[job_trace(job, jobs.stage_events(job.job_id)) for job in found],
        jobs_omitted=omitted,
    )


def job_trace(job: Job, events: Sequence[StageEvent]) -> JobTrace:
    """A job and its events (in trace order) as the answer shows them."""
    timed = [event.recorded_at for event in events if event.recorded_at is not None]
    return JobTrace(
        job_id=job.job_id,
        kind=job.kind,
        path=job.path,
        document_id=job.document_id,
        version=job.version,
        state=job.state,
        reason_code=job.reason_code,
        created_at=job.created_at,
        started_at=min(timed, default=None),
        finished_at=_finished_at(job, events),
        events=list(events[:MAX_EVENTS]),
        events_omitted=max(0, len(events) - MAX_EVENTS),
        stages=stage_totals(events),
    )


def stage_totals(events: Sequence[StageEvent]) -> list[StageTotal]:
    """Per stage met, in pipeline order: batches, dead letters, summed and longest handler time."""
    totals: list[StageTotal] = []
    for stage in Stage:
        mine = [event for event in events if event.stage is stage]
        if not mine:
            continue
        durations = [event.duration_ms for event in mine if event.duration_ms is not None]
        totals.append(
            StageTotal(
                stage=stage,
                batches=len(mine),
                dead_lettered=sum(event.outcome is BatchOutcome.DEAD_LETTERED for event in mine),
                total_ms=round(sum(durations), 3),
                max_ms=max(durations, default=None),
            )
        )
    return totals


def _finished_at(job: Job, events: Sequence[StageEvent]) -> datetime | None:
    if not job.terminal:
        return None
    if job.state is JobState.SUCCEEDED:
        # The sink batch that completed the job finished it in the same delivery (a delete: its one message).
        settling = [e.recorded_at for e in events if e.stage in (*SINK_STAGES, Stage.DELETE) and e.recorded_at]
        if settling:
            return max(settling)
    return job.updated_at
