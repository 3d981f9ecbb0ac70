"""The jobs API's answers, independent of HTTP: a job by id, and jobs listed by state."""

from pydantic import BaseModel, ConfigDict, Field

from shared.api_answers import ApiAnswer, parse_query
from shared.domain import Job, JobState, Reason
from shared.domain.jobs import extraction_summary
from shared.ports import JobStore


class JobQuery(BaseModel):
    """The query string of GET /api/jobs."""

    model_config = ConfigDict(extra="ignore")

    state: JobState | None = None
    limit: int = Field(50, ge=1, le=1000)


def get_job(jobs: JobStore, job_id: str) -> ApiAnswer:
    job = jobs.get_job(job_id)
    if job is None:
        return ApiAnswer(status=404, body={"error": Reason.JOB_NOT_FOUND, "job_id": job_id})
    return ApiAnswer(status=200, body=_job_body(jobs, job))


def list_jobs(jobs: JobStore, query: dict[str, str]) -> ApiAnswer:
    parsed = parse_query(JobQuery, query)
    if isinstance(parsed, ApiAnswer):
        return parsed
    listed = jobs.list_jobs(state=parsed.state, limit=parsed.limit)
    return ApiAnswer(status=200, body={"jobs": [job.model_dump(mode="json") for job in listed]})


def _job_body(jobs: JobStore, job: Job) -> dict:
    issues = jobs.list_issues(job.job_id, limit=100) if job.issues else []
    extractions = jobs.list_extractions(job.job_id)
    return job.model_dump(mode="json") | {
        "issue_samples": [issue.model_dump(mode="json") for issue in issues],
        # Per extract batch: which extractor produced it and what it cost (LLM tokens, cache hits, fallbacks).
        "extraction": extraction_summary(extractions) | {"per_batch": [r.model_dump() for r in extractions]},
    }
