"""Bulk operations (Durable Functions): the HTTP starter and status, the orchestrator, its activities.
The logic lives in shared/bulk/; each function here decodes its input, calls it, and answers."""

import json
import logging
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from functions.http import http_route
from shared import api_routes as routes
from shared.api_answers import PROBLEM_JSON
from shared.app_ports import app_ports
from shared.bulk import activities
from shared.bulk.orchestrator import bulk_orchestrator as orchestrate
from shared.bulk.starter import Refusal, prepare_run, run_status, start
from shared.config import Settings

bp = df.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)
log = logging.getLogger(__name__)


@http_route(bp, routes.BULK_START)
@bp.durable_client_input(client_name="client")
async def bulk_start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    run = prepare_run(req.get_body(), Settings())
    if isinstance(run, Refusal):
        return _problem(run)
    await start(client, run, app_ports().jobs, datetime.now(UTC))
    return client.create_check_status_response(req, run.bulk_id)


@http_route(bp, routes.BULK_STATUS)
@bp.durable_client_input(client_name="client")
async def bulk_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    bulk_id = req.route_params["bulk_id"]
    runtime, custom = await _durable_status(client, bulk_id)
    ports = app_ports()
    status = run_status(ports.jobs, bulk_id, runtime, custom, ports=ports)
    if isinstance(status, Refusal):
        return _problem(status)
    return func.HttpResponse(status.model_dump_json(), mimetype="application/json", status_code=200)


@http_route(bp, routes.BULK_CANCEL)
@bp.durable_client_input(client_name="client")
async def bulk_cancel(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    bulk_id = req.route_params["bulk_id"]
    known = run_status(app_ports().jobs, bulk_id, None)
    if isinstance(known, Refusal):
        return _problem(known)
    await client.terminate(bulk_id, "cancelled (POST /api/bulk/{id}/cancel)")  # an ended run answers 410: fine
    # Accepted: Durable stops the run at its next step; GET /api/bulk/{id} then shows it cancelled.
    return func.HttpResponse(known.model_dump_json(), mimetype="application/json", status_code=202)


@bp.orchestration_trigger(context_name="context")
def bulk_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any] | None]:
    return (yield from orchestrate(context))


@bp.activity_trigger(input_name="data")
def bulk_begin(data: dict[str, Any]) -> dict[str, Any]:
    return activities.begin(data, app_ports())


@bp.activity_trigger(input_name="data")
def bulk_list_page(data: dict[str, Any]) -> dict[str, Any]:
    return activities.list_page(data, app_ports())


@bp.activity_trigger(input_name="data")
def bulk_item(data: dict[str, Any]) -> str:
    return activities.item(data, app_ports())


@bp.activity_trigger(input_name="data")
def bulk_settle_batch(data: dict[str, Any]) -> dict[str, Any]:
    return activities.settle_batch(data, app_ports())


@bp.activity_trigger(input_name="data")
def bulk_finish(data: dict[str, Any]) -> dict[str, Any]:
    return activities.finish(data, app_ports())


@bp.activity_trigger(input_name="data")
def bulk_documents_settled(data: dict[str, Any]) -> dict[str, Any]:
    return activities.documents_settled(data, app_ports())


@bp.activity_trigger(input_name="data")
def bulk_communities(data: dict[str, Any]) -> dict[str, Any]:
    return activities.communities(data, app_ports())


async def _durable_status(client: df.DurableOrchestrationClient, bulk_id: str) -> tuple[str | None, Any]:
    """Durable's runtime status and custom status of the run (None, None: Durable does not know it, or purged it)."""
    try:
        durable = await client.get_status(bulk_id)
    except Exception as error:  # the SDK raises on an answer it does not expect; the job store still knows the run
        log.warning("Durable's status of bulk run %s could not be read: %s", bulk_id, error)
        return None, None
    runtime = durable.runtime_status.value if durable.runtime_status else None
    custom = durable.custom_status
    return runtime, json.loads(custom) if isinstance(custom, str) else custom


def _problem(refusal: Refusal) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(refusal.problem()), mimetype=PROBLEM_JSON, status_code=refusal.status)
