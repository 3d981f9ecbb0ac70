"""Completion notifications on the embedded default (local blobs, SQLite, FalkorDB, LanceDB, the in-memory bus): files
run through every stage with a webhook or an Event Grid topic configured, and a local HTTP receiver
(tests/support/event_receiver.py) in their place. The notifiers are the real adapters over real HTTP."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.notify_eventgrid import EventGridNotifier
from shared.adapters.notify_webhook import WebhookNotifier
from shared.bulk import activities
from shared.bulk.starter import run_status
from shared.domain import JobState, Reason
from shared.domain.notifications import Notification, event_id
from shared.pipeline.notify import resend_dead_letters
from shared.pipeline.stages import process_message
from shared.ports import BlobStore, Notifier, Ports
from tests.functional.test_bulk_activities import TEXTS, ingested, list_all, run_item, start_run
from tests.functional.test_cli import tributary
from tests.support.event_receiver import Answer, EventReceiver
from tests.support.host_pipeline import HostPipelineFactory
from tests.support.inprocess import drain
from tests.support.pipeline import Pipeline, PipelineFactory

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

TEXT = b"Ada Lovelace works at Analytical Engines Ltd in London.\n"


def with_notifier(make_pipeline: PipelineFactory, notifier: Callable[[Ports], Notifier], **overrides: Any) -> Pipeline:
    """A pipeline whose ports carry the notifier the wiring would open for these settings."""
    return make_pipeline(wrap=lambda ports: dataclasses.replace(ports, notifier=notifier(ports)), **overrides)


def webhook_pipeline(make_pipeline: PipelineFactory, receiver: EventReceiver, **overrides: Any) -> Pipeline:
    url = f"{receiver.url}/hooks/tributary?code=secret-key"
    settings = {"notify_webhook_url": url, "notify_timeout_seconds": 5.0, "notify_retries": 3} | overrides

    def webhook(ports: Ports) -> Notifier:
        s = ports.settings
        assert s.notify_webhook_url is not None
        return WebhookNotifier(s.notify_webhook_url, retries=s.notify_retries, timeout=s.notify_timeout_seconds)

    return with_notifier(make_pipeline, webhook, **settings)


def test_a_succeeded_file_sends_one_cloudevent_with_the_job_summary(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN the embedded default with a webhook configured
    pipeline = webhook_pipeline(make_pipeline, event_receiver)

    # WHEN a file goes through every stage
    job = pipeline.job(pipeline.drop("docs/ada.txt", TEXT))

    # THEN the receiver got exactly one POST: a structured CloudEvents 1.0 event announcing the success
    assert job.state is JobState.SUCCEEDED
    assert len(event_receiver.requests) == 1
    request = event_receiver.requests[0]
    assert request.path == "/hooks/tributary?code=secret-key"
    assert request.headers["Content-Type"] == "application/cloudevents+json; charset=utf-8"
    event = request.json()
    assert {key: event[key] for key in ("specversion", "id", "source", "type", "subject", "datacontenttype")} == {
        "specversion": "1.0",
        "id": event_id("job", job.job_id, "succeeded"),
        "source": "/tributary/testaccount/jobs",
        "type": "io.tributary.job.succeeded",
        "subject": "incoming/docs/ada.txt",
        "datacontenttype": "application/json",
    }
    # AND its time is when the job ended, its data the job's summary
    assert datetime.fromisoformat(event["time"]) == job.updated_at
    data = event["data"]
    assert data["job_id"] == job.job_id
    assert (data["kind"], data["state"], data["reason_code"]) == ("ingest", "succeeded", None)
    assert (data["path"], data["document_id"], data["version"]) == (job.path, job.document_id, job.version)
    assert data["tracking_id"] == job.tracking_id
    assert data["counts"]["chunks"] == job.totals.chunks > 0
    assert data["counts"]["entities"] == job.totals.entities


def test_a_failed_file_sends_a_failed_event_with_its_reason_code(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN a webhook, and a size cap the file exceeds
    pipeline = webhook_pipeline(make_pipeline, event_receiver, file_max_bytes=10)

    # WHEN the file is uploaded
    job = pipeline.job(pipeline.drop("docs/big.txt", TEXT))

    # THEN its one event says it failed, and why
    assert job.state is JobState.FAILED
    [event] = event_receiver.events()
    assert event["type"] == "io.tributary.job.failed"
    assert event["id"] == event_id("job", job.job_id, "failed")
    assert event["data"]["reason_code"] == Reason.LIMITS_FILE_TOO_LARGE == job.reason_code


def test_the_same_upload_again_is_a_skipped_event_and_failed_only_leaves_both_out(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN a webhook for everything, and one for failures only
    everything = webhook_pipeline(make_pipeline, event_receiver)
    receiver_calls = len(event_receiver.requests)

    # WHEN the same content is uploaded twice
    first = everything.job(everything.drop("docs/ada.txt", TEXT))
    second = everything.job(everything.trigger("docs/ada.txt"))

    # THEN the first announced success and the second a skip (a job of its own)
    assert (first.state, second.state) == (JobState.SUCCEEDED, JobState.SKIPPED)
    assert [event["type"] for event in event_receiver.events()[receiver_calls:]] == [
        "io.tributary.job.succeeded",
        "io.tributary.job.skipped",
    ]
    assert event_receiver.events()[-1]["data"]["reason_code"] == "unchanged"

    # AND with TRIBUTARY_NOTIFY_EVENTS=failed neither would be sent, a failure would
    event_receiver.requests.clear()
    failures_only = webhook_pipeline(make_pipeline, event_receiver, notify_events="failed", file_max_bytes=100)
    failures_only.drop("docs/ada.txt", TEXT)
    failures_only.drop("docs/big.txt", TEXT * 10)
    assert [event["type"] for event in event_receiver.events()] == ["io.tributary.job.failed"]


def test_a_redelivered_message_sends_no_second_event(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN a pipeline whose every message is processed twice (a settlement lost after the work was done)
    pipeline = webhook_pipeline(make_pipeline, event_receiver, batch_max_chunks=1)
    original_receive = pipeline.bus.receive

    def receive_and_process_twice(order: list[str]) -> Any:
        delivery = original_receive(order)
        if delivery is not None:
            process_message(delivery.envelope, pipeline.ports)
        return delivery

    pipeline.bus.receive = receive_and_process_twice  # type: ignore[method-assign]

    # WHEN two files of several batches each run through
    jobs = [pipeline.job(pipeline.drop(f"docs/{n}.txt", TEXT * 40)) for n in ("a", "b")]

    # THEN each job was announced once, whatever the redeliveries and the sink batches finishing in any order
    assert [job.state for job in jobs] == [JobState.SUCCEEDED] * 2
    assert all(job.batches_expected and job.batches_expected > 1 for job in jobs)
    events = event_receiver.events()
    assert sorted(event["id"] for event in events) == sorted(event_id("job", job.job_id, "succeeded") for job in jobs)


def test_a_busy_receiver_gets_the_event_after_retries_and_honours_retry_after(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN a receiver that answers 503 (the second time asking for a second's wait) before 200
    pipeline = webhook_pipeline(make_pipeline, event_receiver)
    event_receiver.answer_with(503, Answer(503, retry_after="1"), then=200)

    # WHEN a file succeeds
    started = time.monotonic()
    job = pipeline.job(pipeline.drop("docs/ada.txt", TEXT))
    elapsed = time.monotonic() - started

    # THEN the same event was sent three times and delivered by the third, after the wait asked for
    ids = [event["id"] for event in event_receiver.events()]
    assert ids == [event_id("job", job.job_id, "succeeded")] * 3
    assert elapsed >= 1.0
    # AND nothing was dead-lettered or recorded on the job
    assert job.issues == 0
    assert not list(pipeline.ports.blobs.list_blobs(pipeline.ports.settings.work_container, "notifications/"))


def test_a_receiver_that_keeps_failing_leaves_a_dead_letter_record_and_a_job_issue(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN a receiver that always answers 500, two retries and a two-second cap
    pipeline = webhook_pipeline(make_pipeline, event_receiver, notify_retries=2, notify_timeout_seconds=2.0)
    event_receiver.answer_with(then=500)

    # WHEN a file succeeds
    started = time.monotonic()
    outcome = pipeline.drop("docs/ada.txt", TEXT)
    elapsed = time.monotonic() - started

    # THEN the job's state is what the pipeline made it: succeeded
    job = pipeline.job(outcome)
    assert job.state is JobState.SUCCEEDED
    # AND the event was tried three times, within the cap
    expected_id = event_id("job", job.job_id, "succeeded")
    assert [event["id"] for event in event_receiver.events()] == [expected_id] * 3
    assert elapsed < 10
    # AND it is kept in the work container with the error and the attempts
    ports = pipeline.ports
    work = ports.settings.work_container
    assert [blob.path for blob in ports.blobs.list_blobs(work, "notifications/")] == [dead_letter_path_of(expected_id)]
    record = json.loads(ports.blobs.download_bytes(work, dead_letter_path_of(expected_id)))
    assert record["reason_code"] == Reason.NOTIFY_DELIVERY_FAILED
    assert record["attempts"] == 3
    assert "HTTP 500" in record["error"]
    assert record["target"] == f"{event_receiver.url}/hooks/tributary"  # the key in the query string left out
    assert record["notification"]["id"] == expected_id
    assert record["notification"]["type"] == "io.tributary.job.succeeded"
    # AND the job carries the issue, found by its reason code
    [issue] = ports.jobs.list_issues(job.job_id)
    assert (issue.locator, issue.reason_code) == ("notification", Reason.NOTIFY_DELIVERY_FAILED)
    assert "secret-key" not in issue.detail
    assert "secret-key" not in json.dumps(record)


def test_a_refusal_is_not_retried(make_pipeline: PipelineFactory, event_receiver: EventReceiver) -> None:
    # GIVEN a receiver that refuses the request (404: a wrong URL will not get better)
    pipeline = webhook_pipeline(make_pipeline, event_receiver)
    event_receiver.answer_with(then=404)

    # WHEN a file succeeds
    job = pipeline.job(pipeline.drop("docs/ada.txt", TEXT))

    # THEN one attempt was made, and the event dead-lettered at once
    assert len(event_receiver.requests) == 1
    path = dead_letter_path_of(event_id("job", job.job_id, "succeeded"))
    record = json.loads(pipeline.ports.blobs.download_bytes("work", path))
    assert record["attempts"] == 1
    assert job.state is JobState.SUCCEEDED


def test_a_bulk_run_announces_its_completion_once(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN three documents ingested with a webhook configured (three job events)
    pipeline = webhook_pipeline(make_pipeline, event_receiver)
    ingested(pipeline)
    event_receiver.requests.clear()

    # WHEN a bulk reprocess runs them and its finish activity runs twice (Durable redelivers activities)
    ports = pipeline.ports
    run = start_run(pipeline, '{"operation": "reprocess", "prefix": "docs/"}')
    for path in list_all(run, ports):
        run_item(run, path, ports)
    drain(pipeline.bus, ports)
    activities.finish({"bulk_id": run.bulk_id}, ports)
    activities.finish({"bulk_id": run.bulk_id}, ports)

    # THEN the three reprocess jobs and the run were each announced once
    events = event_receiver.events()
    assert sorted(event["type"] for event in events) == ["io.tributary.bulk.completed"] + [
        "io.tributary.job.succeeded"
    ] * len(TEXTS)
    [bulk] = [event for event in events if event["type"].startswith("io.tributary.bulk.")]
    assert bulk["id"] == event_id("bulk", run.bulk_id, "completed")
    assert (bulk["source"], bulk["subject"]) == ("/tributary/testaccount/bulk", "incoming")
    assert bulk["data"]["bulk_id"] == run.bulk_id
    counts = bulk["data"]["counts"]
    assert (counts["listed"], counts["done"], counts["failed"], counts["not_run"]) == (3, 3, 0, 0)


def test_event_grid_gets_the_same_event_as_a_cloudevents_batch_with_its_key(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN an Event Grid topic (the local receiver in its place) reached with an access key, busy once
    def topic(ports: Ports) -> Notifier:
        return EventGridNotifier(f"{event_receiver.url}/api/events", "topic-key", retries=3, timeout=5.0)

    pipeline = with_notifier(make_pipeline, topic)
    event_receiver.answer_with(503, then=200)

    # WHEN a file succeeds
    job = pipeline.job(pipeline.drop("docs/ada.txt", TEXT))

    # THEN the SDK POSTed the event twice (the 503 retried) as a batch of one, with the key and the API version
    assert len(event_receiver.requests) == 2
    request = event_receiver.requests[-1]
    assert request.path.startswith("/api/events?api-version=")
    assert request.headers["aeg-sas-key"] == "topic-key"
    assert request.headers["Content-Type"] == "application/cloudevents-batch+json; charset=utf-8"
    [event] = request.json()
    assert event["specversion"] == "1.0"
    assert event["id"] == event_id("job", job.job_id, "succeeded")
    assert (event["type"], event["subject"]) == ("io.tributary.job.succeeded", "incoming/docs/ada.txt")
    assert event["data"]["job_id"] == job.job_id
    assert datetime.fromisoformat(event["time"]) == job.updated_at


def dead_letter_path_of(event_id_: str) -> str:
    return f"notifications/dead-letter/{event_id_}.json"


def test_the_local_host_wires_the_webhook_from_its_setting(
    make_host_pipeline: HostPipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN the app on the local host (Azurite, the local broker) with TRIBUTARY_NOTIFY_WEBHOOK_URL set
    pipeline = make_host_pipeline(notify_webhook_url=f"{event_receiver.url}/hook")

    # WHEN a file is uploaded and the host runs every stage
    job = pipeline.drop("docs/ada.txt", TEXT)

    # THEN the app's own wiring sent the one event of its end
    assert job.state is JobState.SUCCEEDED
    [event] = event_receiver.events()
    assert (event["id"], event["type"]) == (event_id("job", job.job_id, "succeeded"), "io.tributary.job.succeeded")
    assert event["source"] == f"/tributary/{pipeline.ports.blobs.account}/jobs"  # devstoreaccount1 on Azurite


class UploadsFail:
    """A blob store whose uploads under `prefix` fail: the dead-letter record cannot be kept either."""

    def __init__(self, inner: BlobStore, prefix: str) -> None:
        self._inner, self._prefix = inner, prefix

    def upload(self, container: str, path: str, data: Any) -> Any:
        if path.startswith(self._prefix):
            raise OSError("storage is down")
        return self._inner.upload(container, path, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_notification_that_cannot_even_be_dead_lettered_never_fails_the_stage(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a receiver that is down and storage that refuses the dead-letter record
    url = f"{event_receiver.url}/hook"

    def broken(ports: Ports) -> Ports:
        return dataclasses.replace(
            ports,
            blobs=UploadsFail(ports.blobs, "notifications/"),  # type: ignore[arg-type]
            notifier=WebhookNotifier(url, retries=0, timeout=2.0),
        )

    pipeline = make_pipeline(wrap=broken)
    event_receiver.answer_with(then=503)

    # WHEN a file runs through
    job = pipeline.job(pipeline.drop("docs/ada.txt", TEXT))

    # THEN the job succeeded all the same, and the log says what was lost, by its reason code
    assert job.state is JobState.SUCCEEDED
    assert len(event_receiver.requests) == 1
    lost = [record for record in caplog.records if Reason.NOTIFY_DELIVERY_FAILED in record.getMessage()]
    assert any(
        "record of event" in record.getMessage() and "could not be written" in record.getMessage() for record in lost
    )
    # AND the job still says the event was not delivered
    [issue] = pipeline.ports.jobs.list_issues(job.job_id)
    assert issue.reason_code == Reason.NOTIFY_DELIVERY_FAILED


def test_a_live_event_grid_topic_accepts_the_event() -> None:
    # GIVEN a real topic, when one is configured for the tests
    endpoint = os.environ.get("TRIBUTARY_TEST_EVENTGRID_ENDPOINT")
    if not endpoint:
        reason = "TRIBUTARY_TEST_EVENTGRID_ENDPOINT (and _KEY, or a signed-in identity) not set: no live Event Grid"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)
    notifier = EventGridNotifier(endpoint, os.environ.get("TRIBUTARY_TEST_EVENTGRID_KEY"), retries=2, timeout=20.0)
    event = Notification(
        id=event_id("job", "live-test", "succeeded"),
        source="/tributary/test/jobs",
        type="io.tributary.job.succeeded",
        subject="incoming/live-test.txt",
        time=datetime.now(UTC),
        data={"job_id": "live-test", "state": "succeeded"},
        job_id="live-test",
        failed=False,
    )
    # WHEN it is published, THEN the topic accepts it (DeliveryFailedError otherwise)
    try:
        notifier.publish(event)
    finally:
        notifier.close()


def test_resending_delivers_a_dead_lettered_event_with_its_id_or_keeps_it_with_the_new_error(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN an event dead-lettered while the receiver was down
    pipeline = webhook_pipeline(make_pipeline, event_receiver, notify_retries=0)
    event_receiver.answer_with(then=503)
    job = pipeline.job(pipeline.drop("docs/ada.txt", TEXT))
    path = dead_letter_path_of(event_id("job", job.job_id, "succeeded"))
    ports = pipeline.ports

    # WHEN it is resent while the receiver is still down
    [still] = resend_dead_letters(ports)

    # THEN it is kept, its record counting every attempt
    assert not still.delivered
    assert json.loads(ports.blobs.download_bytes("work", path))["attempts"] == 2

    # WHEN it is resent once the receiver is back
    event_receiver.answer_with(then=200)
    [resent] = resend_dead_letters(ports)

    # THEN it was delivered with its own id, and its record is gone
    assert resent.delivered
    assert [event["id"] for event in event_receiver.events()] == [event_id("job", job.job_id, "succeeded")] * 3
    assert not list(ports.blobs.list_blobs("work", "notifications/"))


def test_the_cli_lists_and_resends_undelivered_events(tmp_path: Path, event_receiver: EventReceiver) -> None:
    # GIVEN a file ingested by `tributary ingest` while the webhook answered 500
    settings = {"TRIBUTARY_NOTIFY_WEBHOOK_URL": f"{event_receiver.url}/hook", "TRIBUTARY_NOTIFY_RETRIES": "0"}
    event_receiver.answer_with(then=500)
    source = tmp_path / "files"
    source.mkdir()
    (source / "ada.txt").write_bytes(TEXT)
    data_dir = tmp_path / "data"
    ingest = tributary("ingest", source, data_dir=data_dir, settings=settings)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr

    # WHEN the undelivered events are listed
    listed = tributary("notifications", "list", "-o", "json", data_dir=data_dir, settings=settings)

    # THEN the one event is there with its error
    assert listed.returncode == 0, listed.stdout + listed.stderr
    [record] = json.loads(listed.stdout)["dead_letters"]
    assert record["notification"]["type"] == "io.tributary.job.succeeded"
    assert "HTTP 500" in record["error"]

    # WHEN the receiver is back and they are resent
    event_receiver.answer_with(then=200)
    resent = tributary("notifications", "resend", "-o", "json", data_dir=data_dir, settings=settings)

    # THEN it was delivered under the same id, and none is left
    assert resent.returncode == 0, resent.stdout + resent.stderr
    assert json.loads(resent.stdout)["resent"][0]["delivered"] is True
    assert [event["id"] for event in event_receiver.events()] == [record["notification"]["id"]] * 2
    empty = tributary("notifications", "list", "-o", "json", data_dir=data_dir, settings=settings)
    assert json.loads(empty.stdout) == {"dead_letters": []}


def test_a_terminated_bulk_run_is_announced_cancelled_by_the_read_that_closes_it(
    make_pipeline: PipelineFactory, event_receiver: EventReceiver
) -> None:
    # GIVEN a run that ran one of its three blobs before it was terminated
    pipeline = webhook_pipeline(make_pipeline, event_receiver)
    ingested(pipeline)
    ports = pipeline.ports
    run = start_run(pipeline, '{"operation": "reprocess", "prefix": "docs/"}')
    paths = list_all(run, ports, size=10)
    run_item(run, paths[0], ports)
    drain(pipeline.bus, ports)
    event_receiver.requests.clear()

    # WHEN its status is read twice after Durable says Terminated (GET /api/bulk/{id} passes the app's ports)
    run_status(ports.jobs, run.bulk_id, "Terminated", ports=ports)
    run_status(ports.jobs, run.bulk_id, "Terminated", ports=ports)

    # THEN the first read closed it and announced it cancelled, with what ran; the second announced nothing
    [event] = event_receiver.events()
    assert (event["type"], event["id"]) == ("io.tributary.bulk.cancelled", event_id("bulk", run.bulk_id, "cancelled"))
    assert event["data"]["reason_code"] == Reason.BULK_CANCELLED
    assert (event["data"]["counts"]["done"], event["data"]["counts"]["not_run"]) == (1, 2)
