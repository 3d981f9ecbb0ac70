"""The whole pipeline through the local Functions host (function_app.py's own triggers on Azurite and the durable
local broker): samples end to end, bad input, versions, limits and the claim check."""

import pytest

from shared.domain import SINK_STAGES, Job, JobState, Stage
from tests.support.host_pipeline import HostPipeline, HostPipelineFactory
from tests.support.pipeline import sample_files

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]


def assert_accounted(pipeline: HostPipeline, job: Job) -> None:
    """Every stage settled every batch exactly once."""
    job = pipeline.job(job)
    assert job.batches_expected is not None
    for stage in (Stage.PARSE, Stage.ENRICH, Stage.EXTRACT, *SINK_STAGES):
        assert job.counters(stage).done == job.batches_expected, stage


def test_samples_become_a_graph_and_an_index(host_pipeline: HostPipeline):
    # GIVEN the sample corpus WHEN every file is dropped into the incoming container
    jobs = host_pipeline.drop_all(sample_files())
    # THEN every job succeeded and the stores hold a connected graph and one vector per chunk
    assert {job.state for job in jobs.values()} == {JobState.SUCCEEDED}, jobs
    counts = host_pipeline.store_counts()
    assert counts["documents"] == len(jobs)
    assert counts["chunks"] == counts["vectors"] == sum(job.totals.chunks for job in jobs.values()) > 0
    assert counts["entities"] > 10
    assert counts["relations"] > 5
    for job in jobs.values():
        assert_accounted(host_pipeline, job)
        assert job.extractor == "rules"


def test_a_second_run_skips_unchanged_files_and_changes_no_count(host_pipeline: HostPipeline):
    files = sample_files()
    host_pipeline.drop_all(files)
    before = host_pipeline.store_counts()
    # WHEN the same files are uploaded again (new ETags, same content)
    again = host_pipeline.drop_all(files)
    # THEN each is a skipped job with the reason, and nothing in the stores moved
    assert {(job.state, job.reason_code) for job in again.values()} == {(JobState.SKIPPED, "unchanged")}
    assert host_pipeline.store_counts() == before
    assert len(host_pipeline.ports.jobs.list_jobs(state=JobState.SKIPPED, limit=1000)) == len(files)


def test_bad_files_fail_with_a_reason_while_the_rest_of_the_batch_succeeds(host_pipeline: HostPipeline):
    # GIVEN a batch mixing good files with an executable named .csv, an empty file and broken UTF-8
    files = {
        "good/one.txt": b"Ada Lovelace works at Acme Labs in Paris.\n",
        "bad/program.csv": b"\x7fELF\x02\x01\x01\x00" + bytes(200),
        "bad/empty.txt": b"",
        "bad/latin1.txt": b"ok line\n\n" + b"plain words " * 6000 + b"caf\xe9\n",  # broken past the encoding head
        "good/two.csv": b"name,company\nGrace Hopper,Globex Corporation\n",
    }
    jobs = host_pipeline.drop_all(files)
    # THEN each bad file has its own reason code, and the good ones succeed
    assert {name: (job.state, job.reason_code) for name, job in jobs.items()} == {
        "good/one.txt": (JobState.SUCCEEDED, None),
        "bad/program.csv": (JobState.FAILED, "validate.refused_type"),
        "bad/empty.txt": (JobState.FAILED, "validate.empty_file"),
        "bad/latin1.txt": (JobState.FAILED, "parse.text.decode_error"),
        "good/two.csv": (JobState.SUCCEEDED, None),
    }


def test_an_oversized_file_is_refused_before_it_is_read(make_host_pipeline: HostPipelineFactory):
    pipeline = make_host_pipeline(file_max_bytes=1000)
    job = pipeline.drop("big.txt", b"word " * 1000)
    assert (job.state, job.reason_code) == (JobState.FAILED, "limits.file_too_large")
    assert job.version.startswith("etag:")


def test_a_file_without_records_succeeds_empty(host_pipeline: HostPipeline):
    job = host_pipeline.drop("header-only.csv", b"name,company\n")
    assert (job.state, job.batches_expected, job.totals.chunks) == (JobState.SUCCEEDED, 0, 0)


def test_a_new_version_is_a_new_job_and_an_old_content_comes_back_as_new(host_pipeline: HostPipeline):
    first = host_pipeline.drop("doc.txt", b"Ada Lovelace works at Acme Labs.\n")
    second = host_pipeline.drop("doc.txt", b"Grace Hopper works at Globex Corporation.\n")
    back = host_pipeline.drop("doc.txt", b"Ada Lovelace works at Acme Labs.\n")
    assert len({first.job_id, second.job_id, back.job_id}) == 3
    assert {host_pipeline.job(job).state for job in (first, second, back)} == {JobState.SUCCEEDED}
    assert host_pipeline.ports.jobs.committed_version(back.document_id) == first.version


def test_large_batches_travel_by_claim_check(make_host_pipeline: HostPipelineFactory):
    pipeline = make_host_pipeline(claim_check_bytes=2000, batch_max_chunks=50)
    text = "\n\n".join(f"Paragraph {i}: Ada Lovelace works at Acme Labs in Paris." for i in range(200))
    job = pipeline.drop("long.txt", text.encode())
    assert job.state is JobState.SUCCEEDED
    # the payloads went through the work container, which the blob trigger does not watch: still one job
    assert any(pipeline.ports.blobs.list_blobs(pipeline.ports.settings.work_container))
    assert len(pipeline.ports.jobs.list_jobs(limit=100)) == 1
    # 200 paragraphs of about 15 tokens, one section: packed into chunks of at most 512 tokens, 64 of them overlap
    chunks = pipeline.job(job).totals.chunks
    assert pipeline.store_counts()["vectors"] == chunks
    assert 200 * 15 // 512 < chunks < 200 * 17 // (512 - 64) + 2
