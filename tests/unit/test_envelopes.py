from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.adapters.local_blob import LocalFolderBlobStore
from shared.config import Settings
from shared.domain import BatchPayload, Chunk, DocumentRef, Envelope, PermanentError, Stage
from shared.pipeline.envelopes import make_envelope, open_payload
from shared.ports import Ports

DOCUMENT = DocumentRef(
    account="a", container="c", path="p.txt", document_id="doc", version="v1", size=1, content_type="text/plain"
)


def ports_with(tmp_path: Path, claim_check_bytes: int) -> Ports:
    # Only blobs and settings are touched by envelopes; the other ports stay unset on purpose.
    settings = Settings(data_dir=tmp_path, claim_check_bytes=claim_check_bytes)
    return Ports(LocalFolderBlobStore(tmp_path), None, None, None, None, None, None, settings)  # type: ignore[arg-type]


def payload(size: int) -> BatchPayload:
    chunk = Chunk(chunk_id="c0", document_id="doc", version="v1", ordinal=0, text="x" * size, locator="line 1")
    return BatchPayload(chunks=[chunk])


def envelope_for(ports: Ports, body: BatchPayload) -> Envelope:
    return make_envelope(
        job_id="job", document=DOCUMENT, stage=Stage.ENRICH, batch=3, payload=body, tracking_id="t", ports=ports
    )


def test_small_payload_travels_inline(tmp_path: Path):
    ports = ports_with(tmp_path, claim_check_bytes=10_000)
    envelope = envelope_for(ports, payload(100))
    assert envelope.payload is not None
    assert envelope.claim_check is None
    assert open_payload(envelope, ports) == payload(100)


def test_large_payload_travels_as_a_claim_check_at_a_deterministic_path(tmp_path: Path):
    ports = ports_with(tmp_path, claim_check_bytes=1000)
    envelope = envelope_for(ports, payload(5000))
    assert envelope.payload is None
    assert envelope.claim_check == "doc/v1/enrich/3.json"
    assert len(envelope.model_dump_json()) < 1000
    assert open_payload(envelope, ports) == payload(5000)
    # a resend writes the same blob instead of a new one
    assert envelope_for(ports, payload(5000)).claim_check == envelope.claim_check
    assert len(list(ports.blobs.list_blobs("work"))) == 1


def test_missing_claim_check_is_a_permanent_error(tmp_path: Path):
    ports = ports_with(tmp_path, claim_check_bytes=1000)
    envelope = envelope_for(ports, payload(5000))
    ports.blobs.delete("work", envelope.claim_check or "")
    with pytest.raises(PermanentError) as raised:
        open_payload(envelope, ports)
    assert raised.value.reason_code == "message.claim_check_missing"


def test_an_envelope_needs_exactly_one_body():
    common = {"message_id": "m", "job_id": "j", "stage": Stage.ENRICH, "batch": 0, "document": DOCUMENT}
    with pytest.raises(ValidationError):
        Envelope(tracking_id="t", **common)
    with pytest.raises(ValidationError):
        Envelope(tracking_id="t", payload=payload(1), claim_check="x", **common)
