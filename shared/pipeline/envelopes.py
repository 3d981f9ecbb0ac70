"""Building envelopes for the next stage, with the claim check for payloads too large for a message."""

from shared.domain import BatchPayload, DocumentRef, Envelope, PermanentError, Reason, Stage
from shared.domain.ids import message_id
from shared.ports import Ports


def make_envelope(
    *,
    job_id: str,
    document: DocumentRef,
    stage: Stage,
    batch: int,
    payload: BatchPayload,
    tracking_id: str,
    ports: Ports,
    traceparent: str | None = None,
) -> Envelope:
    """An envelope for `stage`; a payload over the claim-check threshold is stored as a blob first."""
    body = payload.model_dump_json()
    common = {
        "message_id": message_id(job_id, stage, batch),
        "job_id": job_id,
        "stage": stage,
        "batch": batch,
        "document": document,
        "tracking_id": tracking_id,
        "traceparent": traceparent,
    }
    if len(body) <= ports.settings.claim_check_bytes:
        return Envelope(payload=payload, **common)
    # The path is deterministic, so a redelivered stage overwrites the same blob instead of leaking a new one.
    path = f"{document.document_id}/{document.version}/{stage}/{batch}.json"
    ports.blobs.upload(ports.settings.work_container, path, body.encode("utf-8"))
    return Envelope(claim_check=path, **common)


def open_payload(envelope: Envelope, ports: Ports) -> BatchPayload:
    """The envelope's payload, fetched from the work container when it travelled as a claim check."""
    if envelope.payload is not None:
        return envelope.payload
    assert envelope.claim_check is not None  # guaranteed by the envelope's validator
    try:
        body = ports.blobs.download_bytes(ports.settings.work_container, envelope.claim_check)
    except FileNotFoundError as error:
        raise PermanentError(Reason.MESSAGE_CLAIM_CHECK_MISSING, envelope.claim_check) from error
    return BatchPayload.model_validate_json(body)
