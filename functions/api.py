"""HTTP operations API: health (anonymous), job status, search and document delete (function key)."""

import json

import azure.functions as func

from shared.api_answers import ApiAnswer
from shared.api_documents import delete_document
from shared.api_health import health_report
from shared.api_jobs import get_job, list_jobs
from shared.api_search import search as search_chunks
from shared.app_ports import app_ports

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    status, report = health_report()
    return func.HttpResponse(json.dumps(report), mimetype="application/json", status_code=status)


@bp.route(route="jobs/{job_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def job_status(req: func.HttpRequest) -> func.HttpResponse:
    return _json(get_job(app_ports().jobs, req.route_params["job_id"]))


@bp.route(route="jobs", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def jobs(req: func.HttpRequest) -> func.HttpResponse:
    return _json(list_jobs(app_ports().jobs, dict(req.params)))


@bp.route(route="search", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def search(req: func.HttpRequest) -> func.HttpResponse:
    return _json(search_chunks(app_ports(), dict(req.params)))


@bp.route(route="documents/{document_id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
def document_delete(req: func.HttpRequest) -> func.HttpResponse:
    return _json(delete_document(app_ports(), req.route_params["document_id"]))


def _json(answer: ApiAnswer) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(answer.body), mimetype="application/json", status_code=answer.status)
