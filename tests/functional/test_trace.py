"""A file's trace as the job store records it, on the embedded default (local folder, SQLite, FalkorDB, LanceDB,
the in-memory bus): every stage of every batch, in order, with the ids of the messages really sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from shared.api_trace import build_trace, get_trace
from shared.domain import BatchOutcome, Envelope, JobState, PermanentError, Stage
from shared.domain.ids import message_id
from shared.domain.stage_events import StageEvent
from shared.pipeline import stages
from shared.ports import Bus, Ports
from tests.support.pipeline import Pipeline, PipelineFactory

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(300)]

PIPELINE = (Stage.PARSE, Stage.ENRICH, Stage.EXTRACT, Stage.GRAPH, Stage.VECTOR)
PEOPLE = ["Ada Lovelace", "Charles Babbage", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra"]


def text(version: int) -> bytes:
    """Paragraphs enough for several chunks, so several batches of one chunk each."""
    paragraphs = [
        f"{person} worked at Acme Labs in London on project {n} of version {version}. " * 40
        for n, person in enumerate(PEOPLE)
    ]
    return "\n\n".join(paragraphs).encode()


class RecordingBus:
    """The pipeline's bus, noting every message sent: (stage, message id), in order."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.sent: list[tuple[Stage, str]] = []

    def send(self, queue: str, envelopes: Sequence[Envelope]) -> None:
        self.sent.extend((envelope.stage, envelope.message_id) for envelope in envelopes)
        self.bus.send(queue, envelopes)

    def max_delivery_count(self, queue: str) -> int | None:
        return self.bus.max_delivery_count(queue)


def recording(make_pipeline: PipelineFactory) -> tuple[Pipeline, RecordingBus]:
    buses: list[RecordingBus] = []

    def wrap(ports: Ports) -> Ports:
        buses.append(RecordingBus(ports.bus))
        return replace(ports, bus=buses[0])

    pipeline = make_pipeline(wrap=wrap, batch_max_chunks=1, chunk_tokens=200)
    return pipeline, buses[0]


def position(events: list[StageEvent], stage: Stage, batch: int) -> int:
    [found] = [i for i, event in enumerate(events) if (event.stage, event.batch) == (stage, batch)]
    return found


def test_a_file_yields_every_stage_of_every_batch_in_order_with_the_messages_sent(
    make_pipeline: PipelineFactory,
) -> None:
    # GIVEN the embedded pipeline, every message it sends noted, and a file ingested, then changed and ingested again
    pipeline, bus = recording(make_pipeline)
    first = pipeline.drop("notes/people.txt", text(1))
    second = pipeline.drop("notes/people.txt", text(2))
    job = pipeline.job(second)
    assert (pipeline.job(first).state, job.state) == (JobState.SUCCEEDED, JobState.SUCCEEDED)
    batches = job.batches_expected or 0
    assert batches >= 3, "the file should make several batches"

    # WHEN the second job's trace is read, by its job id
    trace = build_trace(pipeline.ports.jobs, job.job_id)

    # THEN it is the job's, with every pipeline stage of every batch once, then the clean-up of the first version
    assert trace is not None
    assert trace.tracking_id == job.tracking_id
    [shown] = trace.jobs
    events = shown.events
    expected = {(stage, batch) for stage in PIPELINE for batch in range(batches)} | {(Stage.CLEANUP, 0)}
    assert sorted((e.stage, e.batch) for e in events) == sorted(expected)
    assert {e.outcome for e in events} == {BatchOutcome.DONE}
    # each batch goes parse → enrich → extract → both sinks, and the clean-up comes after the last sink batch
    for batch in range(batches):
        steps = [position(events, stage, batch) for stage in PIPELINE[:3]]
        assert steps == sorted(steps)
        assert steps[-1] < min(position(events, stage, batch) for stage in (Stage.GRAPH, Stage.VECTOR))
    assert events[-1].stage is Stage.CLEANUP
    times = [e.recorded_at for e in events if e.recorded_at is not None]
    assert len(times) == len(events)
    assert times == sorted(times)

    # AND each queued stage names the message it arrived in: the deterministic id, one the pipeline really sent
    sent = set(bus.sent)
    for event in events:
        if event.stage is Stage.PARSE:
            assert event.message_id is None  # parse reads the blob, no message
            continue
        assert event.message_id == message_id(job.job_id, event.stage, event.batch)
        assert (event.stage, event.message_id) in sent

    # AND every batch has a duration, added up per stage in pipeline order
    assert all(e.duration_ms is not None and e.duration_ms >= 0 for e in events)
    assert [(t.stage, t.batches) for t in shown.stages] == [(s, batches) for s in PIPELINE] + [(Stage.CLEANUP, 1)]
    for total in shown.stages:
        durations = [e.duration_ms or 0 for e in events if e.stage is total.stage]
        assert total.total_ms == pytest.approx(sum(durations), abs=0.01)
        assert total.max_ms == max(durations)
    assert shown.created_at <= shown.started_at <= shown.finished_at  # type: ignore[operator]
    assert shown.finished_at == max(e.recorded_at for e in events if e.stage in (Stage.GRAPH, Stage.VECTOR))


def test_the_api_answer_by_tracking_id_and_a_404_for_an_unknown_id(make_pipeline: PipelineFactory) -> None:
    # GIVEN a file ingested on the embedded default
    pipeline, _ = recording(make_pipeline)
    job = pipeline.job(pipeline.drop("notes/one.txt", text(1)))

    # WHEN the trace is asked for by the job's tracking id, and by an id nothing has
    found = get_trace(pipeline.ports.jobs, job.tracking_id)
    missing = get_trace(pipeline.ports.jobs, "no-such-id")
    too_long = get_trace(pipeline.ports.jobs, "x" * 10_000)

    # THEN the first answers the job with its events as JSON; the others are problem documents of trace.not_found
    assert found.status == 200
    assert found.body["tracking_id"] == job.tracking_id
    assert [j["job_id"] for j in found.body["jobs"]] == [job.job_id]
    assert found.body["jobs"][0]["events"][0]["stage"] == "parse"
    for answer in (missing, too_long):
        assert (answer.status, answer.content_type, answer.body["reason_code"]) == (
            404,
            "application/problem+json",
            "trace.not_found",
        )


def test_a_dead_lettered_batch_shows_its_reason_and_message_and_ends_the_job(
    make_pipeline: PipelineFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an extract stage that refuses every batch
    def refuse(payload: object, document: object, ports: object) -> None:
        raise PermanentError("extract.schema_violation", "injected")

    monkeypatch.setitem(stages.HANDLERS, Stage.EXTRACT, refuse)
    pipeline, bus = recording(make_pipeline)

    # WHEN a file runs and its trace is read
    job = pipeline.job(pipeline.drop("notes/refused.txt", text(1)))
    trace = build_trace(pipeline.ports.jobs, job.tracking_id)

    # THEN the job failed, and its extract batches are dead-lettered with the reason and the message each came in
    assert (job.state, job.reason_code) == (JobState.FAILED, "extract.schema_violation")
    assert trace is not None
    [shown] = trace.jobs
    refused = [e for e in shown.events if e.stage is Stage.EXTRACT]
    assert refused
    assert {(e.outcome, e.reason_code) for e in refused} == {(BatchOutcome.DEAD_LETTERED, "extract.schema_violation")}
    assert all((Stage.EXTRACT, e.message_id) in set(bus.sent) for e in refused)
    assert not any(e.stage in (Stage.GRAPH, Stage.VECTOR) for e in shown.events)
    extract_total = next(t for t in shown.stages if t.stage is Stage.EXTRACT)
    assert extract_total.dead_lettered == extract_total.batches == len(refused)
    assert shown.finished_at == job.updated_at  # a failed job ends at its last change
