"""The documents API's answers, independent of HTTP: delete a document (DELETE /api/documents/{id})."""

from shared.api_answers import ApiAnswer
from shared.pipeline.delete import request_delete
from shared.ports import Ports


def delete_document(ports: Ports, document_id: str) -> ApiAnswer:
    """202 with the delete job (poll /api/jobs/{id}); 200 and no job for a document no job ever named: deleting what
    does not exist is a no-op, so a repeated or late request is harmless."""
    job = request_delete(document_id, ports)
    if job is None:
        return ApiAnswer(status=200, body={"document_id": document_id, "job": None, "detail": "unknown document"})
    body = {"document_id": document_id, "job": job.model_dump(mode="json"), "status_url": f"/api/jobs/{job.job_id}"}
    return ApiAnswer(status=202, body=body)
