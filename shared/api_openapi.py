"""The OpenAPI 3.1 document of the HTTP API, generated from the route declarations (shared/api_routes.py) and their
pydantic models. It is served at GET /api/openapi.json and checked in as shared/openapi.json; a test keeps the two
equal. Regenerate the checked-in copy with `python -m shared.api_openapi`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from shared.api_answers import Problem
from shared.api_routes import ROUTE_PREFIX, ROUTES, ApiRoute

CHECKED_IN = Path(__file__).parent / "openapi.json"
VERSION = "1"  # of the API's contract, not of the package: the checked-in document must not change with a release

_SCHEMAS = "#/components/schemas/{model}"
_SECURITY_SCHEMES = {
    "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
    "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
}
_FUNCTION_KEY: list[dict[str, list[str]]] = [{"functionKey": []}, {"functionKeyQuery": []}]


def openapi_document(routes: Sequence[ApiRoute] = ROUTES) -> dict[str, Any]:
    """The document for `routes`."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(Problem, "serialization"): None}
    for route in routes:
        for model in (route.query, route.body):
            if model is not None:
                wanted[(model, "validation")] = None
        for answer in route.all_answers().values():
            if answer.model is not None:
                wanted[(answer.model, "serialization")] = None
    refs, top = models_json_schema(list(wanted), ref_template=_SCHEMAS)
    schemas: dict[str, Any] = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    # Query models become parameters, one per field, and leave the components (nothing else refers to them).
    parameters_of: dict[type[BaseModel], list[dict[str, Any]]] = {}
    for route in routes:
        if route.query is not None and route.query not in parameters_of:
            name = refs[(route.query, "validation")]["$ref"].rsplit("/", 1)[-1]
            parameters_of[route.query] = _query_parameters(schemas.pop(name))

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operation: dict[str, Any] = {"operationId": route.name, "summary": route.summary, "tags": [route.tag]}
        parameters = [_path_parameter(name, text) for name, text in route.path_params.items()]
        parameters += parameters_of.get(route.query, []) if route.query else []
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref(route.body, "validation")}},
            }
        operation["responses"] = {
            str(status): {"description": answer.description}
            | ({"content": {answer.media_type: {"schema": ref(answer.model, "serialization")}}} if answer.model else {})
            for status, answer in route.all_answers().items()
        }
        operation["security"] = [] if route.auth == "anonymous" else _FUNCTION_KEY
        paths.setdefault(f"/{route.route}", {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tributary operations API",
            "version": VERSION,
            "description": "Jobs, stats, retry, search and deletes. Every error an operation answers is an RFC 9457 "
            "problem document (application/problem+json) whose `type` is a URI per reason code.",
        },
        "servers": [{"url": f"/{ROUTE_PREFIX}"}],
        "paths": paths,
        "components": {"schemas": dict(sorted(schemas.items())), "securitySchemes": _SECURITY_SCHEMES},
    }


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    # A route segment is never empty, and never holds a slash (the host would match another route, or none).
    schema = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^/]+$"}
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _query_parameters(model_schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(model_schema.get("required", ()))
    parameters = []
    for name, schema in model_schema.get("properties", {}).items():
        schema = dict(schema)
        description = schema.pop("description", None)
        schema.pop("title", None)
        # An optional parameter is absent, never null: a query string has no null.
        variants = [s for s in schema.pop("anyOf", []) if s != {"type": "null"}]
        if len(variants) == 1:
            schema = variants[0] | schema
        elif variants:
            schema["anyOf"] = variants
        if schema.get("default") is None:
            schema.pop("default", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


@cache
def served_document() -> bytes:
    """The document as GET /api/openapi.json serves it (built once per process)."""
    return render(openapi_document()).encode("utf-8")


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str]) -> int:
    """Write shared/openapi.json; with --check, only say whether it is up to date (exit 1 when not)."""
    text = render(openapi_document())
    if "--check" in argv:
        current = CHECKED_IN.read_text(encoding="utf-8") if CHECKED_IN.exists() else ""
        if current != text:
            print(f"{CHECKED_IN} is out of date: run `python -m shared.api_openapi`", file=sys.stderr)
            return 1
        return 0
    CHECKED_IN.write_text(text, encoding="utf-8")
    print(f"wrote {CHECKED_IN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
