"""The HTTP API's contract: the declared routes are the app's HTTP functions, the OpenAPI document generated from them
is the one checked in, and every error answer is a problem document of the reason's type."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel

from shared.api_answers import (
    PROBLEM_JSON,
    ApiAnswer,
    Problem,
    guarded,
    parse_body,
    parse_query,
    problem,
    with_instance,
)
from shared.api_jobs import InvalidCursorError, JobsQuery, decode_cursor, encode_cursor
from shared.api_openapi import CHECKED_IN, main, openapi_document, render
from shared.api_routes import ROUTES, ApiRoute
from shared.devhost.app_loader import load_app
from shared.domain import Job, Reason, TransientError

ROOT = Path(__file__).resolve().parents[2]


def test_the_checked_in_openapi_document_is_the_generated_one() -> None:
    # GIVEN the routes and models as they are now WHEN the document is generated THEN it equals shared/openapi.json
    assert CHECKED_IN.read_text(encoding="utf-8") == render(openapi_document()), "run `python -m shared.api_openapi`"
    assert main(["--check"]) == 0


def test_the_check_fails_on_a_stale_copy_and_regenerating_mends_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN a checked-in copy that misses a route
    stale = tmp_path / "openapi.json"
    extra = ApiRoute(name="extra", method="GET", route="extra", auth="function", summary="x", answers={})
    stale.write_text(render(openapi_document((*ROUTES, extra))), encoding="utf-8")
    monkeypatch.setattr("shared.api_openapi.CHECKED_IN", stale)

    # WHEN checked THEN it is out of date; WHEN regenerated THEN it is the generated one
    assert main(["--check"]) == 1
    assert main([]) == 0
    assert main(["--check"]) == 0


def test_the_declared_routes_are_exactly_the_apps_http_functions() -> None:
    # GIVEN the app as the worker indexes it
    app = load_app(ROOT / "function_app.py")
    served = {
        spec.name: (spec.trigger["route"], tuple(m.upper() for m in spec.trigger["methods"]), spec.trigger["authLevel"])
        for spec in app.by_trigger("httpTrigger")
    }
    # THEN each declaration matches one function's route, methods and auth level, and no HTTP function is undeclared
    declared = {route.name: (route.route, (route.method,), route.auth.upper()) for route in ROUTES}
    assert {name: (r, m, a.upper()) for name, (r, m, a) in served.items()} == declared


def test_only_health_and_the_document_itself_are_anonymous() -> None:
    document = openapi_document()
    anonymous = {
        operation["operationId"]
        for methods in document["paths"].values()
        for operation in methods.values()
        if operation["security"] == []
    }
    assert anonymous == {"health", "openapi"}
    for methods in document["paths"].values():
        for operation in methods.values():
            if operation["security"]:
                assert "401" in operation["responses"]


def test_a_problem_is_rfc_9457_shaped_with_a_type_per_reason_code() -> None:
    # WHEN an operation answers an error
    answer = with_instance(problem(404, Reason.JOB_NOT_FOUND, "no job has the id 'x'"), "/api/jobs/x")

    # THEN it is application/problem+json with the RFC's members, the type naming the reason code
    assert answer.content_type == PROBLEM_JSON
    assert answer.body == {
        "type": "https://tributary.dev/problems/job.not_found",
        "title": Reason.JOB_NOT_FOUND.description,
        "status": 404,
        "detail": "no job has the id 'x'",
        "instance": "/api/jobs/x",
        "reason_code": "job.not_found",
    }
    Problem.model_validate(answer.body)


def test_an_invalid_query_names_each_bad_parameter() -> None:
    answer = parse_query(JobsQuery, {"limit": "0", "state": "sleeping"})
    assert not isinstance(answer, JobsQuery)
    assert (answer.status, answer.body["reason_code"]) == (400, "request.invalid_query")
    assert {error["loc"][0] for error in answer.body["errors"]} == {"limit", "state"}
    assert answer.body["detail"] == "invalid query parameters: limit, state"


@pytest.mark.parametrize("since", ["2026-12-02T10:00:00", "0001-01-01T00:00:00+05:00", "yesterday"])
def test_a_since_without_an_offset_or_out_of_range_is_a_400_not_a_crash(since: str) -> None:
    answer = parse_query(JobsQuery, {"since": since})
    assert not isinstance(answer, JobsQuery)
    assert answer.status == 400


def test_what_an_operation_raises_becomes_a_problem_not_a_bare_500() -> None:
    def down() -> None:
        raise TransientError(Reason.JOBSTORE_UNAVAILABLE, "HTTP 503")

    def broken() -> None:
        raise KeyError("https://account.example/secret")

    unavailable = guarded(down)  # type: ignore[arg-type]
    assert (unavailable.status, unavailable.body["reason_code"]) == (503, "jobstore.unavailable")
    crashed = guarded(broken)  # type: ignore[arg-type]
    assert (crashed.status, crashed.body["reason_code"], crashed.body["detail"]) == (
        500,
        "api.internal_error",
        "KeyError",
    )


def test_a_cursor_round_trips_and_a_forged_one_is_refused() -> None:
    at = datetime(2026, 12, 2, 12, 0, 0, 123456, tzinfo=UTC)
    job = Job(
        job_id="abc", document_id="d", path="incoming/a", version="v", tracking_id="t", created_at=at, updated_at=at
    )
    key = decode_cursor(encode_cursor(job))
    assert (key.created_at, key.job_id) == (at, "abc")
    for forged in ["", "not base64!", "eyJ0IjoxfQ", json.dumps({"t": "x"})]:
        with pytest.raises(InvalidCursorError):
            decode_cursor(forged)


def test_a_body_that_is_not_json_or_not_the_model_is_a_400_naming_what_is_wrong() -> None:
    # GIVEN a body model (as POST /api/bulk will have)
    class Body(BaseModel):
        container: str
        dry_run: bool = False

    # WHEN / THEN broken JSON, a wrong field, or a valid body
    broken = parse_body(Body, b"{not json")
    assert isinstance(broken, ApiAnswer)
    assert (broken.status, broken.body["reason_code"]) == (400, "request.invalid_json")
    wrong = parse_body(Body, b'{"dry_run": "perhaps"}')
    assert isinstance(wrong, ApiAnswer)
    assert (wrong.body["reason_code"], wrong.body["detail"]) == (
        "request.invalid_body",
        "invalid body: container, dry_run",
    )
    assert parse_body(Body, b'{"container": "incoming"}') == Body(container="incoming")
