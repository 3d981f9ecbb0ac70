"""FalkorDB server fixtures: one real server per test session, a fresh named graph per test.

Fixtures:
- `falkordb_server` (session): the running `FalkorDBServer`, data in a session tmp dir, stopped at the end.
- `graph_sink` (function): a `FalkorDBGraphSink` on a graph of its own (schema ensured), deleted afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.devhost.servers.falkordb import FalkorDBServer


@pytest.fixture(scope="session")
def falkordb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FalkorDBServer]:
    """One server for the whole session (starting one takes well under a second, but tests add up)."""
    with FalkorDBServer(tmp_path_factory.mktemp("falkordb")) as server:
        yield server


@pytest.fixture
def graph_sink(falkordb_server: FalkorDBServer) -> Iterator[FalkorDBGraphSink]:
    """A sink on a uniquely named graph, so tests never see each other's nodes."""
    sink = FalkorDBGraphSink(falkordb_server.url, f"test_{uuid.uuid4().hex[:12]}")
    sink.ensure_schema()
    try:
        yield sink
    finally:
        sink.delete_graph()
        sink.close()
