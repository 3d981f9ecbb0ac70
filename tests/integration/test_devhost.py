"""The Function app through the local host, on Azurite, the durable broker and FalkorDB: Azure's trigger semantics.

Faults are injected by wrapping one real stage handler or the ingest call; everything else runs for real.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.app_ports import app_ports
from shared.config import STORAGE_CONNECTION
from shared.devhost.blob_trigger import POISON_QUEUE
from shared.devhost.broker_bus import BrokerBus
from shared.devhost.broker_models import DEAD_LETTER_MAX_DELIVERY
from shared.devhost.host import DevHost
from shared.domain import Envelope, JobState, PermanentError, Stage, TransientError
from shared.pipeline import stages
from shared.pipeline.ingest import NOT_INCOMING
from shared.pipeline.settlement import MAX_DELIVERY_EXCEEDED
from tests.support.devhost import HostFactory
from tests.support.pipeline import PipelineFactory, sample_files

pytestmark = pytest.mark.timeout(180)


def drop(host: DevHost, files: dict[str, bytes]) -> None:
    store = host.blob_store(STORAGE_CONNECTION)
    for name, content in files.items():
        store.upload(host.settings.incoming_container, name, content)


def all_jobs(host: DevHost) -> list:
    return app_ports().jobs.list_jobs(limit=1000)


def store_counts() -> dict[str, int]:
    ports = app_ports()
    return ports.graph.counts().model_dump() | {"vectors": ports.vectors.count()}


def test_samples_through_the_host_give_the_same_graph_and_index_as_in_process(
    open_host: HostFactory, make_pipeline: PipelineFactory
) -> None:
    # GIVEN the samples run in process (the reference) and dropped into the host's incoming container
    reference = make_pipeline()
    for name, content in sample_files().items():
        reference.drop(name, content)
    host = open_host()
    drop(host, sample_files())

    # WHEN the host runs until nothing is left
    host.run_until_idle()

    # THEN every file succeeded and the stores hold exactly what the in-process run wrote
    jobs = all_jobs(host)
    assert len(jobs) == len(sample_files())
    assert {job.state for job in jobs} == {JobState.SUCCEEDED}
    assert store_counts() == reference.store_counts()
    assert all(
        job.counters(stage).done == job.batches_expected for job in jobs for stage in (Stage.GRAPH, Stage.VECTOR)
    )


def test_a_blob_that_keeps_failing_goes_to_the_poison_queue_after_five_tries(
    open_host: HostFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an ingest that always fails with a transient error
    import functions.ingest

    calls: list[str] = []

    def failing_ingest(event, ports):
        calls.append(event.path)
        raise TransientError("test.storage_down", "injected")

    monkeypatch.setattr(functions.ingest, "ingest_blob", failing_ingest)
    host = open_host()
    drop(host, {"broken.txt": b"some text"})

    # WHEN the host runs until idle
    host.run_until_idle()

    # THEN the blob was tried exactly five times (host.json poisonBlobThreshold) and then poisoned
    assert calls == ["broken.txt"] * 5
    poison = host.broker.receive(POISON_QUEUE, 10)
    assert len(poison) == 1
    body = json.loads(poison[0].body)
    assert (body["FunctionId"], body["BlobName"]) == ("Host.Functions.ingest", "broken.txt")


def test_a_message_failing_every_time_is_dead_lettered_after_ten_deliveries_with_its_reason(
    open_host: HostFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a graph sink that always raises
    deliveries: list[int] = []

    def broken_graph(payload, document, ports):
        deliveries.append(payload.chunks[0].ordinal if payload.chunks else -1)
        raise ConnectionError("graph database unreachable")

    monkeypatch.setitem(stages.HANDLERS, Stage.GRAPH, broken_graph)
    host = open_host()
    drop(host, {"note.txt": b"Ada Lovelace met Charles Babbage in London."})

    # WHEN the host runs until idle
    host.run_until_idle()

    # THEN the graph message was delivered maxDeliveryCount times, then dead-lettered by the queue ...
    assert len(deliveries) == 10
    dead = host.broker.peek_dead_letters(host.settings.queue_graph)
    assert [(m.dead_letter_reason, m.delivery_count) for m in dead] == [(DEAD_LETTER_MAX_DELIVERY, 10)]
    # ... and the job says so, with the batch accounted as dead-lettered
    [job] = all_jobs(host)
    assert (job.state, job.reason_code) == (JobState.FAILED, MAX_DELIVERY_EXCEEDED)
    assert job.counters(Stage.GRAPH).dead_lettered == 1
    assert job.counters(Stage.VECTOR).done == 1  # the other sink was not held back


def test_a_permanent_error_fails_the_job_at_once_with_its_reason(
    open_host: HostFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refusing_extract(payload, document, ports):
        raise PermanentError("extract.schema_violation", "injected")

    monkeypatch.setitem(stages.HANDLERS, Stage.EXTRACT, refusing_extract)
    host = open_host()
    drop(host, {"note.txt": b"Ada Lovelace met Charles Babbage in London."})

    host.run_until_idle()

    [job] = all_jobs(host)
    assert (job.state, job.reason_code) == (JobState.FAILED, "extract.schema_violation")
    [dead] = host.broker.peek_dead_letters(host.settings.queue_extract)
    assert dead.message_id == Envelope.model_validate_json(dead.body).message_id


def test_a_resent_message_id_is_dropped_and_runs_nothing_twice(
    open_host: HostFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a finished run, with every message the functions sent recorded on its way to the real broker
    sent: list[tuple[str, Envelope]] = []
    real_send = BrokerBus.send

    def recording_send(self, queue, envelopes):
        sent.extend((queue, envelope) for envelope in envelopes)
        return real_send(self, queue, envelopes)

    monkeypatch.setattr(BrokerBus, "send", recording_send)
    host = open_host()
    drop(host, {"staff.csv": sample_files()["samples/staff.csv"]})
    host.run_until_idle()
    [before] = all_jobs(host)
    counts_before = store_counts()
    handled: list[Stage] = []
    for stage in Stage:
        if stage in stages.HANDLERS:
            real = stages.HANDLERS[stage]
            monkeypatch.setitem(
                stages.HANDLERS,
                stage,
                lambda p, d, ports, real=real, stage=stage: handled.append(stage) or real(p, d, ports),
            )

    # WHEN every one of those messages is sent again, inside the duplicate-detection window
    bus = app_ports().bus
    for queue, envelope in list(sent):  # the copy: resending records again
        bus.send(queue, [envelope])
    host.run_until_idle()

    # THEN the broker dropped them all: no stage ran, and the job and the stores are unchanged
    assert sent, "the run sent messages"
    assert handled == []
    [after] = all_jobs(host)
    assert after.model_dump(exclude={"updated_at"}) == before.model_dump(exclude={"updated_at"})
    assert store_counts() == counts_before


def test_http_calls_need_the_function_key_except_health(open_host: HostFactory) -> None:
    host = open_host(serve_http=True)
    assert host.http is not None
    keys = json.loads((host.settings.data_dir / "devhost-keys.json").read_text())
    base = f"{host.http.base_url}/api"

    assert _get(f"{base}/health")[0] == 200
    assert _get(f"{base}/jobs")[0] == 401
    assert _get(f"{base}/jobs", key="not-the-key")[0] == 401
    status, body = _get(f"{base}/jobs", key=keys["function"])
    assert (status, json.loads(body)) == (200, {"jobs": [], "next_cursor": None})
    assert _get(f"{base}/jobs/unknown-job", key=keys["function"])[0] == 404


def test_search_answers_with_chunks_their_documents_mentions_and_graph(open_host: HostFactory) -> None:
    # GIVEN the samples ingested through the host
    host = open_host(serve_http=True)
    assert host.http is not None
    drop(host, sample_files())
    host.run_until_idle()
    key = json.loads((host.settings.data_dir / "devhost-keys.json").read_text())["function"]
    base = f"{host.http.base_url}/api"

    # WHEN a user searches for a project
    status, raw = _get(f"{base}/search?q=Project%20Heron%20Lisbon&k=3", key=key)

    # THEN the top chunks come with their sample file, locator, score and mentions, and the graph around them
    assert status == 200, raw
    body = json.loads(raw)
    assert len(body["hits"]) == 3
    assert all(hit["path"].startswith("samples/") and hit["locator"] for hit in body["hits"])
    assert [hit["score"] for hit in body["hits"]] == sorted((hit["score"] for hit in body["hits"]), reverse=True)
    mentioned = {entity for hit in body["hits"] for entity in hit["entities"]}
    assert "Project Heron" in {body["entities"][entity]["name"] for entity in mentioned}
    assert all(r["source_id"] in body["entities"] and r["target_id"] in body["entities"] for r in body["relations"])
    assert any(r["type"] == "LOCATED_IN" for r in body["relations"])
    # AND a filter narrows the answer, through the query string
    inside = json.loads(_get(f"{base}/search?q=Project%20Heron&k=3&filter=folder%3Asamples", key=key)[1])
    assert len(inside["hits"]) == 3
    assert json.loads(_get(f"{base}/search?q=Project%20Heron&filter=folder%3Aelsewhere", key=key)[1])["hits"] == []
    # AND a bad query or filter is a 400 with the reason code, and search needs the key
    assert json.loads(_get(f"{base}/search?k=3", key=key)[1])["reason_code"] == "request.invalid_query"
    bad_filter = _get(f"{base}/search?q=heron&filter=colour%3Ared", key=key)
    assert (bad_filter[0], json.loads(bad_filter[1])["reason_code"]) == (400, "request.invalid_filter")
    assert _get(f"{base}/search?q=heron")[0] == 401


def _get(url: str, key: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"x-functions-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


_HOST_PROCESS = """
import json, sys
from shared.devhost.host import DevHost
with DevHost(settings=json.loads(sys.argv[1])) as host:
    host.run_until_idle()
"""


def test_a_host_killed_mid_run_and_restarted_finishes_every_file_without_loss_or_double_counting(
    host_settings: dict[str, str], make_pipeline: PipelineFactory
) -> None:
    # GIVEN the samples and the stores an in-process run makes of them
    files = sample_files()
    reference = make_pipeline()
    for name, content in files.items():
        reference.drop(name, content)
    expected_totals = {_blob_name(job.path): job.totals.chunks for job in reference.ports.jobs.list_jobs(limit=100)}
    assert sorted(expected_totals) == sorted(files)

    # WHEN a host in its own process is killed (SIGKILL) once some, not all, jobs have finished
    environment = {**os.environ, **host_settings}
    process = subprocess.Popen(
        [sys.executable, "-c", _HOST_PROCESS, json.dumps(host_settings)],
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )
    try:
        with DevHost(settings=host_settings) as uploader:  # uploads only; never runs a trigger
            drop(uploader, files)
        jobs_db = Path(host_settings["TRIBUTARY_DATA_DIR"]) / "jobs.sqlite"
        _wait_until(lambda: 0 < _succeeded(jobs_db) < len(files), timeout=120)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed_at = _succeeded(jobs_db)

    # AND a new host is started on the same state
    with DevHost(settings=host_settings) as host:
        host.run_until_idle()
        jobs = all_jobs(host)
        counts = store_counts()

    # THEN every file finished, each exactly once, with the counts of a clean run
    assert killed_at < len(files)
    assert sorted(_blob_name(job.path) for job in jobs) == sorted(expected_totals)
    assert {job.state for job in jobs} == {JobState.SUCCEEDED}
    for job in jobs:
        assert job.totals.chunks == expected_totals[_blob_name(job.path)]
        for stage in (Stage.ENRICH, Stage.EXTRACT, Stage.GRAPH, Stage.VECTOR):
            assert job.counters(stage).done == job.batches_expected
    assert counts == reference.store_counts()


def _blob_name(job_path: str) -> str:
    return job_path.split("/", 1)[1]  # a job's path starts with its container, which differs between the runs


def _succeeded(jobs_db: Path) -> int:
    if not jobs_db.exists():
        return 0
    store = SQLiteJobStore(jobs_db)
    try:
        return len(store.list_jobs(state=JobState.SUCCEEDED, limit=1000))
    except Exception:  # the schema may not exist yet
        return 0
    finally:
        store.close()


def _wait_until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_an_event_grid_blob_created_event_posted_to_the_webhook_triggers_ingest(open_host: HostFactory) -> None:
    # GIVEN a host serving HTTP (its trigger loop is not running, so only the webhook can start the function)
    host = open_host(serve_http=True)
    assert host.http is not None
    keys = json.loads((host.settings.data_dir / "devhost-keys.json").read_text())
    drop(host, {"note.txt": b"Ada Lovelace met Charles Babbage in London."})
    store = host.blob_store(STORAGE_CONNECTION)
    url = f"{store.service.url.rstrip('/')}/{host.settings.incoming_container}/note.txt"
    event = [{"id": "1", "eventType": "Microsoft.Storage.BlobCreated", "subject": "x", "data": {"url": url}}]
    webhook = f"{host.http.base_url}/runtime/webhooks/blobs?functionName=Host.Functions.ingest"

    # WHEN Event Grid (or a developer, as Azure's local samples do) posts BlobCreated, with and without the key
    refused = _post(webhook, event)
    accepted = _post(webhook, event, key=keys["master"])

    # THEN only the keyed call is taken, and it runs ingest for that blob
    assert (refused, accepted) == (401, 202)
    _wait_until(lambda: len(all_jobs(host)) == 1, timeout=30)
    host.run_until_idle()
    [job] = all_jobs(host)
    assert (job.path, job.state) == (f"{host.settings.incoming_container}/note.txt", JobState.SUCCEEDED)


def test_a_blob_deleted_event_posted_to_the_event_grid_webhook_deletes_the_document(open_host: HostFactory) -> None:
    # GIVEN a host serving HTTP with one ingested blob, and a second blob that exists
    host = open_host(serve_http=True)
    assert host.http is not None
    keys = json.loads((host.settings.data_dir / "devhost-keys.json").read_text())
    drop(host, {"gone.txt": b"Ada Lovelace met Charles Babbage in London.", "kept.txt": b"Grace Hopper in Arlington."})
    host.run_until_idle()
    incoming = host.settings.incoming_container
    webhook = f"{host.http.base_url}/runtime/webhooks/eventgrid?functionName=blob_deleted"

    def deleted(name: str) -> dict[str, object]:
        subject = f"/blobServices/default/containers/{incoming}/blobs/{name}"
        return {"id": name, "eventType": "Microsoft.Storage.BlobDeleted", "subject": subject, "data": {}}

    # WHEN BlobDeleted is posted for a blob that is gone (its blob removed behind the trigger loop's back) and for
    # one that still exists (a late event: the blob was uploaded again since), and to a function with no such trigger
    host.blob_store(STORAGE_CONNECTION).delete(incoming, "gone.txt")
    assert _post(webhook, [deleted("gone.txt"), deleted("kept.txt")], key=keys["master"]) == 202
    assert _post(webhook.replace("blob_deleted", "ingest"), [deleted("gone.txt")], key=keys["master"]) == 404
    host.run_until_idle()

    # THEN only the gone blob's document was deleted
    kinds = {(job.path.rsplit("/", 1)[-1], job.kind.value, job.state.value) for job in all_jobs(host)}
    assert kinds == {
        ("gone.txt", "ingest", "succeeded"),
        ("gone.txt", "delete", "succeeded"),
        ("kept.txt", "ingest", "succeeded"),
    }


def _post(url: str, body: object, key: str | None = None) -> int:
    headers = {"content-type": "application/json", "aeg-event-type": "Notification"} | (
        {"x-functions-key": key} if key else {}
    )
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_watcher_sees_only_the_container_its_trigger_path_names(open_host: HostFactory) -> None:
    # GIVEN a blob in the work container (a claim-check payload) and one in the incoming container
    host = open_host()
    store = host.blob_store(STORAGE_CONNECTION)
    store.upload(host.settings.work_container, "doc/version/0.json", b'{"chunks": []}')
    drop(host, {"note.txt": b"Ada Lovelace met Charles Babbage in London."})

    # WHEN the host runs until idle
    host.run_until_idle()

    # THEN only the incoming blob became a job
    assert [job.path for job in all_jobs(host)] == [f"{host.settings.incoming_container}/note.txt"]


def test_an_event_for_another_container_reaches_ingest_which_ignores_it(
    open_host: HostFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a host serving HTTP and a claim-check blob in the work container
    host = open_host(serve_http=True)
    assert host.http is not None
    keys = json.loads((host.settings.data_dir / "devhost-keys.json").read_text())
    store = host.blob_store(STORAGE_CONNECTION)
    store.upload(host.settings.work_container, "doc/version/0.json", b'{"chunks": []}')
    url = f"{store.service.url.rstrip('/')}/{host.settings.work_container}/doc/version/0.json"
    event = [{"id": "1", "eventType": "Microsoft.Storage.BlobCreated", "subject": "x", "data": {"url": url}}]
    webhook = f"{host.http.base_url}/runtime/webhooks/blobs?functionName=Host.Functions.ingest"

    # WHEN Event Grid delivers BlobCreated for it to the ingest function (Azure does not filter by the trigger path)
    with caplog.at_level(logging.WARNING, logger="shared.pipeline.ingest"):
        assert _post(webhook, event, key=keys["master"]) == 202
        _wait_until(lambda: any(NOT_INCOMING in record.getMessage() for record in caplog.records), timeout=30)
        host.run_until_idle()

    # THEN the function ran, ignored it with a warning, and made no job
    assert all_jobs(host) == []
