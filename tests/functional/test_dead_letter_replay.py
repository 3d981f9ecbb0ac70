"""Dead-letter listing and replay on the embedded default with the local broker as its bus (SQLite, FalkorDB, LanceDB,
the durable broker with the stage queues the local host creates), driven with the Functions host's settle rules:
complete on return, abandon on an exception, so the broker dead-letters a message at the queue's MaxDeliveryCount.

The broker's clock is a fake one the tests move, so a duplicate detection window of 10 minutes passes at once.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.config import Settings
from shared.devhost.broker import LocalBroker, OutgoingMessage, ReceivedMessage
from shared.devhost.broker_bus import BrokerBus
from shared.devhost.local_services import ensure_queues
from shared.devhost.servers.falkordb import FalkorDBServer
from shared.domain import BlobEvent, Job, JobState, Reason, Stage, TransientError
from shared.pipeline.deadletters import (
    Outcome,
    ReplayReport,
    ReplayRequest,
    UnknownQueueError,
    list_dead_letters,
    replay_dead_letters,
)
from shared.pipeline.delivery import handle_message_body
from shared.pipeline.ingest import ingest_blob
from shared.pipeline.retry import retry_job
from shared.pipeline.settlement import MAX_DELIVERY_EXCEEDED
from shared.ports import DeadLetter, DeadLetterReceiver, Ports
from tests.support.bus import FakeClock
from tests.support.pipeline import in_process_ports

TEXT = b"Ada Lovelace works at Acme Labs in London. Grace Hopper visited Acme Labs.\n"
WINDOW = 600  # the stage queues' duplicate detection window (the setting's default, as on Azure)
SINKS_FIRST = (Stage.DELETE, Stage.CLEANUP, Stage.VECTOR, Stage.GRAPH, Stage.EXTRACT, Stage.ENRICH)


class Switch:
    def __init__(self) -> None:
        self.on = False


class FlakyGraph:
    """The real graph sink, unavailable while its switch is on (a dependency down)."""

    def __init__(self, inner: Any, down: Switch) -> None:
        self.inner = inner
        self.down = down

    def write_batch(self, document: Any, payload: Any) -> None:
        if self.down.on:
            raise TransientError(Reason.GRAPH_UNAVAILABLE, "graph is down")
        self.inner.write_batch(document, payload)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class BrokerPipeline:
    ports: Ports
    broker: LocalBroker
    clock: FakeClock
    graph_down: Switch
    graph: FalkorDBGraphSink
    run: int = 0

    def drop(self, name: str, content: bytes = TEXT) -> Job:
        """Upload and ingest a file, then run every queue dry; returns its job."""
        self.ports.blobs.upload(self.ports.settings.incoming_container, name, content)
        self.run += 1
        event = BlobEvent(event_id=f"event-{self.run}", container=self.ports.settings.incoming_container, path=name)
        outcome = ingest_blob(event, self.ports)
        assert outcome is not None
        self.drain()
        return self.job(outcome.job_id)

    def drain(self) -> int:
        """Deliver until every queue is empty, settling as the Functions host does; returns the deliveries."""
        deliveries = 0
        while (delivery := self._next()) is not None:
            message, stage = delivery
            deliveries += 1
            try:
                handle_message_body(message.body, stage, message.delivery_count, self.ports)
            except Exception:
                self.broker.abandon(message)  # the broker dead-letters it after the queue's last delivery
            else:
                self.broker.complete(message)

        return deliveries

    def _next(self) -> tuple[ReceivedMessage, Stage] | None:
        for stage in SINKS_FIRST:
            received = self.broker.receive(self.ports.settings.queues[stage])
            if received:
                return received[0], stage
        return None

    def job(self, job_id: str) -> Job:
        job = self.ports.jobs.get_job(job_id)
        assert job is not None
        return job

    def replay(self, queue: str = "graph", ports: Ports | None = None, **request: Any) -> ReplayReport:
        return replay_dead_letters(queue, ReplayRequest(**request), ports or self.ports, now=self.now)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def pass_window(self) -> None:
        self.clock.advance(WINDOW + 61)

    def store_counts(self) -> dict[str, int]:
        return self.ports.graph.counts().model_dump() | {"vectors": self.ports.vectors.count()}


PipelineFactory = Callable[..., BrokerPipeline]


@pytest.fixture
def make_broker_pipeline(tmp_path: Path, falkordb_server: FalkorDBServer) -> Iterator[PipelineFactory]:
    opened: list[tuple[BrokerPipeline, SQLiteJobStore]] = []

    def build(**overrides: Any) -> BrokerPipeline:
        root = tmp_path / f"pipeline-{len(opened)}"
        settings = Settings(data_dir=root, storage_account="testaccount", **({"max_delivery_count": 3} | overrides))
        clock = FakeClock()
        broker = LocalBroker(root / "broker.sqlite", clock=clock)
        ensure_queues(broker, settings)
        jobs = SQLiteJobStore(root / "jobs.sqlite")
        jobs.migrate()
        graph = FalkorDBGraphSink(falkordb_server.url, f"test_{uuid.uuid4().hex[:12]}")
        graph.ensure_schema()
        down = Switch()
        ports = in_process_ports(settings, jobs=jobs, graph=graph, bus=BrokerBus(broker))
        ports = dataclasses.replace(ports, graph=FlakyGraph(graph, down))  # type: ignore[arg-type]
        pipeline = BrokerPipeline(ports=ports, broker=broker, clock=clock, graph_down=down, graph=graph)
        opened.append((pipeline, jobs))
        return pipeline

    yield build
    for pipeline, jobs in opened:
        jobs.close()
        pipeline.ports.vectors.close()
        pipeline.graph.delete_graph()
        pipeline.graph.close()
        pipeline.broker.close()


@pytest.fixture
def failed(make_broker_pipeline: PipelineFactory) -> tuple[BrokerPipeline, Job]:
    """A pipeline whose graph was down for one file until its graph message was dead-lettered."""
    pipeline = make_broker_pipeline()
    pipeline.graph_down.on = True
    job = pipeline.drop("a.txt")
    assert (job.state, job.reason_code) == (JobState.FAILED, MAX_DELIVERY_EXCEEDED)
    assert job.counters(Stage.GRAPH).dead_lettered == 1
    return pipeline, job


def test_a_job_failed_by_a_dependency_succeeds_after_the_replay_as_a_clean_run_would(
    failed: tuple[BrokerPipeline, Job], make_broker_pipeline: PipelineFactory
):
    # GIVEN a job failed because its graph message was dead-lettered, and the graph back up
    pipeline, job = failed
    pipeline.graph_down.on = False

    # WHEN its dead letters are replayed inside the queue's duplicate detection window
    early = pipeline.replay()

    # THEN nothing moves: a resend now would be dropped, and completing the copy would lose the message
    assert (early.replayed, early.held, early.skipped) == (0, 1, 0)
    [held] = early.items
    assert held.outcome is Outcome.HELD
    assert held.reason_code == Reason.DEADLETTER_DUPLICATE_WINDOW_OPEN
    assert held.replayable_at is not None
    assert held.replayable_at > pipeline.now()
    assert early.duplicate_window_seconds == WINDOW
    assert early.window_assumed is False
    assert pipeline.broker.counts("graph").dead_lettered == 1
    assert pipeline.job(job.job_id).state is JobState.FAILED

    # WHEN the window has passed and the replay runs again, then the queues run
    pipeline.pass_window()
    report = pipeline.replay()
    pipeline.drain()

    # THEN the message was resent with its MessageId, its batch reopened, and the job succeeded
    assert (report.replayed, report.held, report.skipped) == (1, 0, 0)
    [item] = report.items
    assert (item.job_id, item.stage, item.batch, item.job_reopened) == (job.job_id, "graph", 0, True)
    assert pipeline.broker.counts("graph").dead_lettered == 0
    replayed = pipeline.job(job.job_id)
    assert replayed.state is JobState.SUCCEEDED
    assert replayed.reason_code is None
    assert replayed.counters(Stage.GRAPH).dead_lettered == 0
    assert pipeline.ports.jobs.committed_version(job.document_id) == job.version
    # AND the graph, the index and the job's totals hold exactly what a clean run of the file gives
    clean = make_broker_pipeline()
    clean_job = clean.drop("a.txt")
    assert clean_job.state is JobState.SUCCEEDED
    assert pipeline.store_counts() == clean.store_counts()
    assert replayed.totals == clean_job.totals
    assert pipeline.store_counts()["vectors"] == replayed.totals.chunks


def test_a_crash_between_the_resend_and_the_complete_loses_nothing_and_doubles_nothing(
    failed: tuple[BrokerPipeline, Job],
):
    # GIVEN a replay that crashes after resending, before completing the dead-lettered copy
    pipeline, job = failed
    pipeline.graph_down.on = False
    pipeline.pass_window()
    crashing = dataclasses.replace(pipeline.ports, bus=CrashOnComplete(pipeline.ports.bus))
    with pytest.raises(RuntimeError, match="crash"):
        pipeline.replay(ports=crashing)
    assert pipeline.broker.counts("graph").active == 1  # the resend arrived
    assert pipeline.broker.counts("graph").dead_lettered == 1  # and the copy is still there

    # WHEN the replay runs again (the copy's lock released)
    report = pipeline.replay()

    # THEN the second resend was dropped as a duplicate, the copy completed: one message, once
    assert report.replayed == 1
    counts = pipeline.broker.counts("graph")
    assert (counts.active, counts.dead_lettered) == (1, 0)
    assert pipeline.drain() == 1
    assert pipeline.job(job.job_id).state is JobState.SUCCEEDED


class CrashOnComplete:
    """The bus, whose dead-letter receiver crashes when it is to complete a message."""

    def __init__(self, inner: BrokerBus) -> None:
        self.inner = inner

    def dead_letter_receiver(self, queue: str) -> Any:
        outer = self

        class Receiver:
            def __init__(self, inner: DeadLetterReceiver) -> None:
                self.inner = inner

            def receive(self, max_messages: int) -> list[DeadLetter]:
                return self.inner.receive(max_messages)

            def complete(self, message: DeadLetter) -> None:
                raise RuntimeError("crash")

            def release(self, message: DeadLetter) -> None:
                self.inner.release(message)

        from contextlib import contextmanager

        @contextmanager
        def wrapped() -> Iterator[Receiver]:
            with outer.inner.dead_letter_receiver(queue) as receiver:
                yield Receiver(receiver)

        return wrapped()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_dead_letter_of_a_retried_job_is_skipped_and_left(failed: tuple[BrokerPipeline, Job]):
    # GIVEN the failed job retried on purpose (a new attempt, which succeeds)
    pipeline, job = failed
    pipeline.graph_down.on = False
    outcome = retry_job(job, pipeline.ports)
    pipeline.drain()
    assert outcome.attempt is not None
    assert pipeline.job(outcome.attempt.job_id).state is JobState.SUCCEEDED
    pipeline.pass_window()

    # WHEN the old attempt's dead letter is replayed
    report = pipeline.replay()

    # THEN it is skipped as superseded and left in the dead-letter subqueue; the old job stays failed
    assert (report.replayed, report.skipped) == (0, 1)
    [item] = report.items
    assert (item.outcome, item.reason_code) == (Outcome.SKIPPED, Reason.DEADLETTER_JOB_SUPERSEDED)
    assert pipeline.broker.counts("graph").dead_lettered == 1
    assert pipeline.job(job.job_id).state is JobState.FAILED


def test_messages_no_job_can_take_are_skipped_and_left(make_broker_pipeline: PipelineFactory):
    # GIVEN a dead letter that is no envelope and one of a job the store does not hold
    pipeline = make_broker_pipeline()
    queue = pipeline.ports.settings.queues["graph"]
    orphan = failed_envelope_body(pipeline, "no-such-job")
    pipeline.broker.send(queue, [OutgoingMessage(body=b"not json", message_id="garbage"), orphan])
    for message in pipeline.broker.receive(queue, 2):
        pipeline.broker.dead_letter(message, "message.malformed", "test")
    pipeline.pass_window()

    # WHEN they are replayed
    report = pipeline.replay()

    # THEN each is skipped with its reason and both stay
    assert sorted((i.message_id, i.reason_code) for i in report.items) == [
        ("garbage", Reason.MESSAGE_MALFORMED),
        ("orphan", Reason.MESSAGE_UNKNOWN_JOB),
    ]
    assert pipeline.broker.counts(queue).dead_lettered == 2


def failed_envelope_body(pipeline: BrokerPipeline, job_id: str) -> OutgoingMessage:
    from shared.adapters.bus_messages import to_outgoing
    from tests.contract.test_bus import make_envelope

    return to_outgoing(make_envelope("orphan", job_id=job_id, stage=Stage.GRAPH))


def test_filters_dry_run_and_limit_select_what_moves(make_broker_pipeline: PipelineFactory):
    # GIVEN two files whose graph messages were dead-lettered, the graph back, the window passed
    pipeline = make_broker_pipeline()
    pipeline.graph_down.on = True
    first = pipeline.drop("a.txt")
    second = pipeline.drop("b.txt", b"Alan Turing met Grace Hopper at Bletchley Park.\n")
    pipeline.graph_down.on = False
    pipeline.pass_window()

    # WHEN a dry run, a run for another reason, and a run for one job are asked for
    dry = pipeline.replay(dry_run=True)
    other_reason = pipeline.replay(reason="graph.conflict")
    one_job = pipeline.replay(job_id=second.job_id)

    # THEN the dry run reports both as replayable and moves nothing; the reason filter selects none;
    # the job filter replays only that job's message
    assert (dry.dry_run, dry.replayed, dry.matched) == (True, 2, 2)
    assert (other_reason.scanned, other_reason.matched) == (2, 0)
    assert [i.job_id for i in one_job.items] == [second.job_id]
    assert one_job.replayed == 1
    # AND a run limited to one replays the other, by the reason it carries (the broker's MaxDeliveryCountExceeded)
    last = pipeline.replay(reason="MaxDeliveryCountExceeded", limit=1)
    assert [i.job_id for i in last.items] == [first.job_id]
    pipeline.drain()
    assert {pipeline.job(first.job_id).state, pipeline.job(second.job_id).state} == {JobState.SUCCEEDED}


def test_the_listing_counts_by_reason_and_samples_without_bodies(failed: tuple[BrokerPipeline, Job]):
    # GIVEN a dead-lettered graph message
    pipeline, job = failed

    # WHEN the graph queue's dead letters are listed, by stage name and by queue name
    summary = list_dead_letters("graph", pipeline.ports)

    # THEN it is counted by its reason, and sampled with where it belongs
    assert summary.model_dump()["by_reason"] == {"MaxDeliveryCountExceeded": 1}
    assert (summary.queue, summary.stage, summary.scanned, summary.truncated) == ("graph", "graph", 1, False)
    [sample] = summary.samples
    assert (sample.job_id, sample.stage, sample.batch, sample.delivery_count) == (job.job_id, "graph", 0, 3)
    assert "body" not in sample.model_dump()
    with pytest.raises(UnknownQueueError):
        list_dead_letters("nope", pipeline.ports)
