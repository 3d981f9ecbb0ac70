"""Retry of a failed job: its file goes through ingest again, the path a user's re-upload of it takes.

Ingest answers a failed job's content with a new attempt (`ids.retry_job_id`), keyed on the upload's event id. A
retry asked for on purpose is an upload of its own, named after the job it retries, so asking twice maps to the same
attempt (nothing runs twice), and retrying that attempt in turn, should it fail too, starts the next one. What the
file holds now is what runs: changed content since the failure is simply a new version.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, Field

from shared.domain import BlobEvent, Job, JobKind, JobState, Reason, TributaryError
from shared.pipeline.delete import blob_exists
from shared.pipeline.ingest import ingest_blob
from shared.ports import Ports

log = logging.getLogger(__name__)

RETRY_EVENT_PREFIX = "retry:"


class RetryRefusedError(TributaryError):
    """This job cannot be retried (still running, a delete job, its file gone); the reason code says which."""


class RetryOutcome(BaseModel):
    """What a retry did: whether an attempt ran, the job asked about, and the attempt's job."""

    retried: bool = Field(description="false: nothing to retry (the job succeeded or was skipped)")
    detail: str
    job: Job = Field(description="the job asked about")
    attempt: Job | None = Field(None, description="the job the retry ran (or one an earlier retry of it started)")


def retry_job(job: Job, ports: Ports) -> RetryOutcome:
    """Start a new attempt of a failed ingest job; a no-op for one that succeeded or was skipped.

    Raises RetryRefusedError for a job still running, a delete job, or one whose file is gone."""
    if job.state in (JobState.SUCCEEDED, JobState.SKIPPED):
        return RetryOutcome(retried=False, detail=f"the job {job.state.value}: nothing to retry", job=job)
    if job.state is not JobState.FAILED:
        raise RetryRefusedError(Reason.RETRY_JOB_NOT_FINISHED, f"the job is {job.state.value}; wait for it to end")
    if job.kind is not JobKind.INGEST:
        raise RetryRefusedError(Reason.RETRY_NOT_SUPPORTED, f"a {job.kind.value} job is not retried; delete again")
    container, _, path = job.path.partition("/")
    if not blob_exists(container, path, ports):
        raise RetryRefusedError(Reason.RETRY_BLOB_MISSING, f"{job.path} is no longer there")
    event = BlobEvent(event_id=RETRY_EVENT_PREFIX + job.job_id, container=container, path=path)
    outcome = ingest_blob(event, ports)
    if outcome is None:  # a path outside the incoming container: ingest ignores it, and so must a retry
        raise RetryRefusedError(Reason.INGEST_NOT_INCOMING_CONTAINER, f"{container} is not the incoming container")
    log.info("retry of job %s: attempt %s %s", job.job_id, outcome.job_id, outcome.state)
    attempt = ports.jobs.get_job(outcome.job_id)
    detail = f"attempt {outcome.job_id} is {outcome.state.value}" + (f": {outcome.detail}" if outcome.detail else "")
    return RetryOutcome(retried=True, detail=detail, job=job, attempt=attempt)
