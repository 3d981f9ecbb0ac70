"""POST /api/jobs/{id}/retry, independent of HTTP: a failed job starts a new attempt, as a re-upload of its file
would (shared/pipeline/retry.py)."""

from __future__ import annotations

from http import HTTPStatus

from shared.api_answers import ApiAnswer, problem
from shared.domain import Reason
from shared.pipeline.retry import RetryRefusedError, retry_job
from shared.ports import Ports


def retry(ports: Ports, job_id: str) -> ApiAnswer:
    """202 with the attempt (poll /api/jobs/{attempt}); 200 when there is nothing to retry; 404 for an unknown job;
    409 when the job cannot be retried (still running, a delete job, its file gone)."""
    job = ports.jobs.get_job(job_id)
    if job is None:
        return problem(HTTPStatus.NOT_FOUND, Reason.JOB_NOT_FOUND, f"no job has the id {job_id!r}")
    try:
        outcome = retry_job(job, ports)
    except RetryRefusedError as refused:
        return problem(HTTPStatus.CONFLICT, refused.reason_code, refused.detail)
    status = HTTPStatus.ACCEPTED if outcome.retried else HTTPStatus.OK
    return ApiAnswer(status=status, body=outcome.model_dump(mode="json"))
