"""Delete: a document leaves the graph, the vector index and the job store's committed versions (DESIGN.md §3).

Two steps, so that nothing a reader sees waits for the sinks. `request_delete` (the HTTP API, the CLI, a BlobDeleted
event) records the delete in the job store at once: the committed version is forgotten, so search stops serving the
document, and the document's next generation opens, so a job still running for it can never commit. It then sends
the delete job's message to the delete stage. The stage (`handle`) removes from both sinks every version of the closed
generations; a version of a later one (the same file uploaded again after the delete) has other ids and is never
touched. Like clean-up it is idempotent and resumable: a redelivery after a crash finishes the work. A job of the old
generation that writes after the removal finishes as a job that lost the race to commit: it cleans up after itself.
"""

import logging
import re
import uuid

from shared.domain import BatchPayload, DocumentRef, Job, JobState, Reason, Stage
from shared.domain.ids import document_id, version_generation
from shared.pipeline.envelopes import make_envelope
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports
from shared.telemetry import current_trace_id, current_traceparent

log = logging.getLogger(__name__)


def request_delete(document_id_: str, ports: Ports, tracking_id: str | None = None) -> Job | None:
    """Delete a document: its delete job, started; None when no job ever named the document (nothing to do).

    `tracking_id`: the caller's, to find this delete again (a bulk run's item); else the current trace's."""
    job = ports.jobs.begin_delete(document_id_, tracking_id=tracking_id or current_trace_id() or uuid.uuid4().hex)
    if job is None:
        log.info("delete of %s: unknown document, nothing to do", document_id_)
        return None
    if job.state is JobState.PROCESSING:  # a retried request may find its job finished already
        container, _, path = job.path.partition("/")
        document = DocumentRef(
            account=ports.blobs.account,
            container=container,
            path=path,
            document_id=job.document_id,
            version=job.version,
            size=0,
            content_type="",
            generation=job.generation,
        )
        envelope = make_envelope(
            job_id=job.job_id,
            document=document,
            stage=Stage.DELETE,
            batch=0,
            payload=BatchPayload(chunks=[]),
            tracking_id=job.tracking_id,
            traceparent=current_traceparent(),
            ports=ports,
        )
        ports.bus.send(ports.settings.queues[Stage.DELETE], [envelope])
    return job


BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
_SUBJECT = re.compile(r"/blobServices/default/containers/(?P<container>[^/]+)/blobs/(?P<path>.+)")


def delete_blob_event(event_type: str, subject: str, ports: Ports) -> Job | None:
    """An Event Grid event for a blob: a BlobDeleted deletes its document; any other event is ignored (None)."""
    match = _SUBJECT.fullmatch(subject)
    if event_type != BLOB_DELETED or match is None:
        log.warning("ignored a %s event for %s: only BlobDeleted of a blob is handled here", event_type, subject)
        return None
    return delete_blob(match["container"], match["path"], ports)


def delete_blob(container: str, path: str, ports: Ports) -> Job | None:
    """A blob was deleted from a container (Event Grid's BlobDeleted): delete its document.

    Ignored (None) for another container than the incoming one, and for a blob that exists again: Event Grid does
    not keep order, so a delete event can arrive after the upload that followed it, and that upload stands.
    """
    if container != ports.settings.incoming_container:
        log.warning("%s: ignored the delete of %s/%s", Reason.INGEST_NOT_INCOMING_CONTAINER, container, path)
        return None
    if blob_exists(container, path, ports):
        log.warning("%s: %s/%s exists again", Reason.DELETE_STALE_EVENT, container, path)
        return None
    return request_delete(document_id(ports.blobs.account, container, path), ports)


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    """Remove every version of generation `document.generation` or earlier from both sinks (the committed version
    aside: only a later generation can have one, and a later generation is never removed here)."""
    committed = ports.jobs.committed_version(document.document_id)

    def obsolete(version: str) -> bool:
        return version != committed and version_generation(version) <= document.generation

    for version in filter(obsolete, ports.graph.document_versions(document.document_id)):
        ports.graph.remove_version(document.document_id, version)
    for version in filter(obsolete, ports.vectors.document_versions(document.document_id)):
        ports.vectors.delete_version(document.document_id, version)
    return StageOutput(payload=payload)


def blob_exists(container: str, path: str, ports: Ports) -> bool:
    """Whether the blob exists now (a listing, so a missing one is an answer rather than an error)."""
    # The first name listed under the path as a prefix is the path itself when the blob exists (names sort first).
    first = next(iter(ports.blobs.list_blobs(container, path)), None)
    return first is not None and first.path == path
