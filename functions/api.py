"""HTTP operations API: health and this API's OpenAPI document (anonymous); jobs, stats, retry, search, trace, document
delete (function key). Each route is declared in shared/api_routes.py; the answers are built in shared/api_*.py."""

import azure.functions as func

from functions.http import http_route, respond
from shared import api_routes as routes
from shared.api_deadletters import dead_letters as dead_letter_summary
from shared.api_deadletters import replay as replay_dead_letters
from shared.api_documents import delete_document
from shared.api_health import health_answer
from shared.api_jobs import get_job, list_jobs
from shared.api_openapi import served_document
from shared.api_retry import retry
from shared.api_search import search as search_chunks
from shared.api_stats import stats as job_stats
from shared.api_trace import get_trace
from shared.app_ports import app_ports

bp = func.Blueprint()


@http_route(bp, routes.HEALTH)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, health_answer)


@http_route(bp, routes.OPENAPI)
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(served_document(), mimetype="application/json")


@http_route(bp, routes.JOB)
def job_status(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: get_job(app_ports().jobs, req.route_params["job_id"]))


@http_route(bp, routes.JOBS)
def jobs(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: list_jobs(app_ports().jobs, dict(req.params)))


@http_route(bp, routes.JOB_RETRY)
def job_retry(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: retry(app_ports(), req.route_params["job_id"]))


@http_route(bp, routes.STATS)
def stats(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: job_stats(app_ports().jobs))


@http_route(bp, routes.SEARCH)
def search(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: search_chunks(app_ports(), dict(req.params)))


@http_route(bp, routes.DOCUMENT_DELETE)
def document_delete(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: delete_document(app_ports(), req.route_params["document_id"]))


@http_route(bp, routes.TRACE)
def trace(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: get_trace(app_ports().jobs, req.route_params["tracking_id"]))


@http_route(bp, routes.DEAD_LETTERS)
def dead_letters(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: dead_letter_summary(app_ports(), req.route_params["queue"]))


@http_route(bp, routes.DEAD_LETTERS_REPLAY)
def dead_letters_replay(req: func.HttpRequest) -> func.HttpResponse:
    return respond(req, lambda: replay_dead_letters(app_ports(), req.route_params["queue"], req.get_body()))
