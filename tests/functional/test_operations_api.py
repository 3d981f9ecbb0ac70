"""The operations API's answers on the local host (function_app.py's triggers on Azurite, the broker and FalkorDB):
a failed file retried on purpose, jobs listed a page at a time, and the stats over them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.api_jobs import list_jobs
from shared.api_retry import retry
from shared.api_stats import stats
from shared.config import STORAGE_CONNECTION
from shared.domain import JobState, PermanentError, Stage
from shared.pipeline import stages
from tests.support.host_pipeline import HostPipeline

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

NOTE = b"Ada Lovelace met Charles Babbage in London.\n"


def failing_extract(payload, document, ports):
    raise PermanentError("extract.schema_violation", "injected")


def test_a_failed_file_retried_on_purpose_runs_again_and_succeeds(
    host_pipeline: HostPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a file whose job failed while a stage was broken
    with monkeypatch.context() as broken:
        broken.setitem(stages.HANDLERS, Stage.EXTRACT, failing_extract)
        failed = host_pipeline.drop("note.txt", NOTE)
    assert (failed.state, failed.reason_code) == (JobState.FAILED, "extract.schema_violation")

    # WHEN the stage works again and the job is retried through the API
    answer = retry(host_pipeline.ports, failed.job_id)
    host_pipeline.host.run_until_idle()

    # THEN a new attempt ran through ingest, with a job of its own, and succeeded; the failed job stays as it was
    assert answer.status == 202, answer.body
    attempt_id = answer.body["attempt"]["job_id"]
    assert attempt_id != failed.job_id
    attempt = host_pipeline.ports.jobs.get_job(attempt_id)
    assert attempt is not None
    assert (attempt.state, attempt.document_id, attempt.version) == (
        JobState.SUCCEEDED,
        failed.document_id,
        failed.version,
    )
    assert host_pipeline.job(failed).state is JobState.FAILED
    assert host_pipeline.store_counts()["chunks"] > 0

    # AND retrying the succeeded attempt is a no-op that says so
    again = retry(host_pipeline.ports, attempt_id)
    assert (again.status, again.body["retried"]) == (200, False)
    assert "succeeded" in again.body["detail"]


def test_retry_refuses_an_unknown_job_and_one_whose_file_is_gone(
    host_pipeline: HostPipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a failed job whose blob has since been deleted
    with monkeypatch.context() as broken:
        broken.setitem(stages.HANDLERS, Stage.EXTRACT, failing_extract)
        failed = host_pipeline.drop("gone.txt", NOTE)
    host_pipeline.host.blob_store(STORAGE_CONNECTION).delete(host_pipeline.incoming, "gone.txt")

    # WHEN / THEN the unknown job is a 404 and the gone file a 409, both problem documents with their reason code
    unknown = retry(host_pipeline.ports, "no-such-job")
    assert (unknown.status, unknown.content_type, unknown.body["reason_code"]) == (
        404,
        "application/problem+json",
        "job.not_found",
    )
    gone = retry(host_pipeline.ports, failed.job_id)
    assert (gone.status, gone.body["reason_code"]) == (409, "retry.blob_missing")


def test_jobs_are_listed_page_by_page_and_counted_in_the_stats(host_pipeline: HostPipeline) -> None:
    # GIVEN three files ingested, one of them refused
    host_pipeline.drop_all({"a/one.txt": NOTE, "a/two.md": b"# Two\n\nGrace Hopper.\n", "b/tool.csv": b"MZ\x90\x00"})
    jobs = host_pipeline.ports.jobs

    # WHEN they are listed two at a time
    first = list_jobs(jobs, {"limit": "2"})
    second = list_jobs(jobs, {"limit": "2", "cursor": first.body["next_cursor"]})

    # THEN the pages hold each job once, and the last has no cursor
    assert second.body["next_cursor"] is None
    paths = [job["path"] for job in first.body["jobs"] + second.body["jobs"]]
    assert sorted(paths) == sorted(
        f"{host_pipeline.incoming}/{name}" for name in ("a/one.txt", "a/two.md", "b/tool.csv")
    )
    # AND filters narrow the listing
    in_a = list_jobs(jobs, {"prefix": f"{host_pipeline.incoming}/a/"})
    assert len(in_a.body["jobs"]) == 2
    refused = list_jobs(jobs, {"state": "failed", "reason": "validate.refused_type"})
    assert [job["path"] for job in refused.body["jobs"]] == [f"{host_pipeline.incoming}/b/tool.csv"]
    assert list_jobs(jobs, {"cursor": "forged"}).body["reason_code"] == "request.invalid_cursor"

    # AND the stats count them by state, format and reason in every window, with the chunks they made
    now = datetime.now(UTC)
    counted = stats(jobs, now=now).body
    for window in ("last_hour", "last_day", "all_time"):
        assert counted[window]["files"] == 3
        assert counted[window]["by_state"] == {"failed": 1, "succeeded": 2}
        assert counted[window]["by_format"] == {"csv": 1, "md": 1, "txt": 1}
        assert counted[window]["by_reason"] == {"validate.refused_type": 1}
        assert counted[window]["chunks"] >= 2
    later = stats(jobs, now=now + timedelta(hours=2)).body
    assert later["last_hour"]["jobs"] == 0
    assert later["all_time"]["jobs"] == 3
