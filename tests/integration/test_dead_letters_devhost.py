"""The dead-letter endpoints over HTTP on the local host (function_app.py on Azurite, the durable broker, FalkorDB):
a stage fails until its message is dead-lettered, the listing shows it, the replay holds it inside the queue's
duplicate detection window, and once the window has passed and the stage is mended the replay makes the job succeed.

The stage queues get the window the app is told (TRIBUTARY_DUPLICATE_DETECTION_WINDOW_SECONDS, as the Bicep template
gives both), so a window of 2 seconds lets the test wait it out for real.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from shared.app_ports import app_ports
from shared.cli_deadletters import ApiSource, DeadLetterRefusedError
from shared.config import STORAGE_CONNECTION
from shared.devhost.host import DevHost
from shared.domain import JobState, PermanentError, Stage
from shared.pipeline import stages
from tests.support.devhost import call_api

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

NOTE = b"Ada Lovelace met Charles Babbage in London.\n"
WINDOW = 2


def failing_extract(payload: Any, document: Any, ports: Any) -> Any:
    raise PermanentError("extract.schema_violation", "injected")


@pytest.fixture
def host(host_settings: dict[str, str]) -> Iterator[DevHost]:
    settings = host_settings | {
        "TRIBUTARY_MAX_DELIVERY_COUNT": "2",
        "TRIBUTARY_DUPLICATE_DETECTION_WINDOW_SECONDS": str(WINDOW),
    }
    opened = DevHost(settings=settings, serve_http=True).__enter__()
    yield opened
    opened.stop()


def test_a_dead_lettered_stage_message_is_listed_held_then_replayed_to_success(
    host: DevHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a file whose extract message failed every delivery while the stage was broken
    with monkeypatch.context() as broken:
        broken.setitem(stages.HANDLERS, Stage.EXTRACT, failing_extract)
        host.blob_store(STORAGE_CONNECTION).upload(host.settings.incoming_container, "note.txt", NOTE)
        host.run_until_idle()
    [job] = app_ports().jobs.list_jobs()
    assert (job.state, job.reason_code) == (JobState.FAILED, "extract.schema_violation")

    # WHEN its queue's dead letters are listed (by stage name and by queue name), and an unknown queue is asked for
    status, listing = call_api(host, "GET", "/api/deadletters/extract")
    by_queue_name = call_api(host, "GET", f"/api/deadletters/{host.settings.queue_extract}")
    unknown_status, unknown = call_api(host, "GET", "/api/deadletters/no-such-queue")

    # THEN the listing counts it by the broker's reason and samples where it belongs, without its body
    assert status == 200, listing
    assert listing["by_reason"] == {"MaxDeliveryCountExceeded": 1}
    [sample] = listing["samples"]
    assert (sample["job_id"], sample["stage"], sample["batch"], sample["delivery_count"]) == (
        job.job_id,
        "extract",
        0,
        2,
    )
    assert "body" not in sample
    assert by_queue_name == (200, listing)
    assert (unknown_status, unknown["reason_code"], unknown["status"]) == (404, "deadletter.queue_unknown", 404)
    # AND `tributary deadletters --url` reads the same answers through the API (a problem becomes its reason code)
    assert host.http is not None
    api = ApiSource(host.http.base_url, host.http.keys.function)
    assert api.summary("extract").model_dump(mode="json") == listing
    with pytest.raises(DeadLetterRefusedError) as refused:
        api.summary("no-such-queue")
    assert refused.value.reason_code == "deadletter.queue_unknown"

    # WHEN it is replayed at once, and with a body that is not a replay request
    held_status, held = call_api(host, "POST", "/api/deadletters/extract/replay", {})
    bad_status, bad = call_api(host, "POST", "/api/deadletters/extract/replay", {"limit": 0, "extra": 1})

    # THEN it is held (a resend now would be dropped) and the bad body is a 400 naming its fields
    assert held_status == 200, held
    assert (held["held"], held["replayed"], held["duplicate_window_seconds"]) == (1, 0, WINDOW)
    assert held["items"][0]["replayable_at"]
    assert (bad_status, bad["reason_code"]) == (400, "request.invalid_body")
    assert {tuple(error["loc"]) for error in bad["errors"]} == {("limit",), ("extra",)}

    # WHEN the stage works again, the window has passed, and the replay runs
    time.sleep(2 * WINDOW + 0.5)
    status, report = call_api(host, "POST", "/api/deadletters/extract/replay", {"job_id": job.job_id})
    host.run_until_idle()

    # THEN the message went back with its MessageId, and the job succeeded; the dead-letter subqueue is empty
    assert status == 200, report
    assert (report["replayed"], report["held"], report["skipped"]) == (1, 0, 0)
    assert report["items"][0]["job_reopened"] is True
    done = app_ports().jobs.get_job(job.job_id)
    assert done is not None
    assert done.state is JobState.SUCCEEDED
    assert app_ports().vectors.count() == done.totals.chunks > 0
    assert call_api(host, "GET", "/api/deadletters/extract")[1]["scanned"] == 0
