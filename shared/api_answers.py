"""What every HTTP operation answers, independent of HTTP: a status and a JSON-ready body.

Every error is an RFC 9457 (formerly 7807) problem document, built here and nowhere else: `problem()` for an answer,
`guarded()` for an exception an operation did not expect, `parse_query()` and `parse_body()` for input that does not
validate.
The problem's `type` is a URI per reason code, so a client branches on it (or on `reason_code`, the same code).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain import DESCRIPTIONS, Reason, TransientError, TributaryError

log = logging.getLogger(__name__)

Q = TypeVar("Q", bound=BaseModel)

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"
# Stable, never dereferenced by clients: a problem type is an identifier (RFC 9457 §3.1.1). The README's reason table
# documents each code.
PROBLEM_TYPE_BASE = "https://tributary.dev/problems/"


class ApiAnswer(BaseModel):
    """A status code, a JSON-ready body and its media type."""

    status: int
    body: dict
    content_type: str = JSON


class FieldError(BaseModel):
    """One invalid input, as pydantic reports it."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int] = Field(description="where: the parameter's name, then the path inside it")
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`); `reason_code` is the searchable code of `type`."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description=f"{PROBLEM_TYPE_BASE}<reason_code>")
    title: str = Field(description="what this type of problem means (the same for every occurrence)")
    status: int = Field(ge=400, le=599)
    detail: str = Field(description="what went wrong in this occurrence")
    instance: str | None = Field(None, description="the request path this answers")
    reason_code: str
    errors: list[FieldError] | None = Field(None, description="each invalid parameter (a 400 on the query string)")


def problem_type(reason_code: str) -> str:
    return PROBLEM_TYPE_BASE + reason_code


def problem(status: int, reason_code: str, detail: str, *, errors: list[dict[str, Any]] | None = None) -> ApiAnswer:
    """The answer for an error: a problem document of the reason's type."""
    try:
        title = DESCRIPTIONS[Reason(reason_code)]
    except ValueError:  # a code outside the registry (a test's injected fault): the status phrase still says something
        title = HTTPStatus(status).phrase
    document = Problem(
        type=problem_type(reason_code),
        title=title,
        status=status,
        detail=detail,
        reason_code=reason_code,
        errors=[FieldError.model_validate(error) for error in errors] if errors is not None else None,
    )
    return ApiAnswer(status=status, body=document.model_dump(mode="json", exclude_none=True), content_type=PROBLEM_JSON)


def with_instance(answer: ApiAnswer, instance: str) -> ApiAnswer:
    """The answer with the request path as the problem's `instance` (left alone when it is not a problem)."""
    if answer.content_type != PROBLEM_JSON or "instance" in answer.body:
        return answer
    return answer.model_copy(update={"body": answer.body | {"instance": instance}})


def guarded(operation: Callable[[], ApiAnswer]) -> ApiAnswer:
    """Run an operation; what it raises becomes a problem (503 if retrying may help), not the host's bare 500."""
    try:
        return operation()
    except TransientError as error:
        return problem(HTTPStatus.SERVICE_UNAVAILABLE, error.reason_code, error.detail or error.reason_code)
    except TributaryError as error:
        log.exception("operation failed: %s", error.reason_code)
        return problem(HTTPStatus.INTERNAL_SERVER_ERROR, error.reason_code, error.detail or error.reason_code)
    except Exception as error:
        # The log keeps the traceback; the answer names only the type, since a message may quote a URL or a key.
        log.exception("operation failed")
        return problem(HTTPStatus.INTERNAL_SERVER_ERROR, Reason.API_INTERNAL_ERROR, type(error).__name__)


def parse_query(model: type[Q], query: Mapping[str, str]) -> Q | ApiAnswer:
    """The query string as `model`, or the 400 problem that says what is wrong with each parameter."""
    try:
        return model.model_validate(dict(query))
    except ValidationError as error:
        errors = error.errors(include_url=False, include_context=False, include_input=False)
        fields = ", ".join(sorted({str(e["loc"][0]) for e in errors if e["loc"]})) or "the query string"
        return problem(
            HTTPStatus.BAD_REQUEST,
            Reason.REQUEST_INVALID_QUERY,
            f"invalid query parameters: {fields}",
            errors=[dict(e) for e in errors],
        )


def parse_body(model: type[Q], body: bytes) -> Q | ApiAnswer:
    """The JSON body as `model`, or the 400 problem: `request.invalid_json` when it is not JSON, else
    `request.invalid_body` with each invalid field."""
    try:
        return model.model_validate_json(body)
    except ValidationError as error:
        errors = error.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(HTTPStatus.BAD_REQUEST, Reason.REQUEST_INVALID_JSON, "the body is not valid JSON")
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in errors if e["loc"]})) or "the body"
        return problem(
            HTTPStatus.BAD_REQUEST,
            Reason.REQUEST_INVALID_BODY,
            f"invalid body: {fields}",
            errors=[dict(e) for e in errors],
        )
