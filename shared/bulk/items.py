"""One blob of a bulk run: reprocess it or delete its document, and record the item linked to the job it started.

Both are idempotent per (run, blob), since Durable delivers an activity at least once: a reprocess is a job of an id
fixed by (run, document) (`ids.reprocess_job_id`), which a second run of the item finds instead of starting another;
a delete carries a tracking id fixed by (run, blob), by which a second run finds the delete it already recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from shared.domain import BlobEvent, Job, JobState, PermanentError, Reason
from shared.domain.bulk_jobs import BulkItem, BulkOperation, ItemOutcome
from shared.domain.ids import bulk_tracking_id, delete_job_id, document_id, reprocess_job_id
from shared.pipeline.delete import request_delete
from shared.pipeline.ingest import ingest_blob
from shared.ports import Ports

log = logging.getLogger(__name__)


def run_item(
    bulk_id: str, operation: BulkOperation, container: str, path: str, ports: Ports, *, last_attempt: bool = False
) -> ItemOutcome:
    """Run one blob and record its item (the first outcome recorded stands); returns the outcome.

    A blob's own fault (bad content, a blob gone) is an outcome, never an exception. Anything else propagates for
    Durable to retry, unless this is the last attempt: then the blob counts as failed, `bulk.item_gave_up`.
    """
    try:
        item = _RUNNERS[operation](bulk_id, container, path, ports)
    except PermanentError as error:
        item = BulkItem(path=path, outcome=ItemOutcome.FAILED, reason_code=error.reason_code)
    except FileNotFoundError:
        item = BulkItem(path=path, outcome=ItemOutcome.SKIPPED, reason_code=Reason.BULK_BLOB_MISSING)
    except Exception:
        if not last_attempt:
            raise
        log.exception("%s: %s of %s/%s, bulk run %s", Reason.BULK_ITEM_GAVE_UP, operation, container, path, bulk_id)
        item = BulkItem(path=path, outcome=ItemOutcome.FAILED, reason_code=Reason.BULK_ITEM_GAVE_UP)
    ports.jobs.record_bulk_item(bulk_id, item)
    return item.outcome


def _reprocess(bulk_id: str, container: str, path: str, ports: Ports) -> BulkItem:
    """The blob through ingest as a new upload would go, as a job of its own even when its content is unchanged."""
    forced = reprocess_job_id(bulk_id, document_id(ports.blobs.account, container, path))
    outcome = ingest_blob(BlobEvent(event_id=forced, container=container, path=path), ports, forced_job_id=forced)
    if outcome is None:  # not the incoming container: the request was checked, so only a change of settings since
        return BulkItem(path=path, outcome=ItemOutcome.SKIPPED, reason_code=Reason.INGEST_NOT_INCOMING_CONTAINER)
    if outcome.state is JobState.FAILED:
        return BulkItem(path=path, outcome=ItemOutcome.FAILED, job_id=outcome.job_id, reason_code=outcome.reason_code)
    return BulkItem(path=path, outcome=ItemOutcome.DONE, job_id=outcome.job_id)


def _delete(bulk_id: str, container: str, path: str, ports: Ports) -> BulkItem:
    """The blob's document out of the sinks and the served versions (the blob stays, as `tributary delete` leaves
    it); skipped for a blob no job ever named."""
    document = document_id(ports.blobs.account, container, path)
    tracking = bulk_tracking_id(bulk_id, path)
    done_before = _delete_of_this_run(document, tracking, ports)
    job = done_before or request_delete(document, ports, tracking_id=tracking)
    if job is None:
        return BulkItem(path=path, outcome=ItemOutcome.SKIPPED, reason_code=Reason.BULK_UNKNOWN_DOCUMENT)
    return BulkItem(path=path, outcome=ItemOutcome.DONE, job_id=job.job_id)


def _delete_of_this_run(document: str, tracking: str, ports: Ports) -> Job | None:
    """The delete job this run recorded for the document already (an activity delivered again), if any: each delete
    opens a generation, so a second request would be a second delete."""
    state = ports.jobs.document_state(document)
    if state is None or state.generation == 0:
        return None
    last = ports.jobs.get_job(delete_job_id(document, state.generation - 1))
    return last if last is not None and last.tracking_id == tracking else None


_RUNNERS: dict[BulkOperation, Callable[[str, str, str, Ports], BulkItem]] = {
    BulkOperation.REPROCESS: _reprocess,
    BulkOperation.DELETE: _delete,
}
