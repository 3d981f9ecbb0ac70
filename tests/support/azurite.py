"""Azurite fixtures: one in-memory Azurite per test session, fresh containers per test.

Fixtures:
- `azurite` (session): the running in-memory `AzuriteServer`, stopped at the end.
- `azure_blob_store` (function): an `AzureBlobStore` on it; every container created during the test (through the
  store or not) is deleted afterwards.
- `azure_container` (function): a fresh, uniquely named container, already created on `azure_blob_store`.
  A test needing more containers calls `unique_container_name()` and `azure_blob_store.ensure_container(name)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.storage.blob import BlobServiceClient

from shared.adapters.azure_blob import AzureBlobStore
from shared.devhost.servers.azurite import AzuriteServer


def unique_container_name() -> str:
    """A valid container name no other test uses."""
    return f"test-{uuid.uuid4().hex[:16]}"


def azurite_client(server: AzuriteServer, **options: object) -> BlobServiceClient:
    """A client on `server`; `options` go to BlobServiceClient (e.g. `raw_response_hook`, `retry_total`)."""
    return BlobServiceClient.from_connection_string(server.connection_string, **options)


@pytest.fixture(scope="session")
def azurite() -> Iterator[AzuriteServer]:
    """One server for the whole session (it starts in about a second)."""
    with AzuriteServer() as server:
        yield server


@pytest.fixture
def azure_blob_store(azurite: AzuriteServer) -> Iterator[AzureBlobStore]:
    """A store on the session's Azurite; the containers a test creates go when it ends."""
    store = AzureBlobStore(azurite_client(azurite))
    existing = {container.name for container in store.service.list_containers()}
    try:
        yield store
    finally:
        for container in store.service.list_containers():
            if container.name not in existing:
                store.service.delete_container(container.name)
        store.close()


@pytest.fixture
def azure_container(azure_blob_store: AzureBlobStore) -> str:
    """A fresh container of the test's own."""
    name = unique_container_name()
    azure_blob_store.ensure_container(name)
    return name
