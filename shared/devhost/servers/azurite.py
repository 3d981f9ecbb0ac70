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

import http.client
import shutil
import subprocess
from pathlib import Path

from shared.devhost.errors import AZURITE_NOT_INSTALLED, NODE_NOT_INSTALLED, StartupError
from shared.devhost.servers.local_server import HOST, LocalServer, ServerKind, command_line, has_sequence, wait_for
from shared.domain.reasons import Reason

ACCOUNT_NAME = "devstoreaccount1"
# Azurite's well-known development account key: public, documented by Microsoft, identical on every machine.
# It protects nothing (the emulator listens on loopback only), so it is fine to have it in code.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

STATE_FILE = "azurite.server.json"
LOCK_FILE = "azurite.lock"
LOG_FILE = "azurite.log"
BIN_RELATIVE = Path("node_modules") / ".bin" / "azurite-blob"


def _find_repo_root() -> Path | None:
    """The directory holding package.json above this file (None when installed without the repo)."""
    for directory in Path(__file__).resolve().parents:
        if (directory / "package.json").is_file():
            return directory
    return None


REPO_ROOT = _find_repo_root()


def azurite_binary() -> Path:
    """Path of `azurite-blob` installed by `npm ci`; StartupError `devhost.azurite_not_installed` when it is missing."""
    if REPO_ROOT is None:
        raise StartupError(
            AZURITE_NOT_INSTALLED,
            "Azurite is not installed: no package.json above this module",
            "run tributary from a checkout of the repository, where `npm ci` installs Azurite",
        )
    binary = REPO_ROOT / BIN_RELATIVE
    if not binary.exists():
        raise StartupError(
            AZURITE_NOT_INSTALLED,
            f"Azurite is not installed: {binary} is missing",
            f"run `npm ci` (or `make`) in {REPO_ROOT}",
        )
    return binary


class AzuriteServer(LocalServer):
    """One Azurite blob service; a context manager. `data_dir=None` keeps blobs in memory only."""

    kind = ServerKind(
        name="Azurite",
        state_file=STATE_FILE,
        lock_file=LOCK_FILE,
        log_file=LOG_FILE,
        address_in_use="EADDRINUSE",
        already_running=Reason.BLOB_SERVER_ALREADY_RUNNING,
        start_failed=Reason.BLOB_SERVER_START_FAILED,
        stop_failed=Reason.BLOB_SERVER_STOP_FAILED,
        unresponsive=Reason.BLOB_SERVER_UNRESPONSIVE,
    )

    def __init__(
        self, data_dir: Path | str | None = None, port: int | None = None, *, startup_timeout: float = 30.0
    ) -> None:
        super().__init__(data_dir, port, startup_timeout=startup_timeout)

    @property
    def in_memory(self) -> bool:
        return self.data_dir is None

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

    def _spawn(self, port: int, workdir: Path) -> subprocess.Popen[bytes]:
        storage = ["--inMemoryPersistence"] if self.data_dir is None else ["--location", str(self.data_dir)]
        command = [
            *_command_prefix(),  # fails before spawning anything when Azurite is missing
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

    def _serves(self, pid: int, port: int) -> bool:
        return self._is_ours(pid, port) and _answers(port)

    def _is_ours(self, pid: int, port: int) -> bool:
        """`pid` is the Azurite started for this port and data directory (its command line says so)."""
        argv = command_line(pid)
        if not any(arg.endswith("azurite-blob") for arg in argv):
            return False
        storage = ("--inMemoryPersistence",) if self.data_dir is None else ("--location", str(self.data_dir))
        return has_sequence(argv, ("--blobPort", str(port))) and has_sequence(argv, storage)

    def _is_recorded_server(self, pid: int, port: int) -> bool:
        if not self._is_ours(pid, port):
            return False
        # Alive but silent: starting a second server on the same files would corrupt them.
        if not wait_for(
            lambda: _answers(port), self.startup_timeout, interval=0.1, as_long_as=lambda: self._is_ours(pid, port)
        ):
            raise self._unresponsive(pid, port)
        return True


def ensure_running(data_dir: Path | str, *, startup_timeout: float = 30.0) -> AzuriteServer:
    """The persistent server for `data_dir`: the one already running (left by an earlier run), else a new one.

    The caller decides whether to `stop()` it; left running, the next CLI run attaches to it.
    """
    return AzuriteServer(data_dir, startup_timeout=startup_timeout)._attach_or_start()


# -- helpers --


def _command_prefix() -> list[str]:
    node = shutil.which("node")
    if node is None:  # checked first: without Node.js, the fix for a missing Azurite (`npm ci`) cannot run either
        raise StartupError(
            NODE_NOT_INSTALLED,
            "Azurite needs Node.js, and `node` is not on PATH",
            "install Node.js 20 or later (e.g. `apt-get install nodejs npm`) and put `node` on PATH",
        )
    binary = azurite_binary()
    # node runs the script itself, so the command line (checked when attaching) does not depend on the shebang.
    return [node, str(binary)]


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
