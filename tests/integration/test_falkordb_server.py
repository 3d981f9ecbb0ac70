"""The project-owned FalkorDB server: persistence (AOF) across restarts and crashes, reuse by later runs."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.devhost.servers.falkordb import AOF_DIR, COMPACT_ABOVE_BYTES, STATE_FILE, FalkorDBServer, ensure_running
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


def write_people(server: FalkorDBServer, count: int) -> None:
    """`count` MERGEs, one command each: what the AOF logs and a start would replay one by one."""
    sink = FalkorDBGraphSink(server.url, "persisted")
    sink.ensure_schema()
    for number in range(count):
        sink.query("MERGE (p:Entity:Person {id: $id}) SET p.name = $name", {"id": f"p{number:04}", "name": "x" * 200})
    sink.close()


def logged_bytes(data_dir: Path) -> int:
    """Bytes in the AOF's command logs (its "incr" parts, as the manifest lists them): what a start replays."""
    aof_dir = data_dir / AOF_DIR
    parts = [dict(zip(fields[::2], fields[1::2], strict=True)) for fields in map(str.split, manifest(data_dir))]
    return sum((aof_dir / part["file"]).stat().st_size for part in parts if part["type"] == "i")


def manifest(data_dir: Path) -> list[str]:
    """The lines of the AOF manifest: "file <name> seq <n> type <b|i|h> [startoffset <n> endoffset <n>]"."""
    return (data_dir / AOF_DIR / "appendonly.aof.manifest").read_text().splitlines()


def write_command_log(data_dir: Path, commands: list[tuple[str, ...]]) -> None:
    """An AOF of only a command log, as a server without a rewrite yet would leave it."""
    aof_dir = data_dir / AOF_DIR
    aof_dir.mkdir(parents=True)
    with open(aof_dir / "appendonly.aof.1.incr.aof", "w", newline="") as log:
        for command in [("SELECT", "0"), *commands]:
            log.write(f"*{len(command)}\r\n" + "".join(f"${len(arg.encode())}\r\n{arg}\r\n" for arg in command))
    (aof_dir / "appendonly.aof.manifest").write_text("file appendonly.aof.1.incr.aof seq 1 type i\n")


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


def test_a_clean_stop_compacts_the_aof_into_a_snapshot(tmp_path: Path, servers: list[FalkorDBServer]) -> None:
    # GIVEN a server that logged a few hundred writes
    first = FalkorDBServer(tmp_path)
    servers.append(first.start())
    write_people(first, 400)
    assert logged_bytes(tmp_path) > COMPACT_ABOVE_BYTES
    # WHEN it is stopped cleanly
    first.stop()
    # THEN the AOF is one RDB snapshot with no command left to replay
    assert logged_bytes(tmp_path) == 0
    assert [line.split()[1].endswith(".base.rdb") for line in manifest(tmp_path)] == [True, False]
    # AND a new server on it gets every node and the constraints back from that snapshot
    second = FalkorDBServer(tmp_path)
    servers.append(second.start())
    sink = FalkorDBGraphSink(second.url, "persisted")
    assert sink.query("MATCH (p:Person) RETURN count(p), min(p.id), max(p.id), min(size(p.name))") == [
        [400, "p0000", "p0399", 200]
    ]
    sink.close()
    assert read_markers(second)[1] == {"Document": "OPERATIONAL", "Chunk": "OPERATIONAL", "Entity": "OPERATIONAL"}


def test_writes_after_a_compaction_survive_kill_9(tmp_path: Path, servers: list[FalkorDBServer]) -> None:
    # GIVEN a data directory compacted by a clean stop, and a server that acknowledged a write on top of it
    first = FalkorDBServer(tmp_path)
    servers.append(first.start())
    write_people(first, 400)
    first.stop()
    second = FalkorDBServer(tmp_path)
    servers.append(second.start())
    write_marker(second, "after-compaction")
    # WHEN it is killed without a chance to save anything
    assert second.pid is not None
    os.kill(second.pid, signal.SIGKILL)
    second.stop()  # only reaps the dead child
    # THEN a new server has the snapshot and the write logged after it
    third = FalkorDBServer(tmp_path)
    servers.append(third.start())
    sink = FalkorDBGraphSink(third.url, "persisted")
    assert sink.query("MATCH (p:Person) RETURN count(p)") == [[401]]
    sink.close()
    assert "after-compaction" in read_markers(third)[0]


def test_start_returns_once_the_data_is_loaded(tmp_path: Path, servers: list[FalkorDBServer]) -> None:
    # GIVEN a command log that takes a while to replay (redis answers INFO between batches of 1024 replayed
    # commands, and refuses queries until the last one)
    quick = ("GRAPH.QUERY", "persisted", "MERGE (:Person {id: 'replayed'})")
    slow = ("GRAPH.QUERY", "persisted", "UNWIND range(1, 2000000) AS x RETURN count(x)")
    write_command_log(tmp_path, [quick] * 20_000 + [slow] * 4)
    # WHEN a server starts on it
    server = FalkorDBServer(tmp_path)
    servers.append(server.start())
    # THEN it has loaded everything by the time start() returns, and answers queries
    client = redis.Redis.from_url(server.url)
    assert client.info("persistence")["loading"] == 0
    assert client.execute_command("GRAPH.QUERY", "persisted", "MATCH (n) RETURN n.id")[1] == [[b"replayed"]]
    client.close()


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
    pid, port, started_there = ensure_running_in_another_process("shared.devhost.servers.falkordb", tmp_path)
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
