"""The bulk orchestration's activities: every I/O of a run happens here (the orchestrator only decides).

Each takes and returns plain JSON (Durable keeps both in the history): ids, paths and counts, never content.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.bulk.items import run_item
from shared.bulk.models import (
    BatchInput,
    BatchOutcomes,
    BulkBegin,
    BulkFinish,
    CommunitiesInput,
    ItemInput,
    ListedPage,
    ListPageInput,
    SettleAnswer,
    SettleInput,
)
from shared.bulk.starter import record_run
from shared.bulk.status import summary_of
from shared.communities import refresh_communities
from shared.domain import Reason
from shared.domain.bulk_jobs import BulkItem, BulkState, ItemOutcome
from shared.pipeline.job_events import bulk_ended
from shared.ports import BlobInfo, Ports

log = logging.getLogger(__name__)


def begin(data: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """Record the bulk job (insert if absent: the starter recorded it already, and a redelivery finds it)."""
    request = BulkBegin.model_validate(data)
    return {"bulk_id": record_run(ports.jobs, request, request.started_at).bulk_id}


def list_page(data: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """One page of the selection: the paths to run, and the page recorded (once) with what it selected."""
    request = ListPageInput.model_validate(data)
    if request.paths is not None:
        page = _resolve_paths(request, ports)
    else:
        listed = ports.blobs.list_page(request.container, request.prefix, request.continuation, request.size)
        selected = [blob for blob in listed.blobs if _modified_since(blob, request)]
        page = ListedPage(
            paths=[blob.path for blob in selected],
            listed=len(selected),
            listed_bytes=sum(blob.size for blob in selected),
            continuation=listed.continuation,
        )
    ports.jobs.record_bulk_page(request.bulk_id, request.page, page.listed, page.listed_bytes)
    return page.model_dump(mode="json")


def item(data: dict[str, Any], ports: Ports) -> str:
    """Run one blob; its outcome (done, failed, skipped). Raises on a transient fault, for Durable to retry."""
    request = ItemInput.model_validate(data)
    return run_item(request.bulk_id, request.operation, request.container, request.path, ports).value


def settle_batch(data: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """Run every blob of a batch whose fan-out failed, as their last attempt: each ends recorded, one way or
    another (a blob that ran already finds its job and its item again)."""
    request = BatchInput.model_validate(data)
    outcomes = [
        run_item(request.bulk_id, request.operation, request.container, path, ports, last_attempt=True)
        for path in request.paths
    ]
    return BatchOutcomes(outcomes=outcomes).model_dump(mode="json")


def finish(data: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """Close the bulk job and answer its summary, read from the job store."""
    request = BulkFinish.model_validate(data)
    closed = ports.jobs.finish_bulk_job(request.bulk_id, BulkState.COMPLETED)
    summary = summary_of(ports.jobs, request.bulk_id)
    if summary is None:  # begin recorded it: only a store wiped in between
        raise LookupError(f"{Reason.BULK_NOT_FOUND}: {request.bulk_id}")
    if closed:  # a redelivered finish activity finds the run closed already: announced once
        bulk_ended(summary, ports)
    return summary.model_dump(mode="json")


SETTLE_CHECKS = 1000  # items checked per call at most: a call stays short however large the run


def documents_settled(data: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """Whether every document job the run started has ended, reading its items in path order from where the last
    check stopped: the first item whose job still runs ends the check."""
    request = SettleInput.model_validate(data)
    after, checked = request.after, 0
    while checked < SETTLE_CHECKS:
        items = ports.jobs.list_bulk_items(request.bulk_id, after=after, limit=min(100, SETTLE_CHECKS - checked))
        if not items:
            return SettleAnswer(settled=True, after=after).model_dump(mode="json")
        for listed in items:
            job = ports.jobs.get_job(listed.job_id) if listed.job_id else None
            if job is not None and not job.terminal:
                return SettleAnswer(settled=False, after=after, waiting_on=job.job_id).model_dump(mode="json")
            after, checked = listed.path, checked + 1
    return SettleAnswer(settled=False, after=after).model_dump(mode="json")


def communities(data: dict[str, Any], ports: Ports) -> dict[str, Any]:
    """Refresh the graph's communities once for the whole run (they summarise the graph, not a document)."""
    request = CommunitiesInput.model_validate(data)
    refresh = refresh_communities(ports)
    log.info(
        "bulk run %s: communities refreshed, %d written, %d deleted, %d in the graph",
        request.bulk_id,
        refresh.written,
        refresh.deleted,
        refresh.communities,
    )
    return refresh.model_dump(mode="json")


def _resolve_paths(request: ListPageInput, ports: Ports) -> ListedPage:
    """Explicit paths: those that exist and match the other selectors; a missing one is recorded as skipped."""
    assert request.paths is not None
    paths: list[str] = []
    size = skipped = 0
    for path in request.paths:
        if not path.startswith(request.prefix):
            continue
        try:
            blob = ports.blobs.properties(request.container, path)
        except FileNotFoundError:
            missing = BulkItem(path=path, outcome=ItemOutcome.SKIPPED, reason_code=Reason.BULK_BLOB_MISSING)
            ports.jobs.record_bulk_item(request.bulk_id, missing)
            skipped += 1
            continue
        if _modified_since(blob, request):
            paths.append(path)
            size += blob.size
    return ListedPage(paths=paths, listed=len(paths) + skipped, listed_bytes=size, skipped=skipped)


def _modified_since(blob: BlobInfo, request: ListPageInput) -> bool:
    return request.modified_since is None or blob.last_modified >= request.modified_since
