"""The project-owned Azurite server: start and stop, reuse by later runs, persistence with a data directory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.azure_blob import AzureBlobStore
from shared.devhost.errors import StartupError
from shared.devhost.servers import azurite as azurite_server
from shared.devhost.servers.azurite import STATE_FILE, AzuriteServer, ensure_running
from shared.domain import TransientError
from tests.support.azurite import azurite_client
from tests.support.servers import ensure_running_in_another_process, listening_sockets, process_gone


@pytest.fixture
def servers() -> Iterator[list[AzuriteServer]]:
    """Servers a test starts; whatever is still running at the end is stopped."""
    started: list[AzuriteServer] = []
    yield started
    for server in started:
        server.stop()


def store_on(server: AzuriteServer) -> AzureBlobStore:
    return AzureBlobStore(azurite_client(server))


def test_an_in_memory_server_starts_serves_on_loopback_and_stops_clean(servers: list[AzuriteServer]) -> None:
    # GIVEN a started in-memory server
    server = AzuriteServer()
    servers.append(server.start())
    pid, log = server.pid, server.log_path
    assert pid is not None
    assert log is not None
    assert log.exists()
    assert server.started_here
    assert server.is_running()
    # THEN it serves blobs, and listens on its port on 127.0.0.1 only
    store = store_on(server)
    store.ensure_container("smoke")
    assert store.upload("smoke", "a.txt", b"hi").size == 2
    store.close()
    assert listening_sockets(pid) == {("0100007F", server.port)}
    assert server.blob_endpoint == f"http://127.0.0.1:{server.port}/devstoreaccount1"
    # WHEN it is stopped THEN the process is gone and reaped, and its scratch directory removed
    server.stop()
    assert process_gone(pid)
    assert not log.parent.exists()
    assert not server.is_running()


def test_ensure_running_reuses_the_server_of_the_same_data_directory(
    tmp_path: Path, servers: list[AzuriteServer]
) -> None:
    # GIVEN a CLI run (another process) that started a server and exited without stopping it
    pid, port, started_there = ensure_running_in_another_process("shared.devhost.servers.azurite", tmp_path)
    assert started_there
    # WHEN this process asks for the server of the same data directory
    server = ensure_running(tmp_path)
    servers.append(server)
    # THEN it attaches to that one instead of starting another
    assert (server.pid, server.port, server.started_here) == (pid, port, False)
    assert server.is_running()
    # AND starting a second server on that directory is refused
    with pytest.raises(TransientError) as refused:
        AzuriteServer(tmp_path).start()
    assert refused.value.reason_code == "blob.server_already_running"
    # AND stopping it through the attachment really stops it (the orphan is init's to reap)
    server.stop()
    assert process_gone(pid, wait=5.0)
    assert not (tmp_path / STATE_FILE).exists()


def test_blobs_persist_across_a_stop_and_start(tmp_path: Path, servers: list[AzuriteServer]) -> None:
    # GIVEN a persistent server holding a blob
    first = ensure_running(tmp_path)
    servers.append(first)
    store = store_on(first)
    store.ensure_container("kept")
    store.upload("kept", "nested/blob.txt", b"still here")
    store.close()
    # AND, after it stops, a record pointing at a dead process (as a crashed server leaves)
    first.stop()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": int(finished.stdout), "port": 9}))
    # WHEN a run asks for the server of that data directory
    second = ensure_running(tmp_path)
    servers.append(second)
    # THEN a new server is started and recorded, and the blob is back
    assert second.started_here
    assert second.port != 9
    assert json.loads((tmp_path / STATE_FILE).read_text())["pid"] == second.pid
    store = store_on(second)
    assert store.download_bytes("kept", "nested/blob.txt") == b"still here"
    store.close()
    assert (tmp_path / "__blobstorage__").is_dir()  # Azurite kept its files in the data directory


def test_a_missing_installation_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, servers: list[AzuriteServer]
) -> None:
    # GIVEN a checkout where `npm ci` never ran
    monkeypatch.setattr(azurite_server, "REPO_ROOT", tmp_path)
    # WHEN a server is started THEN the error names the fix, and nothing was spawned
    server = AzuriteServer()
    servers.append(server)
    with pytest.raises(StartupError, match=r"run `npm ci` \(or `make`\)") as refused:
        server.start()
    assert refused.value.reason_code == "devhost.azurite_not_installed"
    assert server.pid is None
