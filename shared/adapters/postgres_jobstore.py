"""The PostgreSQL job store (psycopg 3): the production store next to Cosmos DB.

Authentication is the DSN's (a password, a .pgpass file, ...) or, for Azure Database for PostgreSQL with Microsoft
Entra authentication, a token credential: each new connection then presents a fresh access token as its password.
The credential caches its token and renews it before it expires, so a connection opened after expiry gets a new one;
a connection already open stays valid (the server checks the token only at login).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import psycopg

from shared.adapters.jobstore_sql import Dialect, SQLJobStore, Tx
from shared.connections import close_credential

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

# The audience of Azure Database for PostgreSQL tokens (the same in every Azure public-cloud region).
ENTRA_SCOPE = "https://ossrdbms-aad.database.windows.net/.default"

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

    def __init__(self, dsn: str, *, credential: TokenCredential | None = None, owns_credential: bool = False) -> None:
        """`credential`: when given, every new connection logs in with a fresh Entra token as its password (the
        DSN's user is the Entra principal's role name). It is closed with the store when `owns_credential`."""
        super().__init__()
        self.dsn = dsn
        self._credential = credential
        self._owns_credential = owns_credential

    @classmethod
    def from_settings(
        cls, dsn: str, auth: Literal["password", "entra"] = "password", client_id: str | None = None
    ) -> PostgresJobStore:
        """The store for `Settings.postgres_dsn`, `.postgres_auth` and `.postgres_client_id`.

        "password": the DSN authenticates by itself. "entra": Microsoft Entra tokens from DefaultAzureCredential
        (managed identity on Azure, a developer login locally); `client_id` picks a user-assigned identity.
        """
        if auth == "password":
            return cls(dsn)
        if auth != "entra":
            raise ValueError(f"postgres auth must be 'password' or 'entra', got {auth!r}")
        # Imported here: a password-authenticated store does not need azure-identity (and it is slow to import).
        from azure.identity import DefaultAzureCredential

        credential = (
            DefaultAzureCredential(managed_identity_client_id=client_id) if client_id else DefaultAzureCredential()
        )
        return cls(dsn, credential=credential, owns_credential=True)

    def _connect(self) -> psycopg.Connection:
        # autocommit: transactions are explicit (conn.transaction()), never left open by a stray read.
        if self._credential is None:
            return psycopg.connect(self.dsn, autocommit=True)
        # Asked on every new connection: the credential answers from its cache while the token is fresh.
        token = self._credential.get_token(ENTRA_SCOPE).token
        return psycopg.connect(self.dsn, password=token, autocommit=True)

    def close(self) -> None:
        """Close every connection, and the credential when this store owns it."""
        super().close()
        if self._owns_credential:
            close_credential(self._credential)

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
