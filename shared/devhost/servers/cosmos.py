"""The Cosmos DB stand-in the project owns: npm `@vercel/cosmosdb-server`, a SQL-API server, installed by `npm ci`.

It serves HTTPS with a self-signed certificate (the Python SDK follows the account's https endpoints, so the
`--no-ssl` mode does not work with it) and keeps everything in memory: it starts empty every time. It is started
through `cosmosdb_server.js` next to this module, which binds 127.0.0.1 on a free port and turns keep-alive on (the
package's own CLI closes every connection, and a TLS handshake per request makes it ~20x slower). It checks no
keys: the connection string carries the Cosmos DB emulator's well-known key, so the same string works against the
real emulator.

A data directory holds only the state file, lock and log (the data itself is never on disk). A CLI reuses a running
server through `ensure_running(data_dir)`, like Azurite's: the record counts only while that pid is the stand-in
started for this directory and port (its command line says so) and the port answers as a Cosmos DB account.
"""

from __future__ import annotations

import http.client
import json
import shutil
import ssl
import subprocess
from pathlib import Path

from shared.devhost.servers.azurite import REPO_ROOT
from shared.devhost.servers.local_server import HOST, LocalServer, ServerKind, command_line, has_sequence, wait_for
from shared.domain.reasons import Reason

# The Azure Cosmos DB emulator's well-known key: public, documented by Microsoft, identical on every machine. The
# stand-in accepts any key; this one keeps the connection string valid for the real emulator too.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="

STATE_FILE = "cosmosdb.server.json"
LOCK_FILE = "cosmosdb.lock"
LOG_FILE = "cosmosdb.log"
LAUNCHER = Path(__file__).with_name("cosmosdb_server.js")
PACKAGE_RELATIVE = Path("node_modules") / "@vercel" / "cosmosdb-server" / "package.json"


def check_installed() -> None:
    """FileNotFoundError with the fix when the npm package (or node) is missing."""
    if REPO_ROOT is None or not (REPO_ROOT / PACKAGE_RELATIVE).is_file():
        where = REPO_ROOT or "the repository"
        raise FileNotFoundError(
            f"the Cosmos DB stand-in is not installed: {PACKAGE_RELATIVE} is missing. Run `make` (or `npm ci`) in "
            f"{where} to install it."
        )
    if shutil.which("node") is None:
        raise FileNotFoundError("the Cosmos DB stand-in needs Node.js: `node` is not on PATH (install Node.js 20+)")


class CosmosServer(LocalServer):
    """One in-memory Cosmos DB stand-in on 127.0.0.1; a context manager. `data_dir` keeps only its state file."""

    kind = ServerKind(
        name="Cosmos DB stand-in",
        state_file=STATE_FILE,
        lock_file=LOCK_FILE,
        log_file=LOG_FILE,
        address_in_use="EADDRINUSE",
        already_running=Reason.JOBSTORE_SERVER_ALREADY_RUNNING,
        start_failed=Reason.JOBSTORE_SERVER_START_FAILED,
        stop_failed=Reason.JOBSTORE_SERVER_STOP_FAILED,
        unresponsive=Reason.JOBSTORE_SERVER_UNRESPONSIVE,
    )

    def __init__(
        self, data_dir: Path | str | None = None, port: int | None = None, *, startup_timeout: float = 30.0
    ) -> None:
        super().__init__(data_dir, port, startup_timeout=startup_timeout)

    @property
    def endpoint(self) -> str:
        return f"https://{HOST}:{self.port}/"

    @property
    def connection_string(self) -> str:
        """For the `CosmosConnection` setting (`CosmosJobStore.from_connection_setting`)."""
        return f"AccountEndpoint={self.endpoint};AccountKey={EMULATOR_KEY};"

    def _spawn(self, port: int, workdir: Path) -> subprocess.Popen[bytes]:
        check_installed()  # fails before spawning anything
        node = shutil.which("node")
        assert node is not None
        command = [node, str(LAUNCHER), "--host", HOST, "--port", str(port), "--home", str(self._marker_dir(workdir))]
        with open(workdir / LOG_FILE, "ab") as log:
            # Own session: a Ctrl-C meant for the CLI must not reach the server; stop() shuts it down.
            return subprocess.Popen(
                command,
                cwd=REPO_ROOT,  # node resolves @vercel/cosmosdb-server from the launcher's folder up to node_modules
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _marker_dir(self, workdir: Path) -> Path:
        return self.data_dir if self.data_dir is not None else workdir

    def _serves(self, pid: int, port: int) -> bool:
        return self._is_ours(pid, port) and _answers(port)

    def _is_ours(self, pid: int, port: int) -> bool:
        """`pid` is the stand-in started for this port and data directory (its command line says so)."""
        argv = command_line(pid)
        if not any(arg == str(LAUNCHER) for arg in argv):
            return False
        if not has_sequence(argv, ("--port", str(port))):
            return False
        return self.data_dir is None or has_sequence(argv, ("--home", str(self.data_dir)))

    def _is_recorded_server(self, pid: int, port: int) -> bool:
        if not self._is_ours(pid, port):
            return False
        if not wait_for(
            lambda: _answers(port), self.startup_timeout, interval=0.1, as_long_as=lambda: self._is_ours(pid, port)
        ):
            raise self._unresponsive(pid, port)
        return True


def ensure_running(data_dir: Path | str, *, startup_timeout: float = 30.0) -> CosmosServer:
    """The server recorded for `data_dir`: the one already running (left by an earlier run), else a new one.

    It keeps its data in memory only: a new server starts empty. The caller decides whether to `stop()` it.
    """
    return CosmosServer(data_dir, startup_timeout=startup_timeout)._attach_or_start()


# -- helpers --


def _answers(port: int) -> bool:
    """Something on `port` answers HTTPS as a Cosmos DB account (GET / describes the account's locations)."""
    # The stand-in's certificate is self-signed, and this probe sends nothing secret: no verification.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(HOST, port, timeout=2.0, context=context)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read()
        return response.status == 200 and "writableLocations" in json.loads(body)
    except (OSError, http.client.HTTPException, ValueError):  # refused, reset, timed out, not HTTPS or not JSON
        return False
    finally:
        connection.close()
