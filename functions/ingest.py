"""Blob events: a file landed in the incoming container (blob trigger), or left it (Event Grid BlobDeleted).
Validation, parsing, publishing and deleting live in shared/."""

import logging

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from shared.app_ports import app_ports
from shared.config import STORAGE_CONNECTION
from shared.domain import BlobEvent
from shared.pipeline.delete import delete_blob_event
from shared.pipeline.ingest import ingest_blob

bp = func.Blueprint()
log = logging.getLogger(__name__)


# A BlobClient (SDK-type binding) rather than an InputStream: the worker would otherwise hand over the whole blob,
# and ingest streams it instead. source=EventGrid: Event Grid pushes BlobCreated, no container polling on Azure.
@bp.blob_trigger(
    arg_name="client",
    path="%TRIBUTARY_INCOMING_CONTAINER%/{name}",
    connection=STORAGE_CONNECTION,
    source=func.BlobSource.EVENT_GRID,
)
def ingest(client: blob.BlobClient) -> None:
    properties = client.get_blob_properties()
    # The ETag names this upload: a redelivered event keeps it, a new upload of the same path changes it.
    event = BlobEvent(event_id=properties.etag, container=client.container_name, path=client.blob_name)
    outcome = ingest_blob(event, app_ports())
    if outcome is not None:  # None: not the incoming container, ignored (and logged) by ingest_blob
        log.info("ingest %s: job %s %s %s", event.path, outcome.job_id, outcome.state, outcome.reason_code or "")


# Event Grid pushes BlobDeleted here: the subscription (infra/) filters the incoming container's BlobDeleted events.
@bp.event_grid_trigger(arg_name="event")
def blob_deleted(event: func.EventGridEvent) -> None:
    job = delete_blob_event(event.event_type, event.subject, app_ports())
    log.info("blob deleted %s: %s", event.subject, f"delete job {job.job_id}" if job else "nothing to delete")
