"""The bulk activities on the embedded default (local blobs, SQLite, FalkorDB, LanceDB, the in-memory bus), called
with JSON as Durable calls them: what each does to the pipeline and the job store, redelivered or not, and the
summary a run leaves, finished or cancelled. The orchestration around them is tested by tests/replay/."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.bulk import activities
from shared.bulk.models import BulkRun, BulkStatus
from shared.bulk.starter import prepare_run, run_status
from shared.bulk.status import summary_of
from shared.domain import JobKind, JobState, Reason, TransientError
from shared.domain.bulk_jobs import BulkCounts, BulkItem, BulkState, ItemOutcome
from shared.domain.ids import document_id, reprocess_job_id
from shared.ports import Ports
from tests.support.inprocess import drain
from tests.support.pipeline import Pipeline

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

TEXTS = {
    "docs/a.txt": b"Ada Lovelace works at Analytical Engines Ltd in London.\n",
    "docs/b.txt": b"Charles Babbage founded Difference Works in Cambridge.\n",
    "docs/c.txt": b"Grace Hopper joined Compiler Systems in Arlington.\n",
}
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def start_run(pipeline: Pipeline, body: str, bulk_id: str = "run-1") -> BulkRun:
    """What the starter and the orchestrator's first activity do: the checked request, the bulk job recorded."""
    run = prepare_run(body.encode(), pipeline.ports.settings, bulk_id=bulk_id)
    assert isinstance(run, BulkRun), run
    activities.begin(
        {
            "bulk_id": run.bulk_id,
            "operation": run.operation,
            "container": run.container,
            "selector": run.selector,
            "dry_run": run.dry_run,
            "started_at": T0.isoformat(),
        },
        pipeline.ports,
    )
    return run


def list_all(run: BulkRun, ports: Ports, size: int = 2) -> list[str]:
    """Every page of the run's selection, as the generations of the orchestration list them."""
    paths: list[str] = []
    token: str | None = None
    explicit = run.paths
    for page in range(1000):
        data = {
            "bulk_id": run.bulk_id,
            "page": page,
            "container": run.container,
            "prefix": run.prefix,
            "modified_since": run.modified_since.isoformat() if run.modified_since else None,
            "paths": explicit[:size] if explicit is not None else None,
            "continuation": token,
            "size": size,
        }
        listed = activities.list_page(data, ports)
        paths += listed["paths"]
        token = listed["continuation"]
        explicit = explicit[size:] if explicit is not None else None
        if (explicit is not None and not explicit) or (explicit is None and token is None):
            return paths
    raise AssertionError("the listing never ended")


def run_item(run: BulkRun, path: str, ports: Ports) -> str:
    data = {"bulk_id": run.bulk_id, "operation": run.operation, "container": run.container, "path": path}
    return activities.item(data, ports)


def ingested(pipeline: Pipeline) -> dict[str, str]:
    """The three documents, ingested and succeeded: path -> job id."""
    jobs = {}
    for name, content in TEXTS.items():
        outcome = pipeline.drop(name, content)
        assert pipeline.job(outcome).state is JobState.SUCCEEDED
        jobs[name] = outcome.job_id
    return jobs


def test_reprocess_starts_a_new_job_per_document_even_when_its_content_is_unchanged(pipeline: Pipeline) -> None:
    # GIVEN three documents ingested, and the graph as they left it
    first_jobs = ingested(pipeline)
    ports = pipeline.ports
    before = pipeline.store_counts()

    # WHEN a bulk reprocess of their prefix lists them and runs each, then the pipeline drains
    run = start_run(pipeline, '{"operation": "reprocess", "prefix": "docs/"}')
    paths = list_all(run, ports)
    outcomes = [run_item(run, path, ports) for path in paths]
    drain(pipeline.bus, ports)
    summary = activities.finish({"bulk_id": run.bulk_id}, ports)

    # THEN each went through ingest again as a job of its own, keyed on (run, document), and succeeded
    assert paths == sorted(TEXTS)
    assert outcomes == ["done"] * 3
    items = ports.jobs.list_bulk_items(run.bulk_id)
    for item in items:
        doc = document_id(ports.blobs.account, "incoming", item.path)
        assert item.job_id == reprocess_job_id(run.bulk_id, doc) != first_jobs[item.path]
        job = ports.jobs.get_job(item.job_id)
        assert job is not None
        assert job.state is JobState.SUCCEEDED
        # AND the same content is still the committed version: nothing was duplicated or removed
        assert ports.jobs.committed_version(doc) == job.version == job.base_version
    assert pipeline.store_counts() == before
    # AND the summary is the job store's: three listed, three done, nothing left
    assert summary["state"] == "completed"
    expected = BulkCounts(pages=2, listed=3, listed_bytes=sum(map(len, TEXTS.values())), done=3)
    assert summary["counts"] == expected.model_dump()
    assert summary["not_run"] == 0


def test_a_redelivered_item_finds_the_job_it_started(pipeline: Pipeline) -> None:
    # GIVEN a document and a bulk reprocess that ran it once
    ingested(pipeline)
    ports = pipeline.ports
    run = start_run(pipeline, '{"operation": "reprocess", "paths": ["docs/a.txt"]}')
    assert run_item(run, "docs/a.txt", ports) == "done"
    published = pipeline.bus.pending()
    assert published > 0

    # WHEN Durable delivers the same activity again, before and after the job finished
    again = run_item(run, "docs/a.txt", ports)
    assert pipeline.bus.pending() == published  # nothing published twice
    drain(pipeline.bus, ports)
    after_finish = run_item(run, "docs/a.txt", ports)

    # THEN one job, one item: the second and third runs found the job and started nothing
    assert again == after_finish == "done"
    assert ports.jobs.list_bulk_items(run.bulk_id) == [
        BulkItem(
            path="docs/a.txt",
            outcome=ItemOutcome.DONE,
            job_id=reprocess_job_id(run.bulk_id, document_id(ports.blobs.account, "incoming", "docs/a.txt")),
        )
    ]
    assert pipeline.bus.pending() == 0
    # AND beside the three first jobs there is exactly one more: the reprocess
    assert len(ports.jobs.list_jobs()) == len(TEXTS) + 1


def test_bad_content_and_a_vanished_blob_are_outcomes_not_errors(pipeline: Pipeline) -> None:
    # GIVEN an empty file (refused by validation) and an explicit path with no blob
    ports = pipeline.ports
    ports.blobs.upload("incoming", "docs/empty.txt", b"")
    run = start_run(pipeline, '{"operation": "reprocess", "paths": ["docs/empty.txt", "docs/gone.txt"]}')

    # WHEN the run lists and runs them
    paths = list_all(run, ports)
    outcomes = [run_item(run, path, ports) for path in paths]

    # THEN the empty file's item failed with the validation's reason, linked to its failed job; the missing one was
    # recorded as skipped by the listing itself, and counted as listed
    assert outcomes == ["failed"]
    items = {item.path: item for item in ports.jobs.list_bulk_items(run.bulk_id)}
    assert items["docs/empty.txt"].reason_code == Reason.VALIDATE_EMPTY_FILE
    failed_job = ports.jobs.get_job(items["docs/empty.txt"].job_id or "")
    assert failed_job is not None
    assert failed_job.state is JobState.FAILED
    assert items["docs/gone.txt"] == BulkItem(
        path="docs/gone.txt", outcome=ItemOutcome.SKIPPED, reason_code=Reason.BULK_BLOB_MISSING
    )
    summary = summary_of(ports.jobs, run.bulk_id)
    assert summary is not None
    assert summary.counts.model_dump(include={"listed", "failed", "skipped"}) == {
        "listed": 2,
        "failed": 1,
        "skipped": 1,
    }


def test_bulk_delete_deletes_each_document_once_and_skips_unknown_ones(pipeline: Pipeline) -> None:
    # GIVEN three ingested documents and a blob never ingested
    ingested(pipeline)
    ports = pipeline.ports
    ports.blobs.upload("incoming", "docs/new.txt", b"never triggered")

    # WHEN a bulk delete runs over all four, one item delivered twice
    run = start_run(pipeline, '{"operation": "delete", "prefix": "docs/"}')
    paths = list_all(run, ports, size=10)
    outcomes = {path: run_item(run, path, ports) for path in paths}
    repeated = run_item(run, "docs/a.txt", ports)
    drain(pipeline.bus, ports)

    # THEN each ingested document has one delete job, succeeded, and is gone from the sinks
    assert outcomes == {"docs/a.txt": "done", "docs/b.txt": "done", "docs/c.txt": "done", "docs/new.txt": "skipped"}
    assert repeated == "done"
    for path in TEXTS:
        doc = document_id(ports.blobs.account, "incoming", path)
        state = ports.jobs.document_state(doc)
        assert state is not None
        assert state.generation == 1  # one delete, not two: the redelivery found its own
        assert state.committed_version is None
    delete_jobs = [job for job in ports.jobs.list_jobs() if job.kind is JobKind.DELETE]
    assert len(delete_jobs) == 3
    assert {job.state for job in delete_jobs} == {JobState.SUCCEEDED}
    assert pipeline.store_counts()["chunks"] == 0
    # AND the blob never ingested is skipped with its reason; the blobs themselves stay
    items = {item.path: item for item in ports.jobs.list_bulk_items(run.bulk_id)}
    assert items["docs/new.txt"].reason_code == Reason.BULK_UNKNOWN_DOCUMENT
    assert len(list(ports.blobs.list_blobs("incoming"))) == 4


def test_a_dry_run_and_modified_since_select_and_count_without_running(pipeline: Pipeline) -> None:
    # GIVEN three blobs, one of them modified "now" and two long ago
    ports = pipeline.ports
    for name, content in TEXTS.items():
        ports.blobs.upload("incoming", name, content)
    old = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    root = ports.settings.data_dir / "blobs" / "incoming" / "docs"
    for name in ("a.txt", "b.txt"):
        os.utime(root / name, (old, old))

    # WHEN a dry run selects what changed in the last day
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    run = start_run(
        pipeline, f'{{"operation": "reprocess", "prefix": "", "modified_since": "{since}", "dry_run": true}}'
    )
    paths = list_all(run, ports)
    summary = activities.finish({"bulk_id": run.bulk_id}, ports)

    # THEN only the recent blob is selected, counted with its bytes, and nothing ran (no job at all)
    assert paths == ["docs/c.txt"]
    assert summary["dry_run"] is True
    assert summary["counts"]["listed"] == 1
    assert summary["counts"]["listed_bytes"] == len(TEXTS["docs/c.txt"])
    assert summary["not_run"] == 0
    assert ports.jobs.list_jobs() == []


class _FlakyBlobs:
    """The blob store with reads failing transiently (storage unreachable)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def properties(self, container: str, path: str) -> Any:
        raise TransientError(Reason.BLOB_UNAVAILABLE, f"{container}/{path}: connection refused")


def test_a_transient_fault_is_retried_then_settled_as_given_up(make_pipeline: Callable[..., Pipeline]) -> None:
    # GIVEN blob storage that keeps failing
    pipeline = make_pipeline(wrap=lambda ports: replace(ports, blobs=_FlakyBlobs(ports.blobs)))
    run = start_run(pipeline, '{"operation": "reprocess", "prefix": ""}')

    # WHEN an item runs THEN the fault propagates for Durable to retry, and nothing is recorded
    with pytest.raises(TransientError):
        run_item(run, "docs/a.txt", pipeline.ports)
    assert pipeline.ports.jobs.list_bulk_items(run.bulk_id) == []

    # WHEN its batch is settled after the retries ran out THEN each blob of it ends failed, with the reason
    settled = activities.settle_batch(
        {"bulk_id": run.bulk_id, "operation": "reprocess", "container": "incoming", "paths": ["docs/a.txt", "b.txt"]},
        pipeline.ports,
    )
    assert settled == {"outcomes": ["failed", "failed"]}
    assert {item.reason_code for item in pipeline.ports.jobs.list_bulk_items(run.bulk_id)} == {Reason.BULK_ITEM_GAVE_UP}


def test_a_terminated_run_says_truthfully_what_ran(pipeline: Pipeline) -> None:
    # GIVEN a run that listed three blobs and ran one before it was terminated
    ingested(pipeline)
    ports = pipeline.ports
    run = start_run(pipeline, '{"operation": "reprocess", "prefix": "docs/"}')
    paths = list_all(run, ports, size=10)
    run_item(run, paths[0], ports)

    # WHEN its status is read while Durable still says Running, then once it says Terminated
    running = run_status(ports.jobs, run.bulk_id, "Running", {"total": 3, "done": 1})
    stopped = run_status(ports.jobs, run.bulk_id, "Terminated")

    # THEN it was running; then it is cancelled with one done and two never run, from the job store
    assert isinstance(running, BulkStatus)
    assert isinstance(stopped, BulkStatus)
    assert running.summary.state is BulkState.RUNNING
    assert running.progress is not None
    assert running.progress.done == 1
    assert stopped.summary.state is BulkState.CANCELLED
    assert stopped.summary.reason_code == Reason.BULK_CANCELLED
    assert (stopped.summary.counts.done, stopped.summary.not_run) == (1, 2)
    assert [item.path for item in stopped.items] == [paths[0]]
    # AND an item that was still running at the stop and records afterwards is counted: it did run
    run_item(run, paths[1], ports)
    later = summary_of(ports.jobs, run.bulk_id)
    assert later is not None
    assert (later.state, later.counts.done, later.not_run) == (BulkState.CANCELLED, 2, 1)
    # AND a finish arriving late cannot reopen or re-close it
    assert not ports.jobs.finish_bulk_job(run.bulk_id, BulkState.COMPLETED)
