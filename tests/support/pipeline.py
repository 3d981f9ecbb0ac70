"""The whole pipeline on the embedded default, wired for one test: its own folder, job store, graph and table."""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.adapters.hashing_embedder import HashingEmbedder
from shared.adapters.lancedb_vectors import LanceDBVectorSink
from shared.adapters.local_blob import LocalFolderBlobStore
from shared.adapters.sqlite_jobstore import SQLiteJobStore
from shared.config import Settings
from shared.devhost.servers.falkordb import FalkorDBServer
from shared.domain import BlobEvent, IngestOutcome, Job
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import load_schema
from shared.ports import Bus, GraphSink, JobStore, Ports
from tests.support.inprocess import run_blob
from tests.support.memory_bus import InMemoryBus

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@dataclass
class Pipeline:
    """A wired pipeline plus helpers to drop files into it."""

    ports: Ports
    bus: InMemoryBus
    unwrapped: Ports  # the real adapters, for closing them whatever a test wrapped around them
    run: int = 0

    def drop(self, name: str, content: bytes) -> IngestOutcome:
        """Upload a blob and run it through every stage, as one BlobCreated event."""
        self.ports.blobs.upload(self.ports.settings.incoming_container, name, content)
        return self.trigger(name)

    def trigger(self, name: str) -> IngestOutcome:
        self.run += 1
        event = BlobEvent(
            event_id=f"event-{self.run}-{name}", container=self.ports.settings.incoming_container, path=name
        )
        return run_blob(event, self.ports, self.bus)

    def job(self, outcome: IngestOutcome) -> Job:
        job = self.ports.jobs.get_job(outcome.job_id)
        assert job is not None
        return job

    def close(self) -> None:
        self.unwrapped.jobs.close()
        self.unwrapped.vectors.close()
        graph = self.unwrapped.graph
        assert isinstance(graph, FalkorDBGraphSink)
        graph.delete_graph()
        graph.close()

    def store_counts(self) -> dict[str, int]:
        return self.ports.graph.counts().model_dump() | {"vectors": self.ports.vectors.count()}


PipelineFactory = Callable[..., Pipeline]


def in_process_ports(settings: Settings, *, jobs: JobStore, graph: GraphSink, bus: Bus) -> Ports:
    """The embedded backends around a job store, graph and bus the caller opened (and closes), with blobs in a
    local folder: the in-process pipeline of the tests and the in-process benchmark, never the Function app."""
    return Ports(
        blobs=LocalFolderBlobStore(settings.data_dir / "blobs", settings.storage_account),
        bus=bus,
        jobs=jobs,
        graph=graph,
        vectors=LanceDBVectorSink(settings.data_dir / "lancedb", settings.vector_table, settings.embedding_dimension),
        embedder=HashingEmbedder(settings.embedding_dimension),
        extractor=RuleBasedExtractor(load_schema(settings.extraction_schema)),
        settings=settings,
    )


def open_pipeline(
    root: Path, falkordb_url: str, wrap: Callable[[Ports], Ports] | None = None, **overrides: object
) -> Pipeline:
    """A pipeline with its own folder, job store, graph and table under `root`; `wrap` may inject faults."""
    settings = Settings(data_dir=root, storage_account="testaccount", **overrides)
    jobs = SQLiteJobStore(root / "jobs.sqlite")
    jobs.migrate()
    graph = FalkorDBGraphSink(falkordb_url, f"test_{uuid.uuid4().hex[:12]}")
    graph.ensure_schema()
    bus = InMemoryBus()
    ports = in_process_ports(settings, jobs=jobs, graph=graph, bus=bus)
    return Pipeline(ports=wrap(ports) if wrap else ports, bus=bus, unwrapped=ports)


@pytest.fixture
def make_pipeline(tmp_path: Path, falkordb_server: FalkorDBServer) -> Iterator[PipelineFactory]:
    """Build pipelines, each with its own folder, job store, graph and table; keyword arguments override
    settings, and `wrap` may wrap the ports to inject faults."""
    opened: list[Pipeline] = []

    def build(wrap: Callable[[Ports], Ports] | None = None, **overrides: object) -> Pipeline:
        pipeline = open_pipeline(tmp_path / f"pipeline-{len(opened)}", falkordb_server.url, wrap, **overrides)
        opened.append(pipeline)
        return pipeline

    yield build
    for pipeline in opened:
        pipeline.close()


@pytest.fixture
def pipeline(make_pipeline: PipelineFactory) -> Pipeline:
    return make_pipeline()


def sample_files() -> dict[str, bytes]:
    return {
        f"samples/{p.relative_to(SAMPLES).as_posix()}": p.read_bytes()
        for p in sorted(SAMPLES.rglob("*"))
        if p.is_file()
    }
