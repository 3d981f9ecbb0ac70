"""The HTTP API's routes, declared once: method, route, auth level, query and body models, and the answers.

functions/ decorates each HTTP function from its declaration (`functions/http.py` http_route), the OpenAPI document
is generated from them (shared/api_openapi.py), and a test checks that the app's HTTP functions are exactly these.
A new route is one `ApiRoute` added to ROUTES, and one thin function in functions/ that carries it.

Errors: every answer an operation gives for a failure is a problem document (shared/api_answers.py); they are added
to each route here (400 for a route with inputs, 500 and 503 for all). The host's own refusals have no body, as on
Azure: 401 for a missing or wrong key, 404 for a path no route matches (the host sends no 405 either), 414 for a URL
too long.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Literal

from pydantic import BaseModel

from shared.api_answers import JSON, PROBLEM_JSON, Problem
from shared.api_documents import DeleteAnswer
from shared.api_health import HealthReport
from shared.api_jobs import JobDetail, JobPage, JobsQuery
from shared.api_search import SearchAnswer, SearchQuery
from shared.api_stats import Stats
from shared.api_trace import TraceAnswer
from shared.bulk.models import BulkAccepted, BulkRequest, BulkStatus
from shared.pipeline.deadletters import DeadLetterSummary, ReplayReport, ReplayRequest
from shared.pipeline.retry import RetryOutcome

ROUTE_PREFIX = "api"  # host.json extensions.http.routePrefix (the default)


@dataclass(frozen=True)
class Answer:
    """One documented answer of a route: its description, and the model of its JSON body (None: no body)."""

    description: str
    model: type[BaseModel] | None = None
    media_type: str = JSON


@dataclass(frozen=True)
class ApiRoute:
    name: str  # the function's name, unique in the app (and the operationId)
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    route: str  # the Functions route template below the prefix, e.g. "jobs/{job_id}"
    auth: Literal["anonymous", "function"]
    summary: str
    answers: Mapping[int, Answer]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    path_params: Mapping[str, str] = field(default_factory=dict)  # name -> description
    tag: str = "operations"

    def all_answers(self) -> dict[int, Answer]:
        """The route's own answers and the ones every route of its kind gives."""
        common: dict[int, Answer] = {}
        if self.query or self.body or self.path_params:
            common[HTTPStatus.BAD_REQUEST] = _problem("invalid input: `errors` names each parameter")
        if self.auth != "anonymous":
            common[HTTPStatus.UNAUTHORIZED] = Answer("no function key, or a wrong one (the host's answer: no body)")
        if self.query:
            # Kestrel refuses a request line over 8 KB before any function runs; a long query string may reach it.
            common[HTTPStatus.REQUEST_URI_TOO_LONG] = Answer("the URL is too long (the host's answer)")
        common[HTTPStatus.INTERNAL_SERVER_ERROR] = _problem("the operation failed (`api.internal_error`: see the log)")
        common[HTTPStatus.SERVICE_UNAVAILABLE] = _problem("a dependency is unavailable; retry later")
        return dict(sorted((common | dict(self.answers)).items()))


def _problem(description: str) -> Answer:
    return Answer(description, Problem, PROBLEM_JSON)


_JOB_ID = {"job_id": "a job id"}

HEALTH = ApiRoute(
    name="health",
    method="GET",
    route="health",
    auth="anonymous",
    summary="Whether the app's backends opened and each dependency answers (with a short timeout).",
    answers={200: Answer("every dependency answers", HealthReport), 503: Answer("one is down", HealthReport)},
    tag="health",
)
OPENAPI = ApiRoute(
    name="openapi",
    method="GET",
    route="openapi.json",
    auth="anonymous",
    summary="This document.",
    answers={200: Answer("the OpenAPI 3.1 document")},
    tag="health",
)
JOB = ApiRoute(
    name="job_status",
    method="GET",
    route="jobs/{job_id}",
    auth="function",
    summary="One job: state, reason code, counters per stage, totals and the first issues of its file.",
    answers={200: Answer("the job", JobDetail), 404: _problem("no such job (`job.not_found`)")},
    path_params=_JOB_ID,
)
JOBS = ApiRoute(
    name="jobs",
    method="GET",
    route="jobs",
    auth="function",
    summary="Jobs newest first, filtered, a page at a time (keyset: stable while jobs are added).",
    answers={200: Answer("a page of jobs; next_cursor leads to the next", JobPage)},
    query=JobsQuery,
)
JOB_RETRY = ApiRoute(
    name="job_retry",
    method="POST",
    route="jobs/{job_id}/retry",
    auth="function",
    summary="Start a new attempt of a failed job, as a re-upload of its file would; a no-op for a succeeded one.",
    answers={
        200: Answer("nothing to retry: the job succeeded or was skipped", RetryOutcome),
        202: Answer("an attempt started (or the one an earlier retry of this job started); poll it", RetryOutcome),
        404: _problem("no such job (`job.not_found`)"),
        409: _problem("the job is still running, is a delete job, or its file is gone (`retry.*`)"),
    },
    path_params=_JOB_ID,
)
STATS = ApiRoute(
    name="stats",
    method="GET",
    route="stats",
    auth="function",
    summary="Jobs by state, format and reason code over the last hour, day and all time; files, bytes, chunks.",
    answers={200: Answer("the counts", Stats)},
)
SEARCH = ApiRoute(
    name="search",
    method="GET",
    route="search",
    auth="function",
    summary="The chunks best matching a text (hybrid: its words and its vector), with the graph around them.",
    answers={200: Answer("the hits, their entities and one-hop relations", SearchAnswer)},
    query=SearchQuery,
    tag="search",
)
DOCUMENT_DELETE = ApiRoute(
    name="document_delete",
    method="DELETE",
    route="documents/{document_id}",
    auth="function",
    summary="Remove a document from the graph, the index and the served versions.",
    answers={
        200: Answer("unknown document: nothing to delete", DeleteAnswer),
        202: Answer("the delete job started; poll it", DeleteAnswer),
    },
    path_params={"document_id": "a document id"},
)

_BULK_ID = {"bulk_id": "a bulk run's id (the orchestration instance id)"}
BULK_START = ApiRoute(
    name="bulk_start",
    method="POST",
    route="bulk",
    auth="function",
    summary="Reprocess or delete many documents (a prefix, a modified-since time, or paths): a Durable orchestration.",
    answers={202: Answer("the run started: its id and Durable's status URLs", BulkAccepted)},
    body=BulkRequest,
    tag="bulk",
)
BULK_STATUS = ApiRoute(
    name="bulk_status",
    method="GET",
    route="bulk/{bulk_id}",
    auth="function",
    summary="A bulk run: its summary as the job store records it, Durable's status and the latest progress.",
    answers={200: Answer("the run", BulkStatus), 404: _problem("no such run (`bulk.not_found`)")},
    path_params=_BULK_ID,
    tag="bulk",
)
BULK_CANCEL = ApiRoute(
    name="bulk_cancel",
    method="POST",
    route="bulk/{bulk_id}/cancel",
    auth="function",
    summary="Cancel a bulk run (terminate its orchestration); its summary then says what ran.",
    answers={202: Answer("the run is being stopped", BulkStatus), 404: _problem("no such run (`bulk.not_found`)")},
    path_params=_BULK_ID,
    tag="bulk",
)

TRACE = ApiRoute(
    name="trace",
    method="GET",
    route="trace/{tracking_id}",
    auth="function",
    summary="Every stage batch of one file's jobs in order, with durations and message ids, from the job store.",
    answers={
        200: Answer("the jobs of the tracking id, newest first, each with its stage events and totals", TraceAnswer),
        404: _problem("no job has this id or tracking id (`trace.not_found`)"),
    },
    path_params={
        "tracking_id": "a tracking id (the trace id of the ingest, or the blob's tracking_id metadata) or a job id"
    },
)

ROUTES: tuple[ApiRoute, ...] = (
    HEALTH, OPENAPI, JOB, JOBS, JOB_RETRY, STATS, SEARCH, DOCUMENT_DELETE, BULK_START, BULK_STATUS, BULK_CANCEL,
    TRACE,
)  # fmt: skip

_QUEUE = {"queue": "a stage name (enrich, extract, graph, vector, cleanup, delete) or a configured queue name"}
DEAD_LETTERS = ApiRoute(
    name="dead_letters",
    method="GET",
    route="deadletters/{queue}",
    auth="function",
    summary="A stage queue's dead letters: counts by reason (and by reason code) and the oldest few, without bodies.",
    answers={
        200: Answer("the counts and samples", DeadLetterSummary),
        404: _problem("no such stage or queue (`deadletter.queue_unknown`)"),
        501: _problem("this bus holds no dead letters (`deadletter.bus_unsupported`)"),
    },
    path_params=_QUEUE,
    tag="dead letters",
)
DEAD_LETTERS_REPLAY = ApiRoute(
    name="dead_letters_replay",
    method="POST",
    route="deadletters/{queue}/replay",
    auth="function",
    summary="Resend dead letters with their original MessageId (held inside the duplicate window, skipped when "
    "superseded) and reopen their jobs.",
    answers={
        200: Answer("what moved: replayed, held and skipped messages, each with why", ReplayReport),
        404: _problem("no such stage or queue (`deadletter.queue_unknown`)"),
        501: _problem("this bus holds no dead letters (`deadletter.bus_unsupported`)"),
    },
    body=ReplayRequest,
    path_params=_QUEUE,
    tag="dead letters",
)
ROUTES += (DEAD_LETTERS, DEAD_LETTERS_REPLAY)
