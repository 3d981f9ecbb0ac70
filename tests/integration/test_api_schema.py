"""The HTTP API against its own OpenAPI document, on the local host: schemathesis generates valid and invalid
requests for every operation (a bounded number each) and checks that none is a 5xx, that every answer matches the
document (status, content type, schema), that invalid input is refused with a 4xx, and that a route needing a key
refuses a request without one. Then every non-anonymous route is called without a key, and with a wrong one."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from shared.api_routes import ROUTES, ApiRoute
from tests.support.devhost import HostFactory

pytestmark = [pytest.mark.timeout(300)]

EXAMPLES = 12  # per operation and phase: enough to find the classes of bad input, small enough for a quick run
CONFIG: dict[str, Any] = {
    "phases": {"stateful": {"enabled": False}},
    # The Functions host answers a method a route does not serve with 404, not 405 (Azure/azure-functions-host#10098);
    # the local host does the same, never kinder, so the check that expects 405 does not apply.
    # A URL past the host's request-line limit is refused by the host with 414 before the function runs: that is a
    # rejection of invalid input too (schemathesis' list of rejections lacks it).
    "checks": {
        "unsupported_method": {"enabled": False},
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428", "429"]
        },
    },
    # Two inputs have a grammar the document cannot state: a cursor is opaque (its alphabet is in the schema, not that
    # only cursors this API handed out are valid) and a search filter is `field:value` terms. A well-formed forged
    # cursor or a filter that does not parse is rightly a 400 with its reason code, although it matches the schema.
    # A bulk request must select something (a prefix, modified_since or paths: one of three optional fields, said in
    # words in the document), so a body with none is a 400 (`bulk.no_selector`) too.
    "operations": [
        {
            "include-operation-id": operation,
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401"]}},
        }
        for operation in ("jobs", "search", "bulk_start")
    ],
}


@pytest.fixture
def served(open_host: HostFactory) -> tuple[str, str]:
    """(the API's base URL, the function key) of a local host serving HTTP."""
    host = open_host(serve_http=True)
    assert host.http is not None
    key = json.loads((host.settings.data_dir / "devhost-keys.json").read_text())["function"]
    return f"{host.http.base_url}/api", key


@pytest.fixture
def api_schema(served: tuple[str, str]) -> Any:
    base, key = served
    config = schemathesis.Config.from_dict(CONFIG | {"base-url": base, "headers": {"x-functions-key": key}})
    return schemathesis.openapi.from_url(f"{base}/openapi.json", config=config)


MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


# Per operation and mode rather than schemathesis' pytest plugin: its lazy loader does not run on pytest 9.
@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_every_operation_answers_as_its_document_says(api_schema: Any, route: ApiRoute, mode: GenerationMode) -> None:
    # GIVEN the operation as the served document declares it
    operation = api_schema[f"/{route.route}"][route.method]
    if mode is GenerationMode.NEGATIVE and not (route.query or route.body or route.path_params):
        pytest.skip(f"{route.name} takes no input: there is no invalid request to make")

    # WHEN requests are generated from it, valid or not THEN each answer passes every check
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def answers_as_documented(case: Any) -> None:
        case.call_and_validate()

    answers_as_documented()


def _status(url: str, method: str, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("route", [r for r in ROUTES if r.auth != "anonymous"], ids=lambda r: r.name)
def test_a_route_needing_a_key_refuses_a_request_without_one_as_azure_does(
    served: tuple[str, str], route: ApiRoute
) -> None:
    # GIVEN a request that would otherwise be answered (path parameters filled in)
    base, key = served
    filled = {
        "job_id": "some-job",
        "document_id": "some-document",
        "bulk_id": "some-bulk",
        "tracking_id": "some-trace",
        "queue": "graph",
    }
    url = f"{base}/{route.route.format(**filled)}"
    # WHEN it comes without a key, or with a wrong one THEN the host refuses it: 401 with no body, before the function
    assert _status(url, route.method, {}) == (401, b"")
    assert _status(url, route.method, {"x-functions-key": key + "x"}) == (401, b"")
    assert _status(f"{url}?code=wrong", route.method, {}) == (401, b"")
    # AND with the key it is answered by the function
    assert _status(url, route.method, {"x-functions-key": key})[0] != 401
