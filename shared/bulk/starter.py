"""`POST /api/bulk` and `GET /api/bulk/{id}` independent of HTTP: a request body checked and turned into the
orchestration's input, or refused with a reason code; a run's status from the job store and Durable's word on it.

A refusal is an RFC 9457 (7807) problem document of the same shape as the operations API's (a `type` URI per reason
code, `title`, `status`, `detail`, `reason_code`, the invalid fields in `errors`).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.api_answers import problem
from shared.bulk.models import BulkBegin, BulkProgress, BulkRequest, BulkRun, BulkStatus
from shared.bulk.orchestrator import ORCHESTRATOR
from shared.bulk.status import reconcile
from shared.config import Settings
from shared.domain import Reason
from shared.domain.bulk_jobs import BulkJob, BulkState
from shared.ports import JobStore, Ports

ITEMS_SHOWN = 100  # items listed in a status answer; `tributary bulk` pages through the rest


class Refusal(BaseModel):
    """A 4xx answer: the problem document's parts."""

    model_config = ConfigDict(frozen=True)

    status: int = Field(ge=400, le=499)
    reason_code: Reason
    detail: str
    errors: list[dict[str, Any]] | None = None

    def problem(self) -> dict[str, Any]:
        """The problem document, from the operations API's one builder."""
        return problem(self.status, self.reason_code, self.detail, errors=self.errors).body


def prepare_run(body: bytes, settings: Settings, bulk_id: str | None = None) -> BulkRun | Refusal:
    """The orchestration's input for a request body, or why it is refused. `bulk_id`: a new one by default."""
    try:
        raw = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return Refusal(status=400, reason_code=Reason.REQUEST_INVALID_JSON, detail=str(error))
    try:
        request = BulkRequest.model_validate(raw)
    except ValidationError as error:
        errors = error.errors(include_url=False, include_context=False, include_input=False)
        too_many = any(e["type"] == "too_long" and tuple(e["loc"]) == ("paths",) for e in errors)
        code = Reason.BULK_TOO_MANY_PATHS if too_many else Reason.BULK_INVALID_REQUEST
        return Refusal(status=400, reason_code=code, detail=_summary(errors), errors=_plain(errors))
    container = request.container or settings.incoming_container
    if container != settings.incoming_container:
        detail = f"container {container!r}: only {settings.incoming_container!r} holds documents"
        return Refusal(status=400, reason_code=Reason.BULK_NOT_INCOMING_CONTAINER, detail=detail)
    if not request.selects_something:
        detail = 'give prefix ("" selects the whole container), modified_since or paths'
        return Refusal(status=400, reason_code=Reason.BULK_NO_SELECTOR, detail=detail)
    return BulkRun(
        bulk_id=bulk_id or uuid.uuid4().hex,
        operation=request.operation,
        container=container,
        prefix=request.prefix or "",
        modified_since=request.modified_since,
        paths=request.paths,
        dry_run=request.dry_run,
        selector=json.dumps(request.selector(), sort_keys=True),
        page_size=settings.bulk_page_size,
        batch_size=settings.bulk_batch_size,
        communities=settings.bulk_communities,
        settle_poll_seconds=settings.bulk_settle_poll_seconds,
        settle_timeout_seconds=settings.bulk_settle_timeout_seconds,
        progress=BulkProgress(dry_run=request.dry_run),
    )


async def start(client: Any, run: BulkRun, jobs: JobStore, now: datetime) -> None:
    """Record the run's bulk job, then start its orchestration through Durable's client: the record first, so that
    `GET /api/bulk/{id}` knows the run from the moment the 202 is sent. A start that fails closes the record."""
    record_run(jobs, run, now)
    try:
        await client.start_new(ORCHESTRATOR, instance_id=run.bulk_id, client_input=run.model_dump(mode="json"))
    except Exception:
        jobs.finish_bulk_job(run.bulk_id, BulkState.FAILED, reason_code=Reason.BULK_ORCHESTRATION_FAILED)
        raise


def record_run(jobs: JobStore, run: BulkRun | BulkBegin, now: datetime) -> BulkJob:
    """The run's bulk job, created if absent (the starter and the orchestration's first activity both call it)."""
    bulk, _ = jobs.create_bulk_job(
        BulkJob(
            bulk_id=run.bulk_id,
            operation=run.operation,
            container=run.container,
            selector=run.selector,
            dry_run=run.dry_run,
            created_at=now,
            updated_at=now,
        )
    )
    return bulk


def run_status(
    jobs: JobStore, bulk_id: str, runtime_status: str | None, custom_status: Any = None, ports: Ports | None = None
) -> BulkStatus | Refusal:
    """A run's status: its summary from the job store (closed first if Durable says it ended without closing it,
    and then announced when `ports` are given), Durable's runtime status, its latest progress and its first items."""
    summary = reconcile(jobs, bulk_id, runtime_status, ports)
    if summary is None:
        return Refusal(status=404, reason_code=Reason.BULK_NOT_FOUND, detail=f"no bulk run {bulk_id!r}")
    progress = BulkProgress.model_validate(custom_status) if isinstance(custom_status, dict) else None
    return BulkStatus(
        summary=summary,
        runtime_status=runtime_status,
        progress=progress,
        items=jobs.list_bulk_items(bulk_id, limit=ITEMS_SHOWN),
    )


def _summary(errors: list[Any]) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in errors)


def _plain(errors: list[Any]) -> list[dict[str, Any]]:
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
