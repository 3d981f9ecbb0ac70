"""PostgreSQL with Microsoft Entra authentication: an access token is the password of every new connection.

Against the test server: a role whose password is the token a small real `TokenCredential` hands out, and that
role required to log in with a password (scram-sha-256; the rest of the server trusts local logins). Against Azure
Database for PostgreSQL when TRIBUTARY_TEST_POSTGRES_ENTRA_DSN is set (the DSN's user is the Entra principal; the
optional TRIBUTARY_TEST_POSTGRES_ENTRA_CLIENT_ID picks a user-assigned identity).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from azure.core.credentials import AccessToken

from shared.adapters.postgres_jobstore import ENTRA_SCOPE, PostgresJobStore
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.postgres

LIVE_DSN = "TRIBUTARY_TEST_POSTGRES_ENTRA_DSN"
LIVE_CLIENT_ID = "TRIBUTARY_TEST_POSTGRES_ENTRA_CLIENT_ID"


class RotatingCredential:
    """A real TokenCredential: hands out the current token of a list, and records the scopes it was asked for."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.current = 0
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.tokens[self.current], int(time.time()) + 3600)


def _token() -> str:
    # Shaped like a JWT (three base64url parts), and long like one: PostgreSQL must take it whole as a password.
    return "eyJ0eXAiOiJKV1QifQ." + uuid.uuid4().hex * 20 + "." + uuid.uuid4().hex


@pytest.fixture
def entra_role(postgres_server: PostgresServer, postgres_test_database: str) -> Iterator[tuple[str, str]]:
    """(role, dsn without password) of a new role that must log in with its password over TCP."""
    role = f"entra_{uuid.uuid4().hex[:12]}"
    hba = postgres_server.data_dir / "pg_hba.conf"
    # First matching line wins: this role, and only it, needs a password; everyone else keeps `trust`.
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    admin = postgres_server.dsn(postgres_test_database)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{role}" LOGIN')  # our own hex name: DDL takes no parameters
        connection.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
        connection.execute("SELECT pg_reload_conf()")
    dsn = admin.replace("user=postgres", f"user={role}")
    try:
        yield role, dsn
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP OWNED BY "{role}"')
            connection.execute(f'DROP ROLE "{role}"')


def set_password(postgres_server: PostgresServer, database: str, role: str, password: str) -> None:
    with psycopg.connect(postgres_server.dsn(database), autocommit=True) as connection:
        connection.execute(psycopg.sql.SQL("ALTER ROLE {} PASSWORD {}").format(psycopg.sql.Identifier(role), password))


def test_the_token_is_the_password(
    entra_role: tuple[str, str], postgres_server: PostgresServer, postgres_test_database: str
) -> None:
    # GIVEN a role whose password is the token the credential hands out
    role, dsn = entra_role
    credential = RotatingCredential([_token()])
    set_password(postgres_server, postgres_test_database, role, credential.tokens[0])

    # WHEN a store with that credential migrates and writes
    with PostgresJobStore(dsn, credential=credential) as store:
        store.migrate()
        found = store.get_job("no-such-job")

    # THEN it logged in with the token, asked for the PostgreSQL audience
    assert found is None
    assert credential.scopes[0] == (ENTRA_SCOPE,)


def test_without_the_token_the_login_is_refused(entra_role: tuple[str, str]) -> None:
    # GIVEN the role requires a password the DSN does not carry (the probe that the test really checks something)
    _, dsn = entra_role

    # WHEN / THEN a store without a credential cannot log in
    with PostgresJobStore(dsn) as store, pytest.raises(psycopg.OperationalError, match="password"):
        store.get_job("job-1")


def test_a_new_connection_gets_a_fresh_token(
    entra_role: tuple[str, str], postgres_server: PostgresServer, postgres_test_database: str
) -> None:
    # GIVEN a store logged in with the first token
    role, dsn = entra_role
    credential = RotatingCredential([_token(), _token()])
    set_password(postgres_server, postgres_test_database, role, credential.tokens[0])
    with PostgresJobStore(dsn, credential=credential) as store:
        store.migrate()

        # WHEN the token is renewed (the old one expired) and a new thread opens a new connection
        credential.current = 1
        set_password(postgres_server, postgres_test_database, role, credential.tokens[1])
        results: list[object] = []
        worker = threading.Thread(target=lambda: results.append(store.get_job("job-1")))
        worker.start()
        worker.join(30)

        # THEN the new connection logged in with the new token, and the open one goes on working
        assert results == [None]
        assert len(credential.scopes) == 2
        assert store.get_job("job-1") is None


def test_from_settings_password_uses_the_dsn_alone(
    postgres_server: PostgresServer, postgres_test_database: str
) -> None:
    with PostgresJobStore.from_settings(postgres_server.dsn(postgres_test_database), "password", None) as store:
        assert store._credential is None
        store.migrate()


def test_from_settings_entra_owns_a_default_credential_for_the_identity() -> None:
    # Building the credential talks to nothing; it is asked for a token only when a connection opens.
    from azure.identity import DefaultAzureCredential

    store = PostgresJobStore.from_settings("host=localhost user=app", "entra", "00000000-0000-0000-0000-000000000001")
    assert isinstance(store._credential, DefaultAzureCredential)
    store.close()


def test_from_settings_refuses_an_unknown_auth() -> None:
    with pytest.raises(ValueError, match="entra"):
        PostgresJobStore.from_settings("host=localhost", "kerberos", None)  # type: ignore[arg-type]


def test_live_entra_login() -> None:
    """Azure Database for PostgreSQL with the app's own identity (or a developer login)."""
    dsn = os.environ.get(LIVE_DSN, "").strip()
    if not dsn:
        pytest.skip(f"Azure Database for PostgreSQL with Entra auth not configured: set {LIVE_DSN} (user = principal)")
    with PostgresJobStore.from_settings(dsn, "entra", os.environ.get(LIVE_CLIENT_ID) or None) as store:
        store.migrate()
        assert store.get_job(f"no-such-job-{uuid.uuid4().hex}") is None
