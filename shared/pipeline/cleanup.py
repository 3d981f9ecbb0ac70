"""Clean-up: a version that will never be served leaves the graph and the vector index (DESIGN.md §3).

The message names the version to remove in its document reference: the version a newly committed one replaced, or
a version that lost the race to commit. Both sinks remove it idempotently and resumably (a crash midway is finished
by the redelivery). A version that is the committed one is never removed, whatever the message says: a late clean-up
must not take away content that a re-upload has made current again.
"""

import logging

from shared.domain import BatchPayload, DocumentRef
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports

log = logging.getLogger(__name__)


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    if ports.jobs.committed_version(document.document_id) == document.version:
        log.warning("clean-up of %s version %s skipped: it is the committed one", document.path, document.version)
        return StageOutput(payload=payload)
    ports.graph.remove_version(document.document_id, document.version)
    ports.vectors.delete_version(document.document_id, document.version)
    return StageOutput(payload=payload)
