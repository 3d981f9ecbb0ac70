"""The project-owned FalkorDB server: persistence (AOF) across restarts and crashes, reuse by later runs."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.adapters.falkordb_server import STATE_FILE, FalkorDBServer, ensure_running
from shared.domain import TransientError
from tests.support.servers import ensure_running_in_another_process, listening_sockets, process_gone

pytestmark = pytest.mark.falkordb


@pytest.fixture
def servers() -> Iterator[list[FalkorDBServer]]:
    """Servers a test starts; whatever is still running at the end is stopped."""
    started: list[FalkorDBServer] = []
    yield started
    for server in started:
        server.stop()


def write_marker(server: FalkorDBServer, name: str) -> None:
    sink = FalkorDBGraphSink(server.url, "persisted")
    sink.ensure_schema()
    sink.query("MERGE (:Entity:Person {id: $id, name: $id})", {"id": name})
    sink.close()


def read_markers(server: FalkorDBServer) -> tuple[list[str], dict[str, str]]:
    """Stored marker ids, and the constraints that came back with them."""
    sink = FalkorDBGraphSink(server.url, "persisted")
    rows = sink.query("MATCH (n:Person) RETURN n.id ORDER BY n.id")
    constraints = sink.unique_constraints()
    sink.close()
    return [row[0] for row in rows], constraints


def test_data_survives_a_clean_stop_and_start(tmp_path: Path, servers: list[FalkorDBServer]) -> None:
    # GIVEN a server with a node and the unique constraints
    first = FalkorDBServer(tmp_path)
    servers.append(first.start())
    write_marker(first, "before-stop")
    # WHEN it is stopped and a new server starts on the same data directory
    first.stop()
    second = FalkorDBServer(tmp_path)
    servers.append(second.start())
    # THEN the node and the constraints are back
    assert read_markers(second) == (
        ["before-stop"],
        {"Document": "OPERATIONAL", "Chunk": "OPERATIONAL", "Entity": "OPERATIONAL"},
    )


def test_acknowledged_writes_survive_kill_9(tmp_path: Path, servers: list[FalkorDBServer]) -> None:
    # GIVEN a server that acknowledged a write
    first = FalkorDBServer(tmp_path)
    servers.append(first.start())
    write_marker(first, "before-crash")
    # WHEN it is killed without a chance to save anything
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    first.stop()  # only reaps the dead child
    # THEN a new server on the same data directory has the write (AOF)
    second = FalkorDBServer(tmp_path)
    servers.append(second.start())
    assert read_markers(second)[0] == ["before-crash"]


def test_the_server_listens_on_loopback_only_and_stops_without_a_zombie(
    tmp_path: Path, servers: list[FalkorDBServer]
) -> None:
    # GIVEN a started server
    server = FalkorDBServer(tmp_path)
    servers.append(server.start())
    pid = server.pid
    assert pid is not None
    # THEN its only listening socket is its port on 127.0.0.1 (no Bolt port, no other interface)
    assert listening_sockets(pid) == {("0100007F", server.port)}
    # WHEN it is stopped THEN the process is gone, reaped, and the record removed
    server.stop()
    assert process_gone(pid)
    assert not (tmp_path / STATE_FILE).exists()
    assert not server.is_running()


def test_a_second_server_on_the_same_data_directory_is_refused(tmp_path: Path, servers: list[FalkorDBServer]) -> None:
    # GIVEN a running server
    servers.append(FalkorDBServer(tmp_path).start())
    # WHEN another one is started on its data directory THEN it is refused (two writers would corrupt the AOF)
    with pytest.raises(TransientError) as refused:
        FalkorDBServer(tmp_path).start()
    assert refused.value.reason_code == "graph.server_already_running"


def test_ensure_running_reuses_the_server_another_process_left_running(
    tmp_path: Path, servers: list[FalkorDBServer]
) -> None:
    # GIVEN a CLI run (another process) that started a server and exited without stopping it
    pid, port, started_there = ensure_running_in_another_process("shared.adapters.falkordb_server", tmp_path)
    assert started_there
    # WHEN this process asks for the server of the same data directory
    server = ensure_running(tmp_path)
    servers.append(server)
    # THEN it attaches to that one instead of starting another
    assert (server.pid, server.port, server.started_here) == (pid, port, False)
    assert server.is_running()
    # AND stopping it through the attachment really stops it (the orphan is init's to reap)
    server.stop()
    assert process_gone(pid, wait=5.0)


def test_ensure_running_replaces_a_dead_server(tmp_path: Path, servers: list[FalkorDBServer]) -> None:
    # GIVEN a server that wrote data and then crashed, leaving its record behind (and, unreaped, a zombie)
    first = ensure_running(tmp_path)
    servers.append(first)
    write_marker(first, "kept")
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)
    # WHEN a run asks for the server
    second = ensure_running(tmp_path)
    servers.append(second)
    # THEN a new server is started, with the data
    assert second.started_here
    assert second.pid != first.pid
    assert read_markers(second)[0] == ["kept"]


def test_ensure_running_ignores_a_record_pointing_at_someone_elses_server(
    tmp_path: Path, servers: list[FalkorDBServer], falkordb_server: FalkorDBServer
) -> None:
    # GIVEN a stale record whose pid and port now belong to a live server of another data directory
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / STATE_FILE).write_text(json.dumps({"pid": falkordb_server.pid, "port": falkordb_server.port}))
    # WHEN a run asks for the server of this directory
    server = ensure_running(tmp_path)
    servers.append(server)
    # THEN it starts its own rather than attaching to (or later stopping) the other one
    assert server.started_here
    assert server.port != falkordb_server.port
    assert falkordb_server.is_running()
