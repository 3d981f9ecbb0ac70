"""Dead-letter listing and replay on the local broker with a SQLite job store: N failed jobs, one dead-lettered graph
message each, the duplicate window passed (the broker's clock moved). Times `list_dead_letters` and
`replay_dead_letters` (decode, job checks, reopen_batch, resend, complete per message), beside the broker's own
floor: receive the dead letters, resend, complete, with no job store.

    .venv/bin/python perf/bench_deadletters.py --messages 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from shared.adapters.bus_messages import to_outgoing
from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.config import Settings
from shared.devhost.broker import LocalBroker
from shared.devhost.broker_bus import BrokerBus
from shared.devhost.local_services import ensure_queues
from shared.domain import BatchOutcome, BatchPayload, Chunk, DocumentRef, Envelope, Job, JobState, Stage
from shared.pipeline.deadletters import ReplayRequest, list_dead_letters, replay_dead_letters
from shared.ports import Ports


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def envelope(job_id: str) -> Envelope:
    document = DocumentRef(
        account="a",
        container="incoming",
        path=f"{job_id}.txt",
        document_id=f"doc-{job_id}",
        version="v",
        size=1,
        content_type="text/plain",
    )
    chunk = Chunk(
        chunk_id=f"c-{job_id}",
        document_id=document.document_id,
        version="v",
        ordinal=0,
        text="x" * 500,
        locator="line 1",
    )
    return Envelope(
        message_id=f"m-{job_id}",
        job_id=job_id,
        stage=Stage.GRAPH,
        batch=0,
        document=document,
        tracking_id="0" * 32,
        payload=BatchPayload(chunks=[chunk]),
    )


def fill(root: Path, messages: int, clock: Clock, *, with_jobs: bool) -> tuple[LocalBroker, SQLiteJobStore, Settings]:
    settings = Settings(data_dir=root)
    broker = LocalBroker(root / "broker.sqlite", clock=clock)
    ensure_queues(broker, settings)
    jobs = SQLiteJobStore(root / "jobs.sqlite")
    jobs.migrate()
    now = datetime.now(UTC)
    for n in range(messages):
        job_id = f"job-{n:06d}"
        if with_jobs:
            job = Job(
                job_id=job_id,
                document_id=f"doc-{job_id}",
                path=f"incoming/{job_id}.txt",
                version="v",
                tracking_id="0" * 32,
                state=JobState.PARSING,
                batches_expected=1,
                created_at=now,
                updated_at=now,
            )
            jobs.create_job(job)
            jobs.record_batch(job_id, Stage.GRAPH, 0, BatchOutcome.DEAD_LETTERED, reason_code="graph.unavailable")
            jobs.transition(job_id, JobState.FAILED, allowed_from={JobState.PARSING})
        broker.send("graph", [to_outgoing(envelope(job_id))])
    while received := broker.receive("graph", 100):
        for message in received:
            broker.dead_letter(message, "MaxDeliveryCountExceeded", "graph.unavailable: down")
    clock.now += settings.duplicate_detection_window_seconds + 120
    return broker, jobs, settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1000, help="dead letters (at most 1000: one replay's scan)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="deadletters-bench-") as tmp:
        clock = Clock()
        broker, jobs, settings = fill(Path(tmp) / "replay", args.messages, clock, with_jobs=True)
        ports = Ports(
            blobs=None,  # type: ignore[arg-type]  # a replay reads only the bus, the job store and the settings
            bus=BrokerBus(broker),
            jobs=jobs,
            graph=None,  # type: ignore[arg-type]
            vectors=None,  # type: ignore[arg-type]
            embedder=None,  # type: ignore[arg-type]
            extractor=None,  # type: ignore[arg-type]
            settings=settings,
        )
        started = time.perf_counter()
        summary = list_dead_letters("graph", ports)
        listed = time.perf_counter() - started
        started = time.perf_counter()
        report = replay_dead_letters(
            "graph",
            ReplayRequest(limit=args.messages),
            ports,
            now=lambda: datetime.fromtimestamp(clock(), UTC),
        )
        replayed = time.perf_counter() - started
        assert report.replayed == args.messages, report.model_dump(exclude={"items"})
        assert all(jobs.get_job(item.job_id or "").state is JobState.PROCESSING for item in report.items[:10])  # type: ignore[union-attr]
        broker.close()
        jobs.close()

        floor_clock = Clock()
        floor_broker, floor_jobs, _ = fill(Path(tmp) / "floor", args.messages, floor_clock, with_jobs=False)
        started = time.perf_counter()
        moved = 0
        while dead := floor_broker.receive_dead_letters("graph", 50):
            for message in dead:
                floor_broker.send("graph", [to_outgoing(Envelope.model_validate_json(message.body))])
                floor_broker.complete(message)
                moved += 1
        floor = time.perf_counter() - started
        floor_broker.close()
        floor_jobs.close()

    print(f"dead letters: {args.messages} (scanned by the listing: {summary.scanned})")
    print(f"list_dead_letters:    {listed:.3f} s")
    print(f"replay_dead_letters:  {replayed:.3f} s  {args.messages / replayed:,.0f} messages/s")
    print(f"broker floor:         {floor:.3f} s  {moved / floor:,.0f} messages/s  (receive, resend, complete)")
    print(f"replay / floor:       {replayed / floor:.2f}x")
    print(f"command: .venv/bin/python perf/bench_deadletters.py --messages {args.messages}")


if __name__ == "__main__":
    main()
