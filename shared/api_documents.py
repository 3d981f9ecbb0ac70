"""The documents API's answers, independent of HTTP: delete a document (DELETE /api/documents/{id})."""

from pydantic import BaseModel, Field

from shared.api_answers import ApiAnswer
from shared.domain import Job
from shared.pipeline.delete import request_delete
from shared.ports import Ports


class DeleteAnswer(BaseModel):
    document_id: str
    job: Job | None = Field(description="the delete job; null for a document no job ever named")
    status_url: str | None = Field(None, description="where to poll the delete job")
    detail: str | None = None


def delete_document(ports: Ports, document_id: str) -> ApiAnswer:
    """202 with the delete job (poll /api/jobs/{id}); 200 and no job for a document no job ever named: deleting what
    does not exist is a no-op, so a repeated or late request is harmless."""
    job = request_delete(document_id, ports)
    if job is None:
        answer = DeleteAnswer(document_id=document_id, job=None, detail="unknown document")
        return ApiAnswer(status=200, body=answer.model_dump(mode="json", exclude_none=True) | {"job": None})
    answer = DeleteAnswer(document_id=document_id, job=job, status_url=f"/api/jobs/{job.job_id}")
    return ApiAnswer(status=202, body=answer.model_dump(mode="json", exclude_none=True))
