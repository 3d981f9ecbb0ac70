"""Cosmos DB fixtures: one in-memory stand-in (`@vercel/cosmosdb-server`) per test session, a fresh database per test.

Fixtures:
- `cosmos_server` (session): the running `CosmosServer`, started on first use, stopped at the end.
- `fresh_cosmos_database` (function): (connection string, database name) of a database no other test uses, on the
  stand-in; dropped when the test ends. Not created: `CosmosJobStore.migrate()` creates it.
- `live_cosmos_database` (function): the same on a real Cosmos DB account, when `TRIBUTARY_TEST_COSMOS_CONNECTION` is
  set (a connection string `AccountEndpoint=...;AccountKey=...;`, or just the account endpoint, reached with
  DefaultAzureCredential); skipped with the reason otherwise. The database is dropped afterwards.

`cosmos_environ(where)` turns either form into the Functions-style settings `CosmosJobStore.from_connection_setting`
reads, so a spawned process can open the store from plain strings.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
from azure.cosmos import CosmosClient

from shared.adapters.cosmos_jobstore import CosmosJobStore
from shared.config import COSMOS_CONNECTION
from shared.devhost.servers.cosmos import CosmosServer

LIVE_CONNECTION = "TRIBUTARY_TEST_COSMOS_CONNECTION"


def cosmos_environ(where: str) -> dict[str, str]:
    """The `CosmosConnection` settings for a connection string or (identity-based) an account endpoint."""
    if ";" in where:
        return {COSMOS_CONNECTION: where}
    return {f"{COSMOS_CONNECTION}__accountEndpoint": where}


def open_cosmos_store(where: str, database: str) -> CosmosJobStore:
    """A store opened the way the app opens it: from the connection setting."""
    return CosmosJobStore.from_connection_setting(COSMOS_CONNECTION, database, environ=cosmos_environ(where))


def unique_database_name() -> str:
    return f"test-{uuid.uuid4().hex[:16]}"


def drop_database(where: str, database: str) -> None:
    """Delete the database if it exists (best effort: a leftover test database harms nothing)."""
    with open_cosmos_store(where, database) as store, contextlib.suppress(Exception):
        client: CosmosClient = store._cosmos()
        client.delete_database(database)


@pytest.fixture(scope="session")
def cosmos_server() -> Iterator[CosmosServer]:
    """One stand-in for the whole session (it starts in well under a second)."""
    with CosmosServer() as server:
        yield server


@pytest.fixture
def fresh_cosmos_database(cosmos_server: CosmosServer) -> Iterator[tuple[str, str]]:
    """(connection string, database name) of a database of the test's own on the stand-in."""
    database = unique_database_name()
    yield cosmos_server.connection_string, database
    drop_database(cosmos_server.connection_string, database)


@pytest.fixture
def live_cosmos_database() -> Iterator[tuple[str, str]]:
    """(connection string or endpoint, database name) on a real Cosmos DB account; skipped when not configured."""
    where = os.environ.get(LIVE_CONNECTION, "").strip()
    if not where:
        pytest.skip(
            f"real Cosmos DB not configured: set {LIVE_CONNECTION} to a connection string"
            " (AccountEndpoint=...;AccountKey=...;) or an account endpoint (DefaultAzureCredential)"
        )
    database = unique_database_name()
    yield where, database
    drop_database(where, database)
