"""HTTP functions from their declarations (shared/api_routes.py), and answers as the worker sends them."""

import json
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import azure.functions as func

from shared.api_answers import ApiAnswer, guarded, with_instance
from shared.api_routes import ApiRoute

F = TypeVar("F", bound=Callable[..., Any])


def http_route(bp: Any, route: ApiRoute) -> Callable[[F], F]:
    """`bp.route(...)` with the declaration's route, method and auth level (any blueprint: func's or Durable's)."""
    decorate: Callable[[F], F] = bp.route(
        route=route.route, methods=[route.method], auth_level=func.AuthLevel(route.auth)
    )
    return decorate


def respond(req: func.HttpRequest, operation: Callable[[], ApiAnswer]) -> func.HttpResponse:
    """Run the operation (what it raises becomes a problem document) and send its answer."""
    answer = with_instance(guarded(operation), urlsplit(req.url).path)
    return func.HttpResponse(json.dumps(answer.body), mimetype=answer.content_type, status_code=answer.status)
