"""The PostgreSQL job store (psycopg 3): the production store next to Cosmos DB."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from shared.adapters.jobstore_sql import Dialect, SQLJobStore, Tx

# Any constant works as long as every Tributary process uses the same one for the same database.
_MIGRATION_LOCK_KEY = 0x7472_6962_7574  # "tribut"


class PostgresJobStore(SQLJobStore):
    """`JobStore` on PostgreSQL; one connection per thread, counters moved by single atomic statements."""

    dialect = Dialect(
        name="postgres",
        paramstyle="pyformat",
        timestamps_as_text=False,
        timestamp_type="TIMESTAMPTZ",
    )

    def __init__(self, dsn: str) -> None:
        super().__init__()
        self.dsn = dsn

    def _connect(self) -> psycopg.Connection:
        # autocommit: transactions are explicit (conn.transaction()), never left open by a stray read.
        return psycopg.connect(self.dsn, autocommit=True)

    def _is_usable(self, connection: psycopg.Connection) -> bool:
        # A server restart or failover breaks the link; the next call on this thread reconnects.
        return not connection.closed and not connection.broken

    @contextmanager
    def _transaction(self, connection: psycopg.Connection, *, write: bool) -> Iterator[psycopg.Cursor]:
        # READ COMMITTED is enough: every write is a single conditional statement or an upsert, and row locks
        # are taken in one order (marker, stage, job).
        with connection.transaction(), connection.cursor() as cursor:
            yield cursor

    def _lock_migrations(self, tx: Tx) -> None:
        """Hold an advisory lock until commit so two processes never migrate at once."""
        tx.execute(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK_KEY})")

    def _run_script(self, tx: Tx, script: str) -> None:
        # Without parameters psycopg uses the simple query protocol, which accepts several statements.
        tx.cursor.execute(script)
