"""The whole pipeline on the embedded default: samples end to end, bad input, redelivery and crashes."""

import dataclasses

import pytest

from shared.domain import SINK_STAGES, JobState, PermanentError, Stage, TransientError
from shared.pipeline.settlement import MAX_DELIVERY_EXCEEDED
from shared.pipeline.stages import process_message
from tests.support.pipeline import Pipeline, PipelineFactory, sample_files

pytestmark = pytest.mark.falkordb


def run_all(pipeline: Pipeline, files: dict[str, bytes]) -> dict[str, JobState]:
    return {name: pipeline.job(pipeline.drop(name, content)).state for name, content in files.items()}


def assert_accounted(pipeline: Pipeline, job_id: str) -> None:
    """Every stage settled every batch exactly once, and the totals match the stores."""
    job = pipeline.ports.jobs.get_job(job_id)
    assert job is not None
    assert job.batches_expected is not None
    for stage in (Stage.PARSE, Stage.ENRICH, Stage.EXTRACT, *SINK_STAGES):
        assert job.counters(stage).done == job.batches_expected, stage


def test_samples_become_a_graph_and_an_index(pipeline: Pipeline):
    # GIVEN the sample corpus WHEN every file is dropped
    states = run_all(pipeline, sample_files())
    # THEN every job succeeded and the stores hold a connected graph and one vector per chunk
    assert set(states.values()) == {JobState.SUCCEEDED}, states
    counts = pipeline.store_counts()
    jobs = pipeline.ports.jobs.list_jobs(limit=1000)
    assert counts["documents"] == len(states)
    assert counts["chunks"] == counts["vectors"] == sum(job.totals.chunks for job in jobs) > 0
    assert counts["entities"] > 10
    assert counts["relations"] > 5
    for job in jobs:
        assert_accounted(pipeline, job.job_id)
        assert job.extractor == "rules"


def test_a_second_run_skips_unchanged_files_and_changes_no_count(pipeline: Pipeline):
    files = sample_files()
    run_all(pipeline, files)
    before = pipeline.store_counts()
    # WHEN the same files are dropped again (new events, same content)
    outcomes = [pipeline.drop(name, content) for name, content in files.items()]
    # THEN each is a skipped job with the reason, and nothing in the stores moved
    assert {(o.state, o.reason_code) for o in outcomes} == {(JobState.SKIPPED, "unchanged")}
    assert pipeline.store_counts() == before
    assert len(pipeline.ports.jobs.list_jobs(state=JobState.SKIPPED, limit=1000)) == len(files)


def test_bad_files_fail_with_a_reason_while_the_rest_of_the_batch_succeeds(pipeline: Pipeline):
    # GIVEN a batch mixing good files with an executable named .csv, an empty file and broken UTF-8
    files = {
        "good/one.txt": b"Ada Lovelace works at Acme Labs in Paris.\n",
        "bad/program.csv": b"\x7fELF\x02\x01\x01\x00" + bytes(200),
        "bad/empty.txt": b"",
        "bad/latin1.txt": b"ok line\n\n" + b"plain words " * 6000 + b"caf\xe9\n",  # broken past the encoding head
        "good/two.csv": b"name,company\nGrace Hopper,Globex Corporation\n",
    }
    outcomes = {name: pipeline.drop(name, content) for name, content in files.items()}
    # THEN each bad file has its own reason code, and the good ones succeed
    reasons = {name: (pipeline.job(o).state, pipeline.job(o).reason_code) for name, o in outcomes.items()}
    assert reasons == {
        "good/one.txt": (JobState.SUCCEEDED, None),
        "bad/program.csv": (JobState.FAILED, "validate.refused_type"),
        "bad/empty.txt": (JobState.FAILED, "validate.empty_file"),
        "bad/latin1.txt": (JobState.FAILED, "parse.text.decode_error"),
        "good/two.csv": (JobState.SUCCEEDED, None),
    }


def test_an_oversized_file_is_refused_before_it_is_read(make_pipeline: PipelineFactory):
    pipeline = make_pipeline(file_max_bytes=1000)
    outcome = pipeline.drop("big.txt", b"word " * 1000)
    job = pipeline.job(outcome)
    assert (job.state, job.reason_code) == (JobState.FAILED, "limits.file_too_large")
    assert job.version.startswith("etag:")


def test_a_file_without_records_succeeds_empty(pipeline: Pipeline):
    job = pipeline.job(pipeline.drop("header-only.csv", b"name,company\n"))
    assert (job.state, job.batches_expected, job.totals.chunks) == (JobState.SUCCEEDED, 0, 0)


def test_a_new_version_is_a_new_job_and_an_old_content_comes_back_as_new(pipeline: Pipeline):
    first = pipeline.drop("doc.txt", b"Ada Lovelace works at Acme Labs.\n")
    second = pipeline.drop("doc.txt", b"Grace Hopper works at Globex Corporation.\n")
    back = pipeline.drop("doc.txt", b"Ada Lovelace works at Acme Labs.\n")
    assert len({first.job_id, second.job_id, back.job_id}) == 3
    assert {pipeline.job(o).state for o in (first, second, back)} == {JobState.SUCCEEDED}
    assert pipeline.ports.jobs.committed_version(back.document_id) == pipeline.job(first).version


def test_large_batches_travel_by_claim_check(make_pipeline: PipelineFactory):
    pipeline = make_pipeline(claim_check_bytes=2000, batch_max_chunks=50)
    text = "\n\n".join(f"Paragraph {i}: Ada Lovelace works at Acme Labs in Paris." for i in range(200))
    job = pipeline.job(pipeline.drop("long.txt", text.encode()))
    assert job.state is JobState.SUCCEEDED
    assert any(pipeline.ports.blobs.list_blobs("work"))
    assert pipeline.store_counts()["vectors"] == 200


def test_a_redelivered_message_changes_nothing(make_pipeline: PipelineFactory):
    # GIVEN a pipeline whose every message is processed twice, as after a lost settlement
    pipeline = make_pipeline(batch_max_chunks=2)
    reference = make_pipeline(batch_max_chunks=2)
    original_receive = pipeline.bus.receive

    def receive_and_process_twice(order):
        delivery = original_receive(order)
        if delivery is not None:
            process_message(delivery.envelope, pipeline.ports)  # first delivery; its settlement is "lost"
        return delivery

    pipeline.bus.receive = receive_and_process_twice  # type: ignore[method-assign]
    files = sample_files()
    # WHEN the corpus runs through both
    run_all(reference, files)
    states = run_all(pipeline, files)
    # THEN the redelivered run ends exactly like the clean one
    assert set(states.values()) == {JobState.SUCCEEDED}
    assert pipeline.store_counts() == reference.store_counts()
    assert totals(pipeline) == totals(reference)


class CrashOnce:
    """Delegates to `inner`; the first call of `method` raises, before or after doing the real work."""

    def __init__(self, inner: object, method: str, *, after: bool, skip_calls: int = 0) -> None:
        self.inner, self.method, self.after, self.skip_calls = inner, method, after, skip_calls
        self.crashed = False

    def __getattr__(self, name: str):
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def call(*args, **kwargs):
            armed = not self.crashed and self.skip_calls == 0
            self.skip_calls = max(0, self.skip_calls - 1)
            if armed and not self.after:
                self.crashed = True
                raise RuntimeError(f"injected crash before {name}")
            result = real(*args, **kwargs)
            if armed:
                self.crashed = True
                raise RuntimeError(f"injected crash after {name}")
            return result

        return call


CRASH_POINTS = [
    ("graph", "write_batch", True),
    ("vectors", "upsert", True),
    ("bus", "send", True),
    ("jobs", "record_batch", True),
    ("jobs", "finish_if_complete", False),
    ("embedder", "embed", False),
]


@pytest.mark.parametrize(("port", "method", "after"), CRASH_POINTS)
def test_a_crash_at_any_point_is_redelivered_without_loss_or_double_counting(
    make_pipeline: PipelineFactory, port: str, method: str, after: bool
):
    # GIVEN a pipeline where one call crashes mid-way through the third batch (the host then redelivers)
    crash = {}

    def inject(ports):
        crash["wrapper"] = CrashOnce(getattr(ports, port), method, after=after, skip_calls=5)
        return dataclasses.replace(ports, **{port: crash["wrapper"]})

    faulty = make_pipeline(wrap=inject, batch_max_chunks=2)
    reference = make_pipeline(batch_max_chunks=2)
    files = {name: content for name, content in sample_files().items() if name.endswith((".txt", ".md"))}
    # WHEN the same files run through both
    run_all(reference, files)
    states = {}
    for name, content in files.items():
        try:
            outcome = faulty.drop(name, content)
        except RuntimeError:
            outcome = faulty.trigger(name)  # the crash hit ingest itself: the blob trigger retries the blob
        states[name] = faulty.job(outcome).state
    # THEN the crash happened, and the result is exactly the clean run's
    assert crash["wrapper"].crashed
    assert set(states.values()) == {JobState.SUCCEEDED}
    assert faulty.store_counts() == reference.store_counts()
    assert totals(faulty) == totals(reference)
    for job in faulty.ports.jobs.list_jobs(state=JobState.SUCCEEDED, limit=1000):
        assert_accounted(faulty, job.job_id)


class RefusingExtractor:
    """Refuses any chunk mentioning `poison`, the way a schema violation would."""

    name = "refusing"

    def __init__(self, inner) -> None:
        self.inner = inner

    def extract(self, chunks):
        if any("poison" in chunk.text for chunk in chunks):
            raise PermanentError("extract.test_refused", "chunk mentions poison")
        return self.inner.extract(chunks)


def test_a_permanent_stage_error_dead_letters_the_batch_and_fails_only_its_job(make_pipeline: PipelineFactory):
    pipeline = make_pipeline(
        wrap=lambda ports: dataclasses.replace(ports, extractor=RefusingExtractor(ports.extractor))
    )
    bad = pipeline.drop("bad.txt", b"This mentions poison.\n")
    good = pipeline.drop("good.txt", b"Ada Lovelace works at Acme Labs.\n")
    bad_job = pipeline.job(bad)
    assert (bad_job.state, bad_job.reason_code) == (JobState.FAILED, "extract.test_refused")
    assert bad_job.counters(Stage.EXTRACT).dead_lettered == 1
    assert pipeline.job(good).state is JobState.SUCCEEDED
    assert [(d.queue, d.reason) for d in pipeline.bus.dead_letters] == [("extract", "extract.test_refused")]


class AlwaysDown:
    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls = 0

    def upsert(self, chunks):
        self.calls += 1
        raise TransientError("vector.unavailable", "index is down")

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_message_failing_every_delivery_is_dead_lettered_after_the_cap(make_pipeline: PipelineFactory):
    down = {}

    def inject(ports):
        down["sink"] = AlwaysDown(ports.vectors)
        return dataclasses.replace(ports, vectors=down["sink"])

    pipeline = make_pipeline(wrap=inject, max_delivery_count=4)
    job = pipeline.job(pipeline.drop("doc.txt", b"Ada Lovelace works at Acme Labs.\n"))
    assert down["sink"].calls == 4
    assert (job.state, job.reason_code) == (JobState.FAILED, MAX_DELIVERY_EXCEEDED)
    assert job.counters(Stage.VECTOR).dead_lettered == 1
    assert job.counters(Stage.GRAPH).done == 1
    assert [d.reason for d in pipeline.bus.dead_letters] == [MAX_DELIVERY_EXCEEDED]


def totals(pipeline: Pipeline) -> dict[str, tuple[int, int, int]]:
    """Per path: the job's chunk, entity and relation totals (ids differ per test, paths do not)."""
    return {
        job.path: (job.totals.chunks, job.totals.entities, job.totals.relations)
        for job in pipeline.ports.jobs.list_jobs(state=JobState.SUCCEEDED, limit=1000)
    }
