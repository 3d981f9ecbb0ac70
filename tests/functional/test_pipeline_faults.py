"""Faults injected into the ports, on the in-process path (tests/support/inprocess.py).

These tests wrap one port (a crash before or after a call, a sink that is always down, an extractor that refuses)
or the bus's receive (every message processed twice). The local host builds its ports inside the worker
(`app_ports()`), where a test cannot wrap them, so they keep the in-process driver and its in-memory bus, whose
settle rules are the host's. The same faults through the real host, by replacing a stage handler, are in
tests/integration/test_devhost.py (dead-letter after maxDeliveryCount, a permanent error, resent MessageIds, a host
killed mid-run).
"""

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
    """Every stage settled every batch exactly once."""
    job = pipeline.ports.jobs.get_job(job_id)
    assert job is not None
    assert job.batches_expected is not None
    for stage in (Stage.PARSE, Stage.ENRICH, Stage.EXTRACT, *SINK_STAGES):
        assert job.counters(stage).done == job.batches_expected, stage


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

    def upsert(self, chunks, document=None):
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


def edge_count(pipeline: Pipeline) -> int:
    return pipeline.unwrapped.graph.query("MATCH ()-[r]->() RETURN count(r)")[0][0]  # type: ignore[attr-defined]


def totals(pipeline: Pipeline) -> dict[str, tuple[int, int, int]]:
    """Per path: the job's chunk, entity and relation totals (ids differ per test, paths do not)."""
    return {
        job.path: (job.totals.chunks, job.totals.entities, job.totals.relations)
        for job in pipeline.ports.jobs.list_jobs(state=JobState.SUCCEEDED, limit=1000)
    }


def test_every_sink_message_redelivered_one_to_three_times_in_reverse_order_changes_nothing(
    make_pipeline: PipelineFactory,
):
    # GIVEN the corpus run once (small batches: many sink messages), recording every sink message sent,
    # and the same corpus in a second pipeline that is never disturbed
    pipeline = make_pipeline(batch_max_chunks=2)
    reference = make_pipeline(batch_max_chunks=2)
    sink_queues = {pipeline.ports.settings.queues[stage] for stage in SINK_STAGES}
    sent = []
    original_send = pipeline.bus.send

    def record(queue, envelopes):
        if queue in sink_queues:
            sent.extend(envelopes)
        original_send(queue, envelopes)

    pipeline.bus.send = record  # type: ignore[method-assign]
    files = sample_files()
    run_all(reference, files)
    run_all(pipeline, files)
    assert len(sent) > 2 * len(files)
    counts, job_totals, edges = pipeline.store_counts(), totals(pipeline), edge_count(pipeline)

    # WHEN every sink message is delivered again, 1 to 3 times each, last sent first
    for index, envelope in enumerate(reversed(sent)):
        for _ in range(1 + index % 3):
            process_message(envelope, pipeline.ports)

    # THEN nodes, edges, vectors and job totals equal the undisturbed run's, and every job is still succeeded
    assert pipeline.store_counts() == counts == reference.store_counts()
    assert edge_count(pipeline) == edges == edge_count(reference)  # HAS_CHUNK and MENTIONS included
    assert totals(pipeline) == job_totals == totals(reference)
    assert {job.state for job in pipeline.ports.jobs.list_jobs(limit=1000)} == {JobState.SUCCEEDED}


class DownUntilFixed(AlwaysDown):
    """The vector index is down until the test says it is back."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.down = True

    def upsert(self, chunks, document=None):
        if self.down:
            return super().upsert(chunks)
        return self.inner.upsert(chunks, document)


def test_a_failed_file_is_retried_by_uploading_it_again(make_pipeline: PipelineFactory):
    # GIVEN what a clean run of a file leaves
    content = b"Ada Lovelace works at Acme Labs in London.\n"
    clean = make_pipeline()
    clean.drop("doc.txt", content)
    expected = clean.store_counts()
    clean.close()

    # AND a file whose job failed because the index was down past the delivery cap
    sink = {}

    def inject(ports):
        sink["vectors"] = DownUntilFixed(ports.vectors)
        return dataclasses.replace(ports, vectors=sink["vectors"])

    pipeline = make_pipeline(wrap=inject, max_delivery_count=2)
    failed = pipeline.job(pipeline.drop("doc.txt", content))
    assert failed.state is JobState.FAILED

    # WHEN the index is back and the same content is uploaded again
    sink["vectors"].down = False
    retried = pipeline.job(pipeline.drop("doc.txt", content))

    # THEN a new job ran it to success and committed it, and the stores hold what a clean run holds
    assert retried.job_id != failed.job_id
    assert retried.state is JobState.SUCCEEDED
    assert pipeline.ports.jobs.committed_version(retried.document_id) == retried.version == failed.version
    assert pipeline.store_counts() == expected
    # AND the failed job stays failed, as it was; a third upload of the committed content is skipped
    assert pipeline.job(pipeline.drop("doc.txt", content)).state is JobState.SKIPPED
    assert pipeline.ports.jobs.get_job(failed.job_id) == failed
