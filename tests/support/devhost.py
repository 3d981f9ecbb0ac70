"""The local Functions host on the test session's real servers (Azurite, FalkorDB), one data folder per test.

Fixtures:
- `host_settings` (function): app settings for a host of this test's own: every value of the committed
  local.settings.sample.json (the host has no defaults, as on Azure), then its own data folder, containers, graph
  name, and a short broker lock so redeliveries after a crash come quickly.
- `open_host` (function): `open_host(**overrides)` opens a `DevHost` on those settings and closes it at the end.

Helpers: `call_api` / `api_json`, a request to a started host's HTTP API with its function key.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.azure_blob import AzureBlobStore
from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.config import STORAGE_CONNECTION
from shared.devhost.environment import SAMPLE_SETTINGS, file_values
from shared.devhost.host import APP_SCRIPT, DevHost
from shared.devhost.servers.azurite import AzuriteServer
from shared.devhost.servers.falkordb import FalkorDBServer

HostFactory = Callable[..., DevHost]


@pytest.fixture
def host_settings(tmp_path: Path, azurite: AzuriteServer, falkordb_server: FalkorDBServer) -> Iterator[dict[str, str]]:
    suffix = uuid.uuid4().hex[:12]
    settings = sample_values() | {
        "TRIBUTARY_DATA_DIR": str(tmp_path / "host"),
        STORAGE_CONNECTION: azurite.connection_string,
        "TRIBUTARY_FALKORDB_URL": falkordb_server.url,
        "TRIBUTARY_FALKORDB_GRAPH": f"host_{suffix}",
        "TRIBUTARY_INCOMING_CONTAINER": f"incoming-{suffix}",
        "TRIBUTARY_WORK_CONTAINER": f"work-{suffix}",
        "TRIBUTARY_DEVHOST_LOCK_SECONDS": "2",
    }
    yield settings
    graph = FalkorDBGraphSink(falkordb_server.url, settings["TRIBUTARY_FALKORDB_GRAPH"])
    graph.delete_graph()
    graph.close()
    store = AzureBlobStore.from_connection_setting(STORAGE_CONNECTION, {STORAGE_CONNECTION: azurite.connection_string})
    for key in ("TRIBUTARY_INCOMING_CONTAINER", "TRIBUTARY_WORK_CONTAINER"):
        store.service.delete_container(settings[key])
    store.close()


def sample_values() -> dict[str, str]:
    """The committed sample's values, without the empty ones (an empty setting is an unset one)."""
    return {key: value for key, value in file_values(APP_SCRIPT.parent / SAMPLE_SETTINGS).items() if value}


@pytest.fixture
def open_host(host_settings: dict[str, str]) -> Iterator[HostFactory]:
    opened: list[DevHost] = []

    def build(**overrides: object) -> DevHost:
        host = DevHost(settings=host_settings, **overrides)
        opened.append(host.__enter__())
        return host

    yield build
    for host in reversed(opened):
        host.stop()


def call_api(host: DevHost, method: str, path: str, body: object = None, *, timeout: float = 60) -> tuple[int, Any]:
    """A request to the host's HTTP API with its function key: the status and the JSON answer (None when empty),
    an error status included."""
    assert host.http is not None
    request = urllib.request.Request(
        host.http.base_url + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", "x-functions-key": host.http.keys.function},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def api_json(host: DevHost, method: str, path: str, body: object = None) -> dict[str, Any]:
    """The JSON object a request that must succeed answers; an error status raises."""
    status, answer = call_api(host, method, path, body)
    if status >= 400:
        raise RuntimeError(f"{method} {path}: {status} {answer}")
    return dict(answer)
