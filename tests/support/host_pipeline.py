"""The whole pipeline through the local Functions host: files go into the incoming container on Azurite and the
app's own triggers (function_app.py: the blob trigger, the Service Bus triggers on the durable local broker) run
every stage, as on Azure. Each pipeline has its own data folder, containers and graph.

Fixtures:
- `make_host_pipeline` (function): `make_host_pipeline(**settings)` opens a `HostPipeline`; keyword arguments are
  Settings field names (`file_max_bytes=1000` sets TRIBUTARY_FILE_MAX_BYTES). The app's ports are one per process,
  as in a worker, so opening a pipeline closes the one opened before it: read what you need from it first.
- `host_pipeline` (function): one with the sample settings.
- `module_host_pipeline` (module): one shared by a module's tests (files under distinct names never meet).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.adapters.azure_blob import AzureBlobStore
from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.app_ports import app_ports
from shared.config import ENV_PREFIX, STORAGE_CONNECTION
from shared.devhost.host import DevHost
from shared.devhost.servers.azurite import AzuriteServer
from shared.devhost.servers.falkordb import FalkorDBServer
from shared.domain import Job
from shared.domain.ids import document_id
from shared.ports import Ports
from tests.support.devhost import sample_values


@dataclass
class HostPipeline:
    """A DevHost on function_app.py plus helpers to drop files into its incoming container."""

    host: DevHost

    @property
    def ports(self) -> Ports:
        """The ports the functions use (the worker process's; valid while this pipeline is the open one)."""
        return app_ports()

    @property
    def incoming(self) -> str:
        return self.host.settings.incoming_container

    def upload(self, files: dict[str, bytes]) -> None:
        store = self.host.blob_store(STORAGE_CONNECTION)
        for name, content in files.items():
            store.upload(self.incoming, name, content)

    def drop(self, name: str, content: bytes) -> Job:
        """Upload one blob, let the host run until idle; the newest job of that blob."""
        return self.drop_all({name: content})[name]

    def drop_all(self, files: dict[str, bytes]) -> dict[str, Job]:
        """Upload the blobs together, let the host run until idle; the newest job of each."""
        self.upload(files)
        self.host.run_until_idle()
        return {name: self.latest_job(name) for name in files}

    def latest_job(self, name: str) -> Job:
        wanted = document_id(self.host.blob_store(STORAGE_CONNECTION).account, self.incoming, name)
        for job in self.ports.jobs.list_jobs(limit=100_000):  # newest first
            if job.document_id == wanted:
                return job
        raise AssertionError(f"no job for {name}")

    def job(self, job: Job) -> Job:
        """The job as it stands now."""
        found = self.ports.jobs.get_job(job.job_id)
        assert found is not None
        return found

    def store_counts(self) -> dict[str, int]:
        return self.ports.graph.counts().model_dump() | {"vectors": self.ports.vectors.count()}


HostPipelineFactory = Callable[..., HostPipeline]


@pytest.fixture(scope="session")
def _host_pipeline_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("host-pipelines")


@contextmanager
def _factory(root: Path, azurite: AzuriteServer, falkordb_server: FalkorDBServer) -> Iterator[HostPipelineFactory]:
    opened: list[tuple[DevHost, dict[str, str]]] = []

    def close_open_host() -> None:
        if opened:
            opened[-1][0].stop()  # stopping twice does nothing

    def build(**overrides: object) -> HostPipeline:
        close_open_host()
        suffix = uuid.uuid4().hex[:12]
        settings = sample_values() | {
            "TRIBUTARY_DATA_DIR": str(root / suffix),
            STORAGE_CONNECTION: azurite.connection_string,
            "TRIBUTARY_FALKORDB_URL": falkordb_server.url,
            "TRIBUTARY_FALKORDB_GRAPH": f"pipeline_{suffix}",
            "TRIBUTARY_INCOMING_CONTAINER": f"incoming-{suffix}",
            "TRIBUTARY_WORK_CONTAINER": f"work-{suffix}",
            "TRIBUTARY_STORAGE_ACCOUNT": "testaccount",
        }
        settings |= {f"{ENV_PREFIX}{name.upper()}": str(value) for name, value in overrides.items()}
        host = DevHost(settings=settings)
        opened.append((host.__enter__(), settings))
        return HostPipeline(host)

    try:
        yield build
    finally:
        close_open_host()
    store = AzureBlobStore.from_connection_setting(STORAGE_CONNECTION, {STORAGE_CONNECTION: azurite.connection_string})
    for _, settings in opened:
        graph = FalkorDBGraphSink(falkordb_server.url, settings["TRIBUTARY_FALKORDB_GRAPH"])
        graph.delete_graph()
        graph.close()
        for key in ("TRIBUTARY_INCOMING_CONTAINER", "TRIBUTARY_WORK_CONTAINER"):
            store.service.delete_container(settings[key])
    store.close()


@pytest.fixture
def make_host_pipeline(
    _host_pipeline_root: Path, azurite: AzuriteServer, falkordb_server: FalkorDBServer
) -> Iterator[HostPipelineFactory]:
    with _factory(_host_pipeline_root, azurite, falkordb_server) as build:
        yield build


@pytest.fixture
def host_pipeline(make_host_pipeline: HostPipelineFactory) -> HostPipeline:
    return make_host_pipeline()


@pytest.fixture(scope="module")
def module_host_pipeline(
    _host_pipeline_root: Path, azurite: AzuriteServer, falkordb_server: FalkorDBServer
) -> Iterator[HostPipeline]:
    with _factory(_host_pipeline_root, azurite, falkordb_server) as build:
        yield build()
