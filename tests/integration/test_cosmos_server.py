"""The project-owned Cosmos DB stand-in: start and stop, loopback only, reuse by later runs, a working store on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.devhost.servers.cosmos import STATE_FILE, CosmosServer, ensure_running
from shared.domain import TransientError
from tests.support.cosmos import open_cosmos_store
from tests.support.servers import ensure_running_in_another_process, listening_sockets, process_gone

pytestmark = pytest.mark.cosmos


@pytest.fixture
def servers() -> Iterator[list[CosmosServer]]:
    """Servers a test starts; whatever is still running at the end is stopped."""
    started: list[CosmosServer] = []
    yield started
    for server in started:
        server.stop()


def test_an_in_memory_server_serves_on_loopback_and_stops_clean(servers: list[CosmosServer]) -> None:
    # GIVEN a started server
    server = CosmosServer()
    servers.append(server.start())
    pid, log = server.pid, server.log_path
    assert pid is not None
    assert log is not None

    # WHEN a store works on it through its connection string
    with open_cosmos_store(server.connection_string, "db") as store:
        store.migrate()
        assert store.get_job("job-1") is None

    # THEN it listens on 127.0.0.1 only, and stop leaves no process and no scratch files
    assert listening_sockets(pid) == {("0100007F", server.port)}
    server.stop()
    assert process_gone(pid)
    assert not log.parent.exists()
    assert not server.is_running()


def test_ensure_running_reuses_the_server_another_run_left(tmp_path: Path, servers: list[CosmosServer]) -> None:
    # GIVEN a server started by a run that has exited
    pid, port, started_there = ensure_running_in_another_process("shared.devhost.servers.cosmos", tmp_path)
    assert started_there

    # WHEN this run ensures one for the same data directory
    server = ensure_running(tmp_path)
    servers.append(server)

    # THEN it attaches to that server instead of starting another, and can stop it
    assert (server.pid, server.port, server.started_here) == (pid, port, False)
    assert (tmp_path / STATE_FILE).is_file()
    with pytest.raises(TransientError, match="already serves"):
        CosmosServer(tmp_path).start()
    server.stop()
    assert process_gone(pid, wait=5.0)
    assert not (tmp_path / STATE_FILE).exists()
