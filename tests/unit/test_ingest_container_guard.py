"""Ingest takes only the incoming container: on Azure an Event Grid-sourced blob trigger gets events of any container
its subscription delivers, and the claim-check payloads in the work container must never become documents."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from shared.config import Settings
from shared.domain import BlobEvent
from shared.pipeline.ingest import NOT_INCOMING, ingest_blob


class NoPortCalled:
    """Any use of a port fails the test: an ignored event must not read the blob nor create a job."""

    def __getattr__(self, name: str):
        raise AssertionError(f"port used: {name}")


def test_an_event_for_another_container_is_ignored_with_a_warning_and_no_job(caplog: pytest.LogCaptureFixture):
    # GIVEN ports whose every call fails, and settings naming "incoming" as the incoming container
    broken = NoPortCalled()
    ports = SimpleNamespace(settings=Settings(incoming_container="incoming"), blobs=broken, jobs=broken, bus=broken)
    event = BlobEvent(event_id="etag-1", container="work", path="doc/version/0.json")

    # WHEN a BlobCreated event for a claim-check blob in the work container arrives
    with caplog.at_level(logging.WARNING, logger="shared.pipeline.ingest"):
        outcome = ingest_blob(event, ports)  # type: ignore[arg-type]

    # THEN nothing was done, and a warning with the reason code says why
    assert outcome is None
    [record] = caplog.records
    assert record.levelname == "WARNING"
    assert record.getMessage().startswith(f"{NOT_INCOMING}: ignored work/doc/version/0.json")
