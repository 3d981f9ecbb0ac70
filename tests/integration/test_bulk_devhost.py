"""Bulk runs end to end on the local host: function_app.py's own starter, orchestrator and activities, run by the
host's Durable engine (history in its task hub, activities on its workers) over Azurite, the durable broker, SQLite,
FalkorDB and LanceDB, driven through the HTTP API as a user drives it (`POST /api/bulk`, `GET /api/bulk/{id}`,
`POST /api/bulk/{id}/cancel`, Durable's status URL)."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.app_ports import app_ports
from shared.cli_bulk import BulkApi, bulk_command, request_body
from shared.config import STORAGE_CONNECTION
from shared.devhost.host import DevHost
from shared.domain import JobState
from shared.domain.bulk_jobs import BulkState
from tests.support.devhost import call_api

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(600)]

ENDED = {"Completed", "Failed", "Terminated"}


def texts(count: int) -> dict[str, bytes]:
    return {
        f"docs/note-{n:03d}.txt": f"Note {n}: Ada Lovelace met Charles Babbage in London in {1830 + n}.\n".encode()
        for n in range(count)
    }


def call(host: DevHost, method: str, path: str, body: object = None) -> tuple[int, Any]:
    return call_api(host, method, path, body, timeout=30)


def open_host(settings: dict[str, str]) -> DevHost:
    host = DevHost(settings=settings, serve_http=True).__enter__()
    host.start()
    return host


@pytest.fixture
def bulk_settings(host_settings: dict[str, str]) -> dict[str, str]:
    # Small pages and batches, so a few dozen blobs take several generations (continue_as_new) and batches.
    # The end of a run checks its document jobs every second (30 s on Azure).
    return host_settings | {
        "TRIBUTARY_BULK_PAGE_SIZE": "10",
        "TRIBUTARY_BULK_BATCH_SIZE": "4",
        "TRIBUTARY_BULK_SETTLE_POLL_SECONDS": "1",
    }


@pytest.fixture
def host(bulk_settings: dict[str, str]) -> Iterator[DevHost]:
    opened = open_host(bulk_settings)
    yield opened
    opened.stop()


def ingest(host: DevHost, files: dict[str, bytes]) -> None:
    store = host.blob_store(STORAGE_CONNECTION)
    for name, content in files.items():
        store.upload(host.settings.incoming_container, name, content)
    wait_for_jobs(len(files))


def wait_for_jobs(count: int, timeout: float = 300) -> None:
    """Until the job store holds `count` jobs, every one succeeded (the host's loop runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = app_ports().jobs.list_jobs(limit=10_000)
        if len(jobs) >= count and all(job.terminal for job in jobs):
            assert len(jobs) == count
            assert {job.state for job in jobs} == {JobState.SUCCEEDED}
            return
        assert time.monotonic() < deadline, f"{len(jobs)} jobs, {sum(job.terminal for job in jobs)} ended"
        time.sleep(0.1)


def follow(host: DevHost, bulk_id: str, seen: list[dict[str, Any]], timeout: float = 300) -> dict[str, Any]:
    """Poll GET /api/bulk/{id} until the run ended and its bulk job is closed; every status seen is kept."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = call(host, "GET", f"/api/bulk/{bulk_id}")
        assert status == 200, body
        seen.append(body)
        if body["runtime_status"] in ENDED and body["summary"]["state"] != BulkState.RUNNING:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def assert_progress_only_grows(seen: list[dict[str, Any]]) -> None:
    progress = [body["progress"] for body in seen if body["progress"]]
    for before, after in itertools.pairwise(progress):
        assert all(after[key] >= before[key] for key in ("total", "done", "failed", "skipped"))
        assert after["done"] + after["failed"] + after["skipped"] <= after["total"]


def test_a_bulk_reprocess_runs_every_blob_again_with_correct_progress_and_a_true_summary(host: DevHost) -> None:
    # GIVEN 36 documents ingested
    files = texts(36)
    ingest(host, files)

    # WHEN a bulk reprocess of their prefix is posted and followed
    status, accepted = call(host, "POST", "/api/bulk", {"operation": "reprocess", "prefix": "docs/"})
    assert status == 202, accepted
    seen: list[dict[str, Any]] = []
    final = follow(host, accepted["id"], seen)

    # THEN the orchestration completed over four pages, its progress only grew and ended at 36 done
    assert final["runtime_status"] == "Completed"
    assert_progress_only_grows(seen)
    progress = dict(final["progress"])
    refresh = progress.pop("communities")
    assert progress.pop("communities_error") is None
    assert progress == {
        "total": 36, "done": 36, "failed": 0, "skipped": 0, "pages": 4, "listing_complete": True, "dry_run": False,
        "documents": "ended",
    }  # fmt: skip
    # AND it ended once every document job it started had ended, with one refresh of the graph's communities
    jobs = app_ports().jobs
    items = jobs.list_bulk_items(accepted["id"], limit=100)
    assert all((job := jobs.get_job(item.job_id or "")) is not None and job.terminal for item in items)
    stored = list(app_ports().graph.communities())
    assert refresh["communities"] == len(stored) > 0
    # AND the summary is the job store's, and equals the orchestration's output
    summary = final["summary"]
    assert summary["state"] == "completed"
    assert summary["counts"] | {"listed_bytes": 0} == {
        "pages": 4, "listed": 36, "listed_bytes": 0, "done": 36, "failed": 0, "skipped": 0,
    }  # fmt: skip
    durable_status = json.loads(urllib.request.urlopen(accepted["statusQueryGetUri"], timeout=30).read())
    assert durable_status["output"] == summary
    # AND every blob has its own new job, linked from its item, and each succeeded
    wait_for_jobs(2 * len(files))
    assert sorted(item.path for item in items) == sorted(files)
    linked = [jobs.get_job(item.job_id or "") for item in items]
    assert all(job is not None and job.state is JobState.SUCCEEDED for job in linked)


def test_a_cancelled_run_leaves_a_truthful_partial_summary(bulk_settings: dict[str, str]) -> None:
    # GIVEN 60 documents, and a host running them one at a time
    host = open_host(bulk_settings | {"TRIBUTARY_BULK_BATCH_SIZE": "1"})
    try:
        ingest(host, texts(60))
        status, accepted = call(host, "POST", "/api/bulk", {"operation": "reprocess", "prefix": ""})
        assert status == 202, accepted
        bulk_id = accepted["id"]

        # WHEN it is cancelled once a few blobs are done
        deadline = time.monotonic() + 120
        while (call(host, "GET", f"/api/bulk/{bulk_id}")[1]["summary"]["counts"]["done"]) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, cancelled = call(host, "POST", f"/api/bulk/{bulk_id}/cancel")
        assert status == 202, cancelled
        final = follow(host, bulk_id, [])
        time.sleep(1.0)  # an item running at the stop may still record itself: it ran, and must be counted
        after = call(host, "GET", f"/api/bulk/{bulk_id}")[1]
    finally:
        host.stop()

    # THEN Durable says terminated, the bulk job says cancelled, and its counts are exactly the items recorded
    assert final["runtime_status"] == "Terminated"
    summary = after["summary"]
    assert summary["state"] == "cancelled"
    assert summary["reason_code"] == "bulk.cancelled"
    counts = summary["counts"]
    items = after["items"]
    assert counts["done"] + counts["failed"] + counts["skipped"] == len(items)
    assert 3 <= counts["done"] < 60
    assert summary["not_run"] == counts["listed"] - len(items) > 0


def test_a_host_restarted_mid_run_resumes_it(bulk_settings: dict[str, str]) -> None:
    # GIVEN 40 documents and a bulk reprocess running
    host = open_host(bulk_settings)
    ingest(host, texts(40))
    status, accepted = call(host, "POST", "/api/bulk", {"operation": "reprocess", "prefix": "docs/"})
    assert status == 202, accepted
    bulk_id = accepted["id"]
    deadline = time.monotonic() + 120
    while call(host, "GET", f"/api/bulk/{bulk_id}")[1]["summary"]["counts"]["done"] < 5:
        assert time.monotonic() < deadline
        time.sleep(0.05)

    # WHEN the host stops midway and a new one starts on the same data folder
    host.stop()  # lets running invocations finish; the ports close with it, the new host opens its own
    with SQLiteJobStore(Path(bulk_settings["TRIBUTARY_DATA_DIR"]) / "jobs.sqlite") as store:
        stopped = store.get_bulk_job(bulk_id)
    assert stopped is not None
    assert stopped.state is BulkState.RUNNING  # stopped midway, not finished during the stop
    assert 5 <= stopped.counts.done < 40
    host = open_host(bulk_settings)
    try:
        final = follow(host, bulk_id, [])
        wait_for_jobs(80)  # 40 first ingests, 40 reprocess jobs: none started twice
        jobs = app_ports().jobs
        items = jobs.list_bulk_items(bulk_id, limit=100)
    finally:
        host.stop()

    # THEN the run completed: every blob once, each with one reprocess job, the summary complete
    assert final["runtime_status"] == "Completed"
    assert final["summary"]["counts"]["done"] == 40
    assert final["summary"]["not_run"] == 0
    assert len(items) == 40
    assert len({item.job_id for item in items}) == 40


def test_tributary_bulk_runs_a_dry_run_and_prints_its_summary_as_json(host: DevHost) -> None:
    # GIVEN 12 blobs uploaded and ingested
    ingest(host, texts(12))
    assert host.http is not None
    console = Console(record=True, width=200)

    # WHEN `tributary bulk reprocess --prefix docs/ --dry-run -o json` runs against the host
    body = request_body("reprocess", prefix="docs/", modified_since=None, paths=None, container=None, dry_run=True)
    api = BulkApi(host.http.base_url, host.http.keys.function)
    code = bulk_command(api, "reprocess", None, body, wait=True, output="json", console=console, poll=0.1)

    # THEN it exits 0 and prints one JSON document: the run completed, 12 listed, nothing run
    assert code == 0
    printed = json.loads(console.export_text())
    assert printed["runtime_status"] == "Completed"
    assert printed["summary"]["dry_run"] is True
    assert printed["summary"]["counts"]["listed"] == 12
    assert printed["summary"]["counts"]["done"] == 0
    # AND `tributary bulk status ID` and a bad request behave as documented
    assert (
        bulk_command(api, "status", printed["summary"]["bulk_id"], {}, wait=False, output="table", console=console) == 0
    )
    assert bulk_command(api, "delete", None, {"operation": "delete"}, wait=True, output="json", console=console) == 2
