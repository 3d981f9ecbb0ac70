"""GraphSink over FalkorDB with its native client (redis protocol); the Cypher comes from `cypher.py`."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from falkordb import FalkorDB, Graph
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from shared.adapters.cypher import COUNT_QUERIES, FALKORDB, KEYED_LABELS, batch_statements
from shared.domain import BatchPayload, DocumentRef, PermanentError, TransientError
from shared.ports import GraphCounts

# Server replies that mean "try again later" rather than "this query is wrong".
_TRANSIENT_REPLIES = ("LOADING", "OOM", "BUSY", "TRYAGAIN", "Max pending queries exceeded")
_CONSTRAINT_WAIT_SECONDS = 30.0  # constraints build asynchronously; on an empty graph it takes milliseconds


class FalkorDBGraphSink:
    """`GraphSink` on one named graph of a FalkorDB server."""

    dialect = FALKORDB

    def __init__(self, url_or_host_port: str, graph_name: str, *, socket_timeout: float = 120.0) -> None:
        """`url_or_host_port`: `redis://host:port`, `falkor://host:port` or `host:port`."""
        self.target = url_or_host_port
        self.graph_name = graph_name
        self._socket_timeout = socket_timeout
        self._db: FalkorDB | None = None
        self._graph: Graph | None = None

    # -- GraphSink --

    def ensure_schema(self) -> None:
        """Exact-match index, then unique constraint, on `id` of Document, Chunk and Entity; idempotent."""
        graph = self._connect()
        with _translated("ensure_schema"):
            indexed = {
                row[0]
                for row in graph.query(
                    "CALL db.indexes() YIELD label, properties, entitytype "
                    "WHERE entitytype = 'NODE' AND 'id' IN properties "
                    "RETURN label"
                ).result_set
            }
            # Check before creating: a refused GRAPH.CONSTRAINT is still written to the AOF and logged as
            # CRITICAL on every restart.
            for label in KEYED_LABELS:
                if label not in indexed:
                    _ignore_exists(graph.query, self.dialect.key_ddl(label))
            constrained = self._unique_constraints(graph)
            for label in KEYED_LABELS:
                if label not in constrained:
                    _ignore_exists(graph.execute_command, *_unique_id_constraint(graph.name, label))
            self._wait_operational(graph)

    def write_batch(self, document: DocumentRef, payload: BatchPayload) -> None:
        """Upsert the document, its chunks, entities, mentions and relations (MERGE on ids)."""
        statements = batch_statements(document, payload, self.dialect)  # validates before anything is written
        graph = self._connect()
        with _translated("write_batch"):
            for statement in statements:
                graph.query(statement.query, statement.params)

    def counts(self) -> GraphCounts:
        """Documents, chunks, entities and entity-to-entity relations."""
        values = {name: self.dialect.to_int(self.query(query)[0][0]) for name, query in COUNT_QUERIES.items()}
        return GraphCounts(**values)

    def close(self) -> None:
        """Release the connection pool; the sink reconnects if used again."""
        if self._db is not None:
            self._db.connection.close()
        self._db = None
        self._graph = None

    # -- helpers beyond the port --

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        """Run any Cypher on this graph and return the rows (for the API, tests and tooling)."""
        graph = self._connect()
        with _translated("query"):
            return graph.query(cypher, params).result_set

    def unique_constraints(self) -> dict[str, str]:
        """Label → status ('OPERATIONAL', 'PENDING', 'FAILED') of the unique constraints on `id`."""
        graph = self._connect()
        with _translated("unique_constraints"):
            return self._unique_constraints(graph)

    def delete_graph(self) -> None:
        """Drop the whole graph (tests, resets); deleting a graph that does not exist is not an error."""
        graph = self._connect()
        with _translated("delete_graph"), contextlib.suppress(redis.ResponseError):
            graph.delete()  # "empty key" when the graph was never created

    def __repr__(self) -> str:
        return f"FalkorDBGraphSink({self.target!r}, {self.graph_name!r})"

    # -- internals --

    def _connect(self) -> Graph:
        if self._graph is not None:
            return self._graph
        options: dict[str, Any] = {
            "socket_timeout": self._socket_timeout,
            "socket_connect_timeout": 5.0,
            # One quick retry covers a dropped idle connection (every write is idempotent); beyond that the
            # stage's own redelivery retries, instead of redis-py's default backoff of several seconds.
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.1), 1),
        }
        with _translated("connect"):
            if "://" in self.target:
                db = FalkorDB.from_url(self.target, **options)
            else:
                host, _, port = self.target.rpartition(":") if ":" in self.target else (self.target, "", "6379")
                db = FalkorDB(host=host, port=int(port), **options)  # connects: FalkorDB() runs INFO
        self._db = db
        self._graph = db.select_graph(self.graph_name)
        return self._graph

    @staticmethod
    def _unique_constraints(graph: Graph) -> dict[str, str]:
        return {
            str(item["label"]): str(item["status"])
            for item in graph.list_constraints()
            if item["type"] == "UNIQUE" and item["entitytype"] == "NODE" and list(item["properties"]) == ["id"]
        }

    def _wait_operational(self, graph: Graph) -> None:
        deadline = time.monotonic() + _CONSTRAINT_WAIT_SECONDS
        while True:
            statuses = self._unique_constraints(graph)
            failed = [label for label in KEYED_LABELS if statuses.get(label) == "FAILED"]
            if failed:
                # The graph already holds duplicate ids: only a repair (or a reset) can fix that.
                raise PermanentError("graph.constraint_failed", f"unique id constraint failed for {failed}")
            if all(statuses.get(label) == "OPERATIONAL" for label in KEYED_LABELS):
                return
            if time.monotonic() > deadline:
                raise TransientError("graph.unavailable", f"constraints still building: {statuses}")
            time.sleep(0.02)


@contextlib.contextmanager
def _translated(operation: str) -> Iterator[None]:
    """Map client errors onto the project's: unreachable/busy → TransientError, a refused query → Permanent."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:  # BusyLoadingError is a ConnectionError
        raise TransientError("graph.unavailable", f"{operation}: {error}") from error
    except redis.ResponseError as error:
        if str(error).startswith(_TRANSIENT_REPLIES):
            raise TransientError("graph.unavailable", f"{operation}: {error}") from error
        raise PermanentError("graph.query_failed", f"{operation}: {error}") from error


def _unique_id_constraint(graph_name: str, label: str) -> tuple[Any, ...]:
    return ("GRAPH.CONSTRAINT", "CREATE", graph_name, "UNIQUE", "NODE", label, "PROPERTIES", 1, "id")


def _ignore_exists(create: Callable[..., Any], *args: Any) -> None:
    """Run a create call; another worker creating the same index/constraint first is fine."""
    try:
        create(*args)
    except redis.ResponseError as error:
        if "already" not in str(error):  # "Attribute 'id' is already indexed", "Constraint already exists"
            raise
