"""A bulk run as the job store knows it, and its record brought in line with what Durable says of the run.

A terminated orchestration runs no more code of ours, so nothing closes its bulk job when it stops: the first read
after the stop does (`reconcile`), and the counts it shows are what the items recorded, whatever the orchestrator
had in memory. An activity that was running at the stop may still record its item afterwards: it did run, and the
counts then say so.
"""

from __future__ import annotations

from shared.bulk.models import BulkSummary
from shared.domain import Reason
from shared.domain.bulk_jobs import BulkState
from shared.pipeline.job_events import bulk_ended
from shared.ports import JobStore, Ports

# Durable's runtime statuses (OrchestrationRuntimeStatus values) that end a run without its last activity.
_ENDED_WITHOUT_FINISH = {
    "Terminated": (BulkState.CANCELLED, Reason.BULK_CANCELLED),
    "Failed": (BulkState.FAILED, Reason.BULK_ORCHESTRATION_FAILED),
}


def summary_of(jobs: JobStore, bulk_id: str) -> BulkSummary | None:
    """The run's summary from the job store; None for an unknown run."""
    bulk = jobs.get_bulk_job(bulk_id)
    if bulk is None:
        return None
    return BulkSummary(
        bulk_id=bulk.bulk_id,
        operation=bulk.operation,
        container=bulk.container,
        selector=bulk.selector,
        dry_run=bulk.dry_run,
        state=bulk.state,
        reason_code=bulk.reason_code,
        counts=bulk.counts,
        not_run=0 if bulk.dry_run else max(bulk.counts.listed - bulk.counts.ran, 0),
        created_at=bulk.created_at,
        updated_at=bulk.updated_at,
    )


def reconcile(
    jobs: JobStore, bulk_id: str, runtime_status: str | None, ports: Ports | None = None
) -> BulkSummary | None:
    """The summary, after closing a bulk job whose orchestration ended without closing it (terminated, failed).

    With `ports`, the read that closes it also announces its end (shared/pipeline/job_events.py): later than the
    stop itself, since nothing of ours runs at the stop, but once."""
    ended = _ENDED_WITHOUT_FINISH.get(runtime_status or "")
    closed = False
    if ended is not None:
        state, reason = ended
        closed = jobs.finish_bulk_job(bulk_id, state, reason_code=reason)  # no-op when closed already
    summary = summary_of(jobs, bulk_id)
    if closed and summary is not None and ports is not None:
        bulk_ended(summary, ports)
    return summary
