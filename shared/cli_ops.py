"""The logic of the operations commands (`tributary jobs`, `tributary retry`, `--output json`): the queries and
answers of the HTTP API (shared/api_*.py), so a script reading `--output json` reads what the API would send.

Local tooling like shared/cli.py: never imported by the deployed app (.funcignore leaves it out).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import BaseModel, Field, ValidationError
from rich.table import Table

from shared.api_jobs import JobPage, JobsQuery, decode_cursor, jobs_page
from shared.domain import Job, JobState
from shared.domain.job_queries import JobFilter, JobKey
from shared.pipeline.retry import RetryOutcome, RetryRefusedError, retry_job
from shared.ports import JobStore, Ports

RETRY_PAGE = 500  # jobs read a page at a time when retrying by filter


class Output(StrEnum):
    """How a listing command prints: a table for people, the API's JSON for scripts (as `az --output`)."""

    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    Output,
    typer.Option("--output", "-o", help="table, or json: the HTTP API's JSON, for scripts", case_sensitive=False),
]


class ApiRefusedError(RuntimeError):
    """A host answered an API request with an error status: the status, its reason phrase and the body it sent."""

    def __init__(self, status: int, reason: str, body: bytes) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status
        self.reason = reason
        self.body = body

    def document(self) -> Any:
        """The body as JSON (normally a problem document); None when it is not JSON."""
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def call_api(
    base_url: str, key: str, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float
) -> dict[str, Any]:
    """One request to a host's HTTP API with its function key (`base_url` up to and without `/api`): the JSON answer.
    Raises ApiRefusedError for an error status."""
    request = urllib.request.Request(
        base_url.rstrip("/") + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"x-functions-key": key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return dict(json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as error:
        raise ApiRefusedError(error.code, str(error.reason), error.read()) from error


def print_json(body: Any) -> None:
    """JSON on stdout, nothing else: what a script pipes into jq."""
    sys.stdout.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def jobs_query(**fields: Any) -> JobsQuery:
    """The listing's filters as GET /api/jobs validates them; raises ValueError with pydantic's account."""
    try:
        query = JobsQuery.model_validate({name: value for name, value in fields.items() if value is not None})
        if query.cursor:
            decode_cursor(query.cursor)
    except ValidationError as error:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())) from error
    return query


def list_page(store: JobStore, query: JobsQuery) -> JobPage:
    """One page of jobs, as GET /api/jobs answers it."""
    return jobs_page(store, query, decode_cursor(query.cursor) if query.cursor else None)


class RetryRow(BaseModel):
    """One job `tributary retry` was asked about: what the retry did, or why it refused."""

    job_id: str
    path: str
    retried: bool
    detail: str
    reason_code: str | None = Field(None, description="why the job was not retried")
    attempt: Job | None = None


def retry_candidates(store: JobStore, state: JobState, reason: str | None, prefix: str | None) -> Iterator[Job]:
    """The newest matching job of each document: retrying an older failure of a file whose later job also failed
    would only be answered by that later attempt."""
    seen: set[str] = set()
    after: JobKey | None = None
    where = JobFilter(state=state, reason=reason, prefix=prefix)
    while True:
        page = store.list_jobs_page(where, limit=RETRY_PAGE, after=after)
        for job in page:
            if job.document_id not in seen:
                seen.add(job.document_id)
                yield job
        if len(page) < RETRY_PAGE:
            return
        after = JobKey(created_at=page[-1].created_at, job_id=page[-1].job_id)


def retry_one(job: Job, ports: Ports) -> RetryRow:
    try:
        outcome: RetryOutcome = retry_job(job, ports)
    except RetryRefusedError as refused:
        return RetryRow(
            job_id=job.job_id, path=job.path, retried=False, detail=refused.detail, reason_code=refused.reason_code
        )
    return RetryRow(
        job_id=job.job_id, path=job.path, retried=outcome.retried, detail=outcome.detail, attempt=outcome.attempt
    )


def refreshed(rows: list[RetryRow], store: JobStore) -> list[RetryRow]:
    """The rows with each attempt as the store holds it now (after the host ran the stages)."""
    return [
        row.model_copy(update={"attempt": store.get_job(row.attempt.job_id) or row.attempt}) if row.attempt else row
        for row in rows
    ]


def retry_table(rows: list[RetryRow]) -> Table:
    table = Table(title="Retry")
    for column in ("job", "path", "retried", "attempt", "state", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        attempt = row.attempt
        table.add_row(
            row.job_id[:12],
            row.path,
            "yes" if row.retried else "no",
            attempt.job_id[:12] if attempt else "",
            attempt.state.value if attempt else "",
            f"{row.reason_code}: {row.detail}" if row.reason_code else row.detail,
        )
    return table
