"""A local server process the project starts, records and reuses under a data directory (FalkorDB, Azurite).

`LocalServer` holds the lifecycle the servers share. It binds a free port on 127.0.0.1, trying another when a
different process takes it first. The pid and port go into a state file in the data directory, and a later run
attaches to that server while it still is the one (a record only counts when the subclass recognises the
process). A child is stopped with SIGTERM, then SIGKILL after a timeout, and reaped. A server another run
started is signalled by pid, after checking the pid still is that server. Start and attach hold a file lock
on the data directory: two servers on one set of files would corrupt them.

A subclass says what differs: its files, messages and reason codes (`ServerKind`), how it is spawned, and how it
is recognised (`_serves`, `_is_ours`, `_is_recorded_server`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self, TypeVar

from shared.domain import TransientError

HOST = "127.0.0.1"

_PORT_ATTEMPTS = 5  # a free port can be taken between probing it and the server binding it

_T = TypeVar("_T")


@dataclass(frozen=True)
class ServerKind:
    """What sets one kind of server apart in its files, messages and reason codes."""

    name: str  # in messages: "FalkorDB pid 123 ..."
    state_file: str
    lock_file: str
    log_file: str
    address_in_use: str  # what a failed start says when another process bound the port first: try another
    already_running: str
    start_failed: str
    stop_failed: str
    unresponsive: str


class LocalServer(ABC):
    """One server process on 127.0.0.1 keeping its files in `data_dir`; a context manager."""

    kind: ClassVar[ServerKind]

    def __init__(self, data_dir: Path | str | None, port: int | None = None, *, startup_timeout: float = 60.0) -> None:
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.startup_timeout = startup_timeout
        self._requested_port = port
        self._port: int | None = None
        self._pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None  # cwd and log of a server without a data directory, removed on stop

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1; only valid while started or attached."""
        if self._port is None:
            raise RuntimeError(f"{self.kind.name} server is not started")
        return self._port

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def started_here(self) -> bool:
        """True when this process spawned the server (False when attached to one a previous run left)."""
        return self._process is not None

    def is_running(self) -> bool:
        """The recorded process is alive, is the server of this data directory, and answers."""
        if self._pid is None or self._port is None:
            return False
        return self._serves(self._pid, self._port)

    @property
    def log_path(self) -> Path | None:
        """The server's log: in its data directory, or in the scratch folder of a server without one."""
        directory = self.data_dir or self._scratch
        return directory / self.kind.log_file if directory is not None else None

    def start(self) -> Self:
        """Spawn the server and wait until it answers; refuses when one already runs for this data dir.

        Without a data directory (a throwaway server: in memory, nothing recorded) it runs in a scratch folder that
        `stop()` removes."""
        if self.data_dir is None:
            return self._start_without_home()
        with _locked(self._home / self.kind.lock_file):
            self._start_locked()
        return self

    def _start_without_home(self) -> Self:
        if self._pid is not None:
            raise RuntimeError(f"{self!r} is already started")
        self._scratch = Path(tempfile.mkdtemp(prefix=f"{self.kind.state_file.split('.')[0]}-"))
        try:
            self._spawn_until_ready(self._scratch)
        except BaseException:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
            raise
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (the server saves what it holds), SIGKILL after `timeout`; reaps the process."""
        if self._pid is None:
            return
        pid = self._pid
        if self._process is not None:
            _stop_child(self._process, timeout)
        elif self._port is not None and self._is_ours(pid, self._port):
            # Not our child: signal only after checking the pid still is this server (pids get reused).
            _stop_foreign(pid, timeout, self.kind)
        if self.data_dir is not None:
            _remove_state(self.data_dir / self.kind.state_file, pid)
        self._pid = self._port = None
        self._process = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    @classmethod
    def attach(cls, data_dir: Path | str) -> Self | None:
        """The live server recorded for `data_dir`, or None when there is none (or the record is stale)."""
        server = cls(data_dir)
        with _locked(server._home / cls.kind.lock_file):
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
        where = "memory" if self.data_dir is None else repr(str(self.data_dir))
        return f"{type(self).__name__}(data_dir={where}, port={self._port}, pid={self._pid})"

    # -- what a subclass says: how its server is spawned and recognised --

    @abstractmethod
    def _spawn(self, port: int, workdir: Path) -> subprocess.Popen[bytes]:
        """Start the server on `port`, in its own session, with `workdir` as cwd (its log goes there)."""

    @abstractmethod
    def _serves(self, pid: int, port: int) -> bool:
        """`pid` is the server of this data directory and answers on `port`."""

    @abstractmethod
    def _is_ours(self, pid: int, port: int) -> bool:
        """`pid` still is the server of this data directory on `port`: checked before signalling it."""

    @abstractmethod
    def _is_recorded_server(self, pid: int, port: int) -> bool:
        """The recorded pid and port are this data directory's server, answering (waiting while it starts up).

        False for a stale record; raises `self._unresponsive(pid, port)` when the server is alive but silent.
        """

    # -- the lifecycle (callers of the *_locked methods hold the data-dir lock) --

    @property
    def _home(self) -> Path:
        """The data directory, for what needs one (start with a record, attach)."""
        assert self.data_dir is not None, f"{self!r} keeps no data directory"
        return self.data_dir

    def _attach_or_start(self) -> Self:
        """The server already running for this data directory (left by an earlier run), else a new one."""
        with _locked(self._home / self.kind.lock_file):
            if not self._attach_locked():
                self._start_locked()
        return self

    def _attach_locked(self) -> bool:
        state = _read_state(self._home / self.kind.state_file)
        if state is None:
            return False
        pid, port = state
        if not self._is_recorded_server(pid, port):
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
                self.kind.already_running,
                f"{self.kind.name} pid {pid} on port {port} already serves {self.data_dir}; use ensure_running()",
            )
        self._home.mkdir(parents=True, exist_ok=True)
        pid, port = self._spawn_until_ready(self._home)
        _write_state(self._home / self.kind.state_file, pid, port)

    def _spawn_until_ready(self, workdir: Path) -> tuple[int, int]:
        """Spawn on a free port (or the requested one) until the server answers; its (pid, port)."""
        attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        last_error = ""
        for _ in range(attempts):
            port = self._requested_port or _free_port()
            process = self._spawn(port, workdir)
            try:
                ready, last_error = self._wait_ready(process, port, workdir)
            except BaseException:  # Ctrl-C or SIGTERM while it starts: nobody else knows this child yet
                _stop_child(process, 5.0)
                raise
            if ready:
                self._pid, self._port, self._process = process.pid, port, process
                return process.pid, port
            _stop_child(process, 5.0)
            if self.kind.address_in_use not in last_error:
                break
        where = self.data_dir or "memory"
        raise TransientError(self.kind.start_failed, f"{self.kind.name} did not start in {where}: {last_error}")

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int, workdir: Path) -> tuple[bool, str]:
        log = workdir / self.kind.log_file
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False, f"exited with {process.returncode}: {_log_tail(log)}"
            if self._serves(process.pid, port):
                return True, ""
            time.sleep(0.05)
        return False, f"no answer on port {port} after {self.startup_timeout:.0f} s: {_log_tail(log)}"

    def _unresponsive(self, pid: int, port: int) -> TransientError:
        return TransientError(
            self.kind.unresponsive,
            f"{self.kind.name} pid {pid} on port {port} for {self.data_dir} does not answer",
        )


def wait_for(
    condition: Callable[[], _T], timeout: float, *, interval: float = 0.05, as_long_as: Callable[[], bool] | None = None
) -> _T | None:
    """The first truthy result of `condition`, polled every `interval` s; None once `timeout` s have passed.

    `as_long_as`: give up as soon as it turns false (e.g. the process being waited for died).
    """
    deadline = time.monotonic() + timeout
    while as_long_as is None or as_long_as():
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return None


def pid_alive(pid: int) -> bool:
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


def command_line(pid: int) -> list[str]:
    """The arguments of live process `pid`, from /proc; empty when it is gone (or /proc says nothing)."""
    if not pid_alive(pid):
        return []
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


# -- helpers --


@contextlib.contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    """Serialise start/attach for one data dir across processes: two servers on one set of files corrupt them."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _stop_child(process: subprocess.Popen[bytes], timeout: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()  # reap: no zombie left behind


def _stop_foreign(pid: int, timeout: float, kind: ServerKind) -> None:
    """SIGTERM, then SIGKILL after `timeout`, to a server that is not our child (no reaping: it is not ours to)."""
    for signal_number in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal_number)
        if wait_for(lambda: not pid_alive(pid), timeout):
            return
    raise TransientError(kind.stop_failed, f"{kind.name} pid {pid} survived SIGKILL")


def _read_state(state_file: Path) -> tuple[int, int] | None:
    try:
        state = json.loads(state_file.read_text())
        return int(state["pid"]), int(state["port"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_state(state_file: Path, pid: int, port: int) -> None:
    temporary = state_file.with_name(f"{state_file.name}.tmp")
    temporary.write_text(json.dumps({"pid": pid, "port": port, "host": HOST}))
    temporary.replace(state_file)  # atomic: a reader never sees half a record


def _remove_state(state_file: Path, pid: int) -> None:
    state = _read_state(state_file)
    if state is not None and state[0] == pid:
        state_file.unlink(missing_ok=True)


def _log_tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def has_sequence(argv: list[str], sequence: tuple[str, ...]) -> bool:
    """`sequence` stands in `argv` as consecutive arguments (how a server's command line is recognised)."""
    width = len(sequence)
    return any(tuple(argv[index : index + width]) == sequence for index in range(len(argv) - width + 1))
