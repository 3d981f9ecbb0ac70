"""The Azurite server the project owns: the Azure Storage emulator's blob service, installed by `npm ci`.

`package.json` pins Azurite; `make` runs `npm ci`, which puts `azurite-blob` under `node_modules/.bin` of the repo.
Only the blob service runs (queues and tables are not used), bound to 127.0.0.1 on a free port, with telemetry off
and no access log. Either in memory (tests: ~5x faster, nothing on disk) or persisting under a data directory
(`--location`, always passed so it never writes into the working directory). Azurite saves its metadata database
every 5 s and on SIGTERM, so a clean stop keeps everything; a `kill -9` can lose the last seconds.

A CLI reuses a running server through `ensure_running(data_dir)`: the pid and port are recorded in
`azurite.server.json` under the data directory, and a record only counts when that pid is still the Azurite
started for this directory and port (its command line says so) and the port answers as Azurite.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from shared.domain import TransientError

HOST = "127.0.0.1"
ACCOUNT_NAME = "devstoreaccount1"
# Azurite's well-known development account key: public, documented by Microsoft, identical on every machine.
# It protects nothing (the emulator listens on loopback only), so it is fine to have it in code.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

STATE_FILE = "azurite.server.json"
LOCK_FILE = "azurite.lock"
LOG_FILE = "azurite.log"
BIN_RELATIVE = Path("node_modules") / ".bin" / "azurite-blob"

_PORT_ATTEMPTS = 5  # a free port can be taken between probing it and the server binding it


def _find_repo_root() -> Path | None:
    """The directory holding package.json above this file (None when installed without the repo)."""
    for directory in Path(__file__).resolve().parents:
        if (directory / "package.json").is_file():
            return directory
    return None


REPO_ROOT = _find_repo_root()


def azurite_binary() -> Path:
    """Path of `azurite-blob` installed by `npm ci`; FileNotFoundError with the fix when it is missing."""
    if REPO_ROOT is None:
        raise FileNotFoundError("Azurite is not installed: no package.json above this module (run from the repo)")
    binary = REPO_ROOT / BIN_RELATIVE
    if not binary.exists():
        raise FileNotFoundError(
            f"Azurite is not installed: {binary} is missing. Run `make` (or `npm ci`) in {REPO_ROOT} to install it."
        )
    return binary


class AzuriteServer:
    """One Azurite blob service; a context manager. `data_dir=None` keeps blobs in memory only."""

    def __init__(
        self, data_dir: Path | str | None = None, port: int | None = None, *, startup_timeout: float = 30.0
    ) -> None:
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.startup_timeout = startup_timeout
        self._requested_port = port
        self._port: int | None = None
        self._pid: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._scratch: Path | None = None  # cwd and log of an in-memory server, removed on stop

    @property
    def in_memory(self) -> bool:
        return self.data_dir is None

    @property
    def port(self) -> int:
        """TCP port on 127.0.0.1; only valid while started or attached."""
        if self._port is None:
            raise RuntimeError("Azurite server is not started")
        return self._port

    @property
    def blob_endpoint(self) -> str:
        return f"http://{HOST}:{self.port}/{ACCOUNT_NAME}"

    @property
    def connection_string(self) -> str:
        """For `BlobServiceClient.from_connection_string` or the `AzureWebJobsStorage` setting."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def started_here(self) -> bool:
        """True when this process spawned the server (False when attached to one a previous run left)."""
        return self._process is not None

    @property
    def log_path(self) -> Path | None:
        directory = self.data_dir or self._scratch
        return directory / LOG_FILE if directory is not None else None

    def is_running(self) -> bool:
        """The recorded process is alive, is this server, and answers."""
        if self._pid is None or self._port is None:
            return False
        return _is_azurite_for(self._pid, self._port, self.data_dir) and _answers(self._port)

    def start(self) -> Self:
        """Spawn the server and wait until it answers; refuses when one already runs for this data dir."""
        if self.data_dir is None:
            self._start_in_memory()
        else:
            with _locked(self.data_dir):
                self._start_locked()
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (Azurite saves its database), SIGKILL after `timeout`; reaps the process."""
        if self._pid is None:
            return
        pid = self._pid
        if self._process is not None:
            _stop_child(self._process, timeout)
        elif self._port is not None and _is_azurite_for(pid, self._port, self.data_dir):
            # Not our child: signal only after checking the pid still is this server (pids get reused).
            _stop_foreign(pid, timeout)
        if self.data_dir is not None:
            _remove_state(self.data_dir, pid)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self._pid = self._port = None
        self._process = None
        self._scratch = None

    @classmethod
    def attach(cls, data_dir: Path | str) -> AzuriteServer | None:
        """The live server recorded for `data_dir`, or None when there is none (or the record is stale)."""
        server = cls(data_dir)
        assert server.data_dir is not None
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
        where = "memory" if self.data_dir is None else repr(str(self.data_dir))
        return f"AzuriteServer(data_dir={where}, port={self._port}, pid={self._pid})"

    # -- internals (callers of the *_locked methods hold the data-dir lock) --

    def _attach_locked(self) -> bool:
        assert self.data_dir is not None
        state = _read_state(self.data_dir)
        if state is None:
            return False
        pid, port = state
        if not _is_azurite_for(pid, port, self.data_dir):
            return False  # stale record: that server is gone, or the pid now belongs to something else
        if not _wait_for_answer(pid, port, self.data_dir, self.startup_timeout):
            # Alive but silent: starting a second server on the same files would corrupt them.
            raise TransientError(
                "blob.server_unresponsive", f"Azurite pid {pid} on port {port} for {self.data_dir} does not answer"
            )
        self._pid, self._port, self._process = pid, port, None
        return True

    def _start_locked(self) -> None:
        assert self.data_dir is not None
        if self._pid is not None:
            raise RuntimeError(f"{self!r} is already started")
        if self._attach_locked():
            pid, port = self._pid, self._port
            self._pid = self._port = None
            raise TransientError(
                "blob.server_already_running",
                f"Azurite pid {pid} on port {port} already serves {self.data_dir}; use ensure_running()",
            )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._spawn_until_ready(self.data_dir)
        assert self._pid is not None
        assert self._port is not None
        _write_state(self.data_dir, self._pid, self._port)

    def _start_in_memory(self) -> None:
        if self._pid is not None:
            raise RuntimeError(f"{self!r} is already started")
        self._scratch = Path(tempfile.mkdtemp(prefix="azurite-"))
        try:
            self._spawn_until_ready(self._scratch)
        except BaseException:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
            raise

    def _spawn_until_ready(self, workdir: Path) -> None:
        command_prefix = _command_prefix()  # fails before spawning anything when Azurite is missing
        attempts = 1 if self._requested_port is not None else _PORT_ATTEMPTS
        last_error = ""
        for _ in range(attempts):
            port = self._requested_port or _free_port()
            process = self._spawn(command_prefix, port, workdir)
            ready, last_error = self._wait_ready(process, port, workdir)
            if ready:
                self._pid, self._port, self._process = process.pid, port, process
                return
            _stop_child(process, 5.0)
            if "EADDRINUSE" not in last_error:
                break
        where = self.data_dir or "memory"
        raise TransientError("blob.server_start_failed", f"Azurite did not start ({where}): {last_error}")

    def _spawn(self, command_prefix: list[str], port: int, workdir: Path) -> subprocess.Popen[bytes]:
        storage = ["--inMemoryPersistence"] if self.data_dir is None else ["--location", str(self.data_dir)]
        command = [
            *command_prefix,
            "--blobHost", HOST,
            "--blobPort", str(port),
            *storage,
            "--skipApiVersionCheck",  # newer SDKs send API versions Azurite has not caught up with
            "--loose",  # ignore headers Azurite does not implement instead of failing the request
            "--disableTelemetry",  # Azurite reports usage to Microsoft by default
            "--silent",  # no per-request access log: the log file would grow without bound
        ]  # fmt: skip
        with open(workdir / LOG_FILE, "ab") as log:
            # Own session: a Ctrl-C meant for the CLI must not kill the emulator mid-save; stop() shuts it down.
            return subprocess.Popen(
                command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_ready(self, process: subprocess.Popen[bytes], port: int, workdir: Path) -> tuple[bool, str]:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False, f"exited with {process.returncode}: {_log_tail(workdir)}"
            if _answers(port):
                return True, ""
            time.sleep(0.05)
        return False, f"no answer on port {port} after {self.startup_timeout:.0f} s: {_log_tail(workdir)}"


def ensure_running(data_dir: Path | str, *, startup_timeout: float = 30.0) -> AzuriteServer:
    """The persistent server for `data_dir`: the one already running (left by an earlier run), else a new one.

    The caller decides whether to `stop()` it; left running, the next CLI run attaches to it.
    """
    server = AzuriteServer(data_dir, startup_timeout=startup_timeout)
    assert server.data_dir is not None
    with _locked(server.data_dir):
        if not server._attach_locked():
            server._start_locked()
    return server


# -- helpers --


def _command_prefix() -> list[str]:
    binary = azurite_binary()
    node = shutil.which("node")
    if node is None:
        raise FileNotFoundError("Azurite needs Node.js: `node` is not on PATH (install Node.js 20 or later)")
    # node runs the script itself, so the command line (checked when attaching) does not depend on the shebang.
    return [node, str(binary)]


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """Serialise start/attach for one data dir across processes: two servers on one database would corrupt it."""
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


def _answers(port: int) -> bool:
    """Something on `port` answers HTTP as Azurite's blob service (any status: the probe is unauthenticated)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=2.0)
    try:
        connection.request("GET", f"/{ACCOUNT_NAME}?restype=service&comp=properties")
        response = connection.getresponse()
        response.read()
        return response.getheader("Server", "").startswith("Azurite-Blob")
    except (OSError, http.client.HTTPException):  # refused, reset, timed out, or not HTTP at all
        return False
    finally:
        connection.close()


def _wait_for_answer(pid: int, port: int, data_dir: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_azurite_for(pid, port, data_dir):
        if _answers(port):
            return True
        time.sleep(0.1)
    return False


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


def _is_azurite_for(pid: int, port: int, data_dir: Path | None) -> bool:
    """`pid` is alive and is the Azurite started for this port and data directory (from its command line)."""
    if not _pid_alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    if not any(arg.endswith("azurite-blob") for arg in argv):
        return False
    storage = ("--inMemoryPersistence",) if data_dir is None else ("--location", str(data_dir))
    return _has_sequence(argv, ("--blobPort", str(port))) and _has_sequence(argv, storage)


def _has_sequence(argv: list[str], sequence: tuple[str, ...]) -> bool:
    width = len(sequence)
    return any(tuple(argv[index : index + width]) == sequence for index in range(len(argv) - width + 1))


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
        raise TransientError("blob.server_stop_failed", f"Azurite pid {pid} survived SIGKILL")


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


def _log_tail(directory: Path, lines: int = 5) -> str:
    try:
        return " | ".join((directory / LOG_FILE).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
