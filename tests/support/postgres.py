"""PostgreSQL server fixtures: a real server from Debian's binaries, started once per session on a private port.

Fixtures:
- `postgres_server` (session): the running server (`PostgresServer`), started on first use only.
- `postgres_dsn` (session): libpq DSN of the server's maintenance database `postgres`.
- `postgres_test_database` (session): name of a database created for the tests' schemas.
- `fresh_postgres_dsn` (function): DSN whose search_path is a new, empty schema: for one test, a database of its
  own in all but name (a schema costs a millisecond; CREATE DATABASE a few hundred on a busy machine).
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

POSTGRES_ROOT = Path("/usr/lib/postgresql")
MISSING_BINARIES = "PostgreSQL binaries not found: run `make test`, which installs the Debian postgresql package"
_START_ATTEMPTS = 3  # a free port can be taken between probing it and the server binding it


@dataclass(frozen=True)
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def dsn(self, dbname: str = "postgres", schema: str | None = None) -> str:
        """libpq connection string for one database of this server, optionally inside one schema."""
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname} connect_timeout=10"
        return dsn if schema is None else f"{dsn} options=-csearch_path={schema}"


def find_bin_dir(root: Path = POSTGRES_ROOT) -> Path | None:
    """The bin directory of the highest installed PostgreSQL version, or None."""
    candidates = [d for d in root.glob("*/bin") if (d / "initdb").is_file() and (d / "pg_ctl").is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda d: tuple(int(p) for p in d.parent.name.split(".") if p.isdigit()))


def _as_postgres(command: list[str]) -> list[str]:
    """Run as the postgres user when we are root: initdb and the server refuse to run as root."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *command]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]


def _run(command: list[str], cwd: Path) -> None:
    # cwd: the postgres user may not be allowed into the caller's working directory.
    result = subprocess.run(_as_postgres(command), cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _make_root() -> Path:
    root = Path(tempfile.mkdtemp(prefix="tributary-pg-"))
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    root.chmod(0o700)
    return root


def start_server(bin_dir: Path) -> PostgresServer:
    """initdb into a fresh temp dir and start a server on 127.0.0.1 only, tuned for tests (no fsync)."""
    root = _make_root()
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                *("-D", str(root / "data"), "--auth=trust", "--username=postgres"),
                *("--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"),
            ],
            cwd=root,
        )
        for attempt in range(_START_ATTEMPTS):
            server = PostgresServer(bin_dir=bin_dir, root=root, port=_free_port())
            options = shlex.join(
                [
                    *("-p", str(server.port), "-c", "listen_addresses=127.0.0.1"),
                    *("-c", f"unix_socket_directories={root}"),
                    # Nothing here must survive a crash: skip every durability cost.
                    *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
                    *("-c", "max_connections=200"),
                ]
            )
            try:
                _run(
                    [
                        str(bin_dir / "pg_ctl"),
                        *("-D", str(server.data_dir), "-l", str(server.log_file)),
                        *("-w", "-t", "30", "-o", options, "start"),
                    ],
                    cwd=root,
                )
                return server
            except RuntimeError:
                if attempt == _START_ATTEMPTS - 1:
                    log = server.log_file.read_text(errors="replace") if server.log_file.exists() else ""
                    raise RuntimeError(f"PostgreSQL did not start; server log:\n{log[-4000:]}") from None
        raise AssertionError("unreachable")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise


def stop_server(server: PostgresServer) -> None:
    """Stop without a shutdown checkpoint (nothing here is worth keeping) and remove the files."""
    try:
        _run([str(server.bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-m", "immediate", "-w", "stop"], server.root)
    finally:
        shutil.rmtree(server.root, ignore_errors=True)


def create_database(admin_dsn: str) -> str:
    """Create an empty database with a unique name; returns its name."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        # The name is ours (hex), so formatting it into the DDL is safe; CREATE DATABASE takes no parameters.
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    return name


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, started on first use."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.fail(MISSING_BINARIES, pytrace=False)
    server = start_server(bin_dir)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """DSN of the session server's maintenance database (for admin work such as CREATE DATABASE)."""
    return postgres_server.dsn()


@pytest.fixture(scope="session")
def postgres_test_database(postgres_dsn: str) -> str:
    """A database for the session's tests; each test works in a schema of its own inside it."""
    return create_database(postgres_dsn)


@pytest.fixture
def fresh_postgres_dsn(postgres_server: PostgresServer, postgres_test_database: str) -> str:
    """DSN of a new, empty schema (unqualified names resolve into it): tests never see each other's tables."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server.dsn(postgres_test_database), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')  # our own hex name; DDL takes no parameters
    return postgres_server.dsn(postgres_test_database, schema)
