"""GET /api/deadletters/{queue} and POST /api/deadletters/{queue}/replay, independent of HTTP
(shared/pipeline/deadletters.py does the work). `queue` is a stage name (`graph`) or a configured queue name."""

from __future__ import annotations

from http import HTTPStatus

from shared.api_answers import ApiAnswer, parse_body, problem
from shared.pipeline.deadletters import (
    DeadLettersUnsupportedError,
    ReplayRequest,
    UnknownQueueError,
    list_dead_letters,
    replay_dead_letters,
)
from shared.ports import Ports


def dead_letters(ports: Ports, queue: str) -> ApiAnswer:
    """200 with counts by reason and a few samples; 404 for an unknown queue; 501 for a bus without dead letters."""
    try:
        summary = list_dead_letters(queue, ports)
    except UnknownQueueError as error:
        return problem(HTTPStatus.NOT_FOUND, error.reason_code, error.detail)
    except DeadLettersUnsupportedError as error:
        return problem(HTTPStatus.NOT_IMPLEMENTED, error.reason_code, error.detail)
    return ApiAnswer(status=HTTPStatus.OK, body=summary.model_dump(mode="json"))


def replay(ports: Ports, queue: str, body: bytes) -> ApiAnswer:
    """200 with what moved (replayed, held, skipped, each with why); 400 for an invalid body; 404 and 501 as above."""
    request = parse_body(ReplayRequest, body)
    if isinstance(request, ApiAnswer):
        return request
    try:
        report = replay_dead_letters(queue, request, ports)
    except UnknownQueueError as error:
        return problem(HTTPStatus.NOT_FOUND, error.reason_code, error.detail)
    except DeadLettersUnsupportedError as error:
        return problem(HTTPStatus.NOT_IMPLEMENTED, error.reason_code, error.detail)
    return ApiAnswer(status=HTTPStatus.OK, body=report.model_dump(mode="json"))
