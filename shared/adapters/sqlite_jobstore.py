"""The embedded job store: SQLite in WAL mode, safe across threads and processes."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.adapters.jobstore_sql import Dialect, MigrationError, SQLJobStore, Tx
from shared.domain.job_queries import file_format


class SQLiteJobStore(SQLJobStore):
    """`JobStore` on a local SQLite file; one connection per thread, writers serialised by `BEGIN IMMEDIATE`."""

    dialect = Dialect(name="sqlite", paramstyle="named", timestamps_as_text=True, timestamp_type="TEXT")

    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        super().__init__()
        self.path = Path(path)
        self.busy_timeout = busy_timeout

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN ourselves, so the module never opens a deferred transaction
        # behind our back (a deferred writer that upgrades later fails with SQLITE_BUSY instead of waiting).
        # check_same_thread=False only so close() may run on another thread; each thread uses its own.
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        self._enable_wal(connection)
        connection.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL; commits stay cheap
        connection.execute("PRAGMA foreign_keys = ON")
        # The function PostgreSQL defines in migration 0006, so the job store's SQL reads the same in both.
        connection.create_function("file_format", 1, file_format, deterministic=True)
        return connection

    def _enable_wal(self, connection: sqlite3.Connection) -> None:
        # WAL is a property of the file: set once, it stays. Switching needs an exclusive lock, and SQLite
        # answers "database is locked" at once instead of calling the busy handler, so two processes opening
        # a new file together must retry here.
        if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.005
        while True:
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    @contextmanager
    def _transaction(self, connection: sqlite3.Connection, *, write: bool) -> Iterator[sqlite3.Cursor]:
        cursor = connection.cursor()
        # IMMEDIATE takes the write lock now (waiting up to busy_timeout), so a write transaction never has
        # to upgrade a read lock midway, which is where SQLite gives up with "database is locked".
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.rollback()
            raise
        finally:
            cursor.close()

    def _lock_migrations(self, tx: Tx) -> None:
        """Nothing to add: the migration runs in a `BEGIN IMMEDIATE` transaction, which excludes other writers."""

    def _run_script(self, tx: Tx, script: str) -> None:
        # executescript() would COMMIT first, so run statement by statement inside our transaction.
        for statement in split_statements(script):
            tx.cursor.execute(statement)


def split_statements(script: str) -> list[str]:
    """The complete SQL statements of a script, as SQLite itself delimits them."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    leftover = [ln for ln in pending.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if leftover:
        raise MigrationError(f"incomplete SQL statement at the end of the script: {leftover[0]!r}")
    return statements
