"""Wiring of the embedded default: every port backed by something that runs on this machine, no account needed."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.adapters.hashing_embedder import HashingEmbedder
from shared.adapters.lancedb_vectors import LanceDBVectorSink
from shared.adapters.local_blob import LocalFolderBlobStore
from shared.config import Settings
from shared.devhost.servers.falkordb import ensure_running
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import load_schema
from shared.ports import BlobStore, Bus, GraphSink, JobStore, Ports
from tests.support.memory_bus import InMemoryBus


@dataclass(frozen=True)
class EmbeddedRuntime:
    ports: Ports
    bus: InMemoryBus


def open_job_store(settings: Settings) -> JobStore:
    """The job store the settings name, migrated and ready."""
    if settings.job_store == "postgres":
        from shared.adapters.postgres_jobstore import PostgresJobStore

        if not settings.postgres_dsn:
            raise ValueError("TRIBUTARY_JOB_STORE=postgres needs TRIBUTARY_POSTGRES_DSN")
        store: JobStore = PostgresJobStore(settings.postgres_dsn)
    else:
        from shared.adapters.sqlite_jobstore import SQLiteJobStore

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = SQLiteJobStore(settings.data_dir / "jobs.sqlite")
    store.migrate()
    return store


def embedded_ports(
    settings: Settings, *, jobs: JobStore, graph: GraphSink, bus: Bus, blobs: BlobStore | None = None
) -> Ports:
    """The embedded default's ports around a job store, graph sink and bus the caller opened (and closes).

    Blobs default to a local folder (in-process runs); the Functions app passes its storage account's store.
    """
    return Ports(
        blobs=blobs or LocalFolderBlobStore(settings.data_dir / "blobs", settings.storage_account),
        bus=bus,
        jobs=jobs,
        graph=graph,
        vectors=LanceDBVectorSink(settings.data_dir / "lancedb", settings.vector_table, settings.embedding_dimension),
        embedder=HashingEmbedder(settings.embedding_dimension),
        extractor=RuleBasedExtractor(load_schema(settings.extraction_schema)),
        settings=settings,
    )


@contextmanager
def embedded_runtime(settings: Settings) -> Iterator[EmbeddedRuntime]:
    """All embedded ports, with the FalkorDB server started (or reused) under the data directory."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        server = ensure_running(settings.data_dir / "falkordb")
        if server.started_here:  # never stop a server another process (say `tributary dev`) is using
            stack.callback(server.stop)
        jobs = open_job_store(settings)
        stack.callback(jobs.close)
        graph = FalkorDBGraphSink(server.url, settings.falkordb_graph)
        stack.callback(graph.close)
        graph.ensure_schema()
        bus = InMemoryBus()
        ports = embedded_ports(settings, jobs=jobs, graph=graph, bus=bus)
        stack.callback(ports.vectors.close)
        yield EmbeddedRuntime(ports=ports, bus=bus)
