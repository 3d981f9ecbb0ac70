"""What every HTTP operation answers, independent of HTTP: a status and a JSON-ready body, and the one way a query
string is validated (a bad one is a 400 with `request.invalid_query` and pydantic's account of each field)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from shared.domain import Reason

Q = TypeVar("Q", bound=BaseModel)


class ApiAnswer(BaseModel):
    """A status code and a JSON-ready body."""

    status: int
    body: dict


def parse_query(model: type[Q], query: Mapping[str, str]) -> Q | ApiAnswer:
    """The query string as `model`, or the 400 answer that says what is wrong with it."""
    try:
        return model.model_validate(dict(query))
    except ValidationError as error:
        return ApiAnswer(
            status=400, body={"error": Reason.REQUEST_INVALID_QUERY, "detail": error.errors(include_url=False)}
        )
