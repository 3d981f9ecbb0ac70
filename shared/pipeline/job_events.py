"""The end of a job or a bulk run, in one place: counted, and announced as a CloudEvents 1.0 event when a
notifier is configured.

Callers call this only when they won the move to the terminal state (a compare-and-set in the job store), so an end
is counted and announced once; the event's id is a function of the job and its state, so a receiver can still drop a
resend. An announcement never fails the caller: the job's state is already written (shared/pipeline/notify.py).
"""

from __future__ import annotations

from typing import Any

from shared.bulk.models import BulkSummary
from shared.domain import Job, JobState
from shared.domain.bulk_jobs import BulkState
from shared.domain.notifications import EVENT_TYPE_PREFIX, Notification, event_id
from shared.pipeline import notify
from shared.ports import Ports
from shared.telemetry import metrics


def job_ended(job: Job, ports: Ports) -> None:
    """`job` (as stored after the transition) reached its terminal state, and this caller moved it there."""
    metrics.job_ended(job.kind, job.state, job.size, job.reason_code)
    if ports.notifier is not None:
        notify.announce(job_notification(job, ports.blobs.account), ports)


def bulk_ended(summary: BulkSummary, ports: Ports) -> None:
    """A bulk run reached its terminal state (`summary` read after it), and this caller closed it."""
    if ports.notifier is not None:
        notify.announce(bulk_notification(summary, ports.blobs.account), ports)


def job_notification(job: Job, account: str) -> Notification:
    """The event announcing a document job's end: `io.tributary.job.<state>`, its subject the blob path."""
    data: dict[str, Any] = {
        "job_id": job.job_id,
        "kind": job.kind.value,
        "state": job.state.value,
        "reason_code": job.reason_code,
        "path": job.path,
        "document_id": job.document_id,
        "version": job.version,
        "tracking_id": job.tracking_id,
        "size": job.size,
        "counts": {**job.totals.model_dump(), "issues": job.issues},
    }
    return Notification(
        id=event_id("job", job.job_id, job.state.value),
        source=f"/tributary/{account}/jobs",
        type=f"{EVENT_TYPE_PREFIX}.job.{job.state.value}",
        subject=job.path,
        time=job.updated_at,
        data=data,
        job_id=job.job_id,
        failed=job.state is JobState.FAILED,
    )


def bulk_notification(summary: BulkSummary, account: str) -> Notification:
    """The event announcing a bulk run's end: `io.tributary.bulk.<state>`, its subject the run's container."""
    data: dict[str, Any] = {
        "bulk_id": summary.bulk_id,
        "operation": summary.operation.value,
        "state": summary.state.value,
        "reason_code": summary.reason_code,
        "container": summary.container,
        "selector": summary.selector,
        "dry_run": summary.dry_run,
        "counts": {**summary.counts.model_dump(), "not_run": summary.not_run},
    }
    return Notification(
        id=event_id("bulk", summary.bulk_id, summary.state.value),
        source=f"/tributary/{account}/bulk",
        type=f"{EVENT_TYPE_PREFIX}.bulk.{summary.state.value}",
        subject=summary.container,
        time=summary.updated_at,
        data=data,
        job_id=summary.bulk_id,
        failed=summary.state is not BulkState.COMPLETED or summary.counts.failed > 0,
    )
