"""HTTP operations API. Health for now; jobs, stats, trace and replay arrive with the Function app issue."""

import json

import azure.functions as func

from shared.api_health import health_report

bp = func.Blueprint()


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    report = health_report()
    return func.HttpResponse(json.dumps(report), mimetype="application/json", status_code=200)
