"""GraphSink over FalkorDB with its native client (redis protocol); the Cypher comes from `cypher.py`.

Relationship types and concurrent writers (FalkorDB 4.16, checked against the server the project installs):
FalkorDB runs the write queries of a graph one at a time, so a MERGE sees every edge committed before it runs,
with one exception. A relationship pattern whose edge the query needs (a property to match, a variable to SET)
gets its type resolved when the query is planned, and a write query is planned before it waits for its turn. So
if the type did not exist yet at that moment, the MERGE cannot see any edge of that type, even one another query
committed meanwhile, and creates a second one: batches that brought a new relation type concurrently left
duplicate relation ids. Hence, before the first statement that MERGEs a relation type, the sink creates the
type's exact-match index on `id` (the type then exists before anything using it is planned) and the unique
constraint that needs that index (a duplicate that gets through anyway fails as `graph.conflict` instead of being
stored; retried, the MERGE finds the edge). HAS_CHUNK and MENTIONS MERGE no property and bind no variable, so
FalkorDB checks them by their two ends, resolving the type when the query runs, and they are created before any
batch anyway (`ensure_schema`); they carry no `id` and no index, which for MENTIONS, the most numerous edges,
would more than double the graph's memory.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import redis
from falkordb import FalkorDB, Graph
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from shared.adapters import community_cypher
from shared.adapters.community_cypher import COMMUNITY, IN_COMMUNITY
from shared.adapters.cypher import (
    BLOCK_PROPERTIES,
    COUNT_QUERIES,
    DEFAULT_REMOVAL_BATCH,
    ENTITY,
    FALKORDB,
    KEYED_LABELS,
    STRUCTURAL_RELATIONS,
    batch_statements,
    document_versions,
    entity_candidates,
    graph_context,
    linked_entities,
    remove_chunks,
)
from shared.domain import BatchPayload, DocumentRef, PermanentError, Reason, TransientError
from shared.ports import Community, EntityCandidate, EntityGraphPage, GraphContext, GraphCounts, GraphRelation

# Server replies that mean "try again later" rather than "this query is wrong".
_TRANSIENT_REPLIES = ("LOADING", "OOM", "BUSY", "TRYAGAIN", "Max pending queries exceeded")
_CONSTRAINT_WAIT_SECONDS = 30.0  # constraints build asynchronously; on an empty graph it takes milliseconds
_UNIQUE_VIOLATION = "unique constraint violation"  # "unique constraint violation, on edge of relationship-type X"
_NODE, _RELATIONSHIP = "NODE", "RELATIONSHIP"  # FalkorDB's entity types in db.indexes() and GRAPH.CONSTRAINT

_Key = tuple[str, str]  # (NODE or RELATIONSHIP, label or relationship type): what a unique `id` constraint is on


class FalkorDBGraphSink:
    """`GraphSink` on one named graph of a FalkorDB server."""

    dialect = FALKORDB

    def __init__(
        self,
        url_or_host_port: str,
        graph_name: str,
        *,
        socket_timeout: float = 120.0,
        removal_batch: int = DEFAULT_REMOVAL_BATCH,
    ) -> None:
        """`url_or_host_port`: `redis://host:port`, `falkor://host:port` or `host:port`.

        `removal_batch`: chunks per round of `remove_version` and `delete_document`.
        """
        if removal_batch < 1:
            raise ValueError(f"removal_batch must be at least 1, not {removal_batch}")
        self.target = url_or_host_port
        self.graph_name = graph_name
        self.removal_batch = removal_batch
        self._socket_timeout = socket_timeout
        self._db: FalkorDB | None = None
        self._graph: Graph | None = None
        self._keyed_relations: set[str] = set()  # relation types this process has seen keyed on this graph
        self._schema_lock = threading.Lock()  # one thread keys a new type; the others wait instead of repeating it
        self._communities_keyed = False  # Community keyed on `id` and IN_COMMUNITY made, by this process

    # -- GraphSink --

    def ensure_schema(self) -> None:
        """Exact-match index, then unique constraint, on `id` of Document, Chunk and Entity; idempotent.

        Also creates the HAS_CHUNK and MENTIONS types, and the look-up indexes on the entities' blocking keys.
        Relation types are keyed on `id` by `write_batch`, before the first statement that writes one.
        """
        graph = self._connect()
        with _translated("ensure_schema"), self._schema_lock:
            self._ensure_keys(graph, [(_NODE, label) for label in KEYED_LABELS])
            self._create_relationship_types(graph, STRUCTURAL_RELATIONS)
            self._ensure_lookup_indexes(graph, ENTITY, BLOCK_PROPERTIES)

    def write_batch(self, document: DocumentRef, payload: BatchPayload) -> None:
        """Upsert the document, its chunks, entities, mentions and relations (MERGE on ids)."""
        statements = batch_statements(document, payload, self.dialect)  # validates before anything is written
        graph = self._connect()
        with _translated("write_batch", conflict_is_transient=True):
            self._ensure_relation_keys(graph, {s.keyed_relation for s in statements if s.keyed_relation is not None})
            for statement in statements:
                graph.query(statement.query, statement.params)

    def counts(self) -> GraphCounts:
        """Documents, chunks, entities and entity-to-entity relations."""
        values = {name: self.dialect.to_int(self.query(query)[0][0]) for name, query in COUNT_QUERIES.items()}
        return GraphCounts(**values)

    def context(self, chunk_ids: Sequence[str], max_relations: int = 100) -> GraphContext:
        """The chunks' documents and mentions, and the one-hop relations of the entities they mention."""
        return graph_context(self.query, chunk_ids, max_relations)

    def remove_version(self, document_id: str, version: str) -> None:
        """Delete the version's chunks, their provenance and the orphans they leave, in rounds (see cypher.py)."""
        remove_chunks(self.query, self.query, document_id, version, self.removal_batch)

    def delete_document(self, document_id: str) -> None:
        """Every version's chunks with their orphans, then the Document node; an unknown id is a no-op."""
        remove_chunks(self.query, self.query, document_id, None, self.removal_batch)

    def document_versions(self, document_id: str) -> dict[str, int]:
        """Version → number of the document's chunks in the graph."""
        return document_versions(self.query, document_id, self.dialect)

    def entity_candidates(
        self, entity_type: str, blocks: Sequence[str], per_block: int = 20, ids: Sequence[str] = ()
    ) -> list[EntityCandidate]:
        """Entities of the type stored with any of these blocking keys or among `ids`, with their aliases (indexed)."""
        return entity_candidates(self.query, self.dialect, entity_type, blocks, per_block, ids)

    def linked_entities(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The pairs of entity ids a relation joins, either way round."""
        return linked_entities(self.query, pairs)

    def close(self) -> None:
        """Release the connection pool; the sink reconnects if used again."""
        if self._db is not None:
            self._db.connection.close()
        self._db = None
        self._graph = None

    def entity_graph(self, after: str = "", limit: int = 5000) -> EntityGraphPage:
        """Up to `limit` entities above `after` in id order, with their outgoing relations to entities."""
        return community_cypher.entity_graph_page(self.query, after, limit, self.dialect)

    def relation_evidence(self, relations: Sequence[GraphRelation]) -> dict[str, str]:
        """Relation id → evidence sentence, for those of `relations` that have one."""
        return community_cypher.relation_evidence(self.query, relations)

    def write_communities(self, communities: Sequence[Community]) -> None:
        """Upsert Community nodes and their IN_COMMUNITY edges (see community_cypher.py)."""
        if not communities:
            return
        self._ensure_community_keys()
        community_cypher.write_communities(self.query, self.query, communities, self.dialect)

    def communities(self, after: str = "", limit: int = 1000) -> list[Community]:
        """Up to `limit` communities above `after` in id order, with their members."""
        return community_cypher.read_communities(self.query, after, limit, self.dialect)

    def delete_communities(self, community_ids: Sequence[str]) -> None:
        """DETACH DELETE these communities; unknown ids are a no-op."""
        community_cypher.delete_communities(self.query, community_ids)

    # -- helpers beyond the port --

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        """Run any Cypher on this graph and return the rows (for the API, tests and tooling)."""
        graph = self._connect()
        with _translated("query"):
            return graph.query(cypher, params).result_set

    def unique_constraints(self) -> dict[str, str]:
        """Label → status ('OPERATIONAL', 'PENDING', 'FAILED') of the unique constraints on nodes' `id`."""
        return self._constraint_statuses(_NODE)

    def unique_relation_constraints(self) -> dict[str, str]:
        """Relationship type → status of the unique constraints on relationships' `id`."""
        return self._constraint_statuses(_RELATIONSHIP)

    def delete_graph(self) -> None:
        """Drop the whole graph (tests, resets); deleting a graph that does not exist is not an error."""
        graph = self._connect()
        with self._schema_lock:
            self._keyed_relations.clear()  # the types go with the graph: key them again when next written
            self._communities_keyed = False
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

    def _constraint_statuses(self, entity_type: str) -> dict[str, str]:
        graph = self._connect()
        with _translated("unique_constraints"):
            statuses = self._unique_constraints(graph)
        return {name: status for (kind, name), status in statuses.items() if kind == entity_type}

    def _ensure_community_keys(self) -> None:
        """Community keyed on `id`, and IN_COMMUNITY made before any query naming it is planned (the module
        docstring: a query planned before its type exists never sees an edge of it)."""
        if self._communities_keyed:
            return
        graph = self._connect()
        with _translated("write_communities"), self._schema_lock:
            self._ensure_keys(graph, [(_NODE, COMMUNITY)])
            self._create_relationship_types(graph, (IN_COMMUNITY,))
            self._communities_keyed = True

    def _ensure_relation_keys(self, graph: Graph, rel_types: set[str]) -> None:
        if rel_types <= self._keyed_relations:  # the common case: no round trip, no lock
            return
        with self._schema_lock:
            missing = rel_types - self._keyed_relations
            if missing:
                self._ensure_keys(graph, [(_RELATIONSHIP, rel_type) for rel_type in sorted(missing)])

    def _ensure_keys(self, graph: Graph, keys: list[_Key]) -> None:
        """Exact-match index, then unique constraint, on `id` of each key; returns once all are operational."""
        # Check before creating: a refused GRAPH.CONSTRAINT is still written to the AOF and logged as CRITICAL on
        # every restart.
        indexed = {
            (str(kind), str(label))
            for label, kind in graph.query(
                "CALL db.indexes() YIELD label, properties, entitytype "
                "WHERE 'id' IN properties "
                "RETURN label, entitytype"
            ).result_set
        }
        for kind, name in keys:
            if (kind, name) not in indexed:
                ddl = self.dialect.key_ddl(name) if kind == _NODE else self.dialect.relation_key_ddl(name)
                _ignore_exists(graph.query, ddl)
        constrained = self._unique_constraints(graph)
        for kind, name in keys:
            if (kind, name) not in constrained:
                _ignore_exists(graph.execute_command, *_unique_id_constraint(graph.name, kind, name))
        self._wait_operational(graph, keys)
        self._keyed_relations.update(name for kind, name in keys if kind == _RELATIONSHIP)

    def _ensure_lookup_indexes(self, graph: Graph, label: str, properties: tuple[str, ...]) -> None:
        """A range index on each of `label`'s `properties` (FalkorDB keeps them in the label's one index)."""
        indexed = {
            str(prop)
            for row_label, props, kind in graph.query(
                "CALL db.indexes() YIELD label, properties, entitytype RETURN label, properties, entitytype"
            ).result_set
            if row_label == label and kind == _NODE
            for prop in props
        }
        for prop in properties:
            if prop not in indexed:
                _ignore_exists(graph.query, self.dialect.lookup_index_ddl(label, prop))

    @staticmethod
    def _create_relationship_types(graph: Graph, rel_types: tuple[str, ...]) -> None:
        """Make the types exist, so every query planned from now on resolves them (see the module docstring)."""
        existing = {row[0] for row in graph.query("CALL db.relationshipTypes()").result_set}
        missing = [rel_type for rel_type in rel_types if rel_type not in existing]
        if missing:  # an edge of each, deleted at once: a type outlives its last edge
            edges = ", ".join(f"(a)-[:{rel_type}]->(b)" for rel_type in missing)
            graph.query(f"CREATE {edges} DETACH DELETE a, b")

    @staticmethod
    def _unique_constraints(graph: Graph) -> dict[_Key, str]:
        return {
            (str(item["entitytype"]), str(item["label"])): str(item["status"])
            for item in graph.list_constraints()
            if item["type"] == "UNIQUE" and list(item["properties"]) == ["id"]
        }

    def _wait_operational(self, graph: Graph, keys: list[_Key]) -> None:
        deadline = time.monotonic() + _CONSTRAINT_WAIT_SECONDS
        while True:
            statuses = self._unique_constraints(graph)
            failed = [name for kind, name in keys if statuses.get((kind, name)) == "FAILED"]
            if failed:
                # The graph already holds duplicate ids (written before the constraint existed): only removing
                # them, or a reset, can fix that.
                raise PermanentError(
                    Reason.GRAPH_CONSTRAINT_FAILED,
                    f"unique id constraint failed for {failed}: the graph holds duplicates",
                )
            if all(statuses.get(key) == "OPERATIONAL" for key in keys):
                return
            if time.monotonic() > deadline:
                raise TransientError(Reason.GRAPH_UNAVAILABLE, f"constraints still building: {statuses}")
            time.sleep(0.02)


@contextlib.contextmanager
def _translated(operation: str, *, conflict_is_transient: bool = False) -> Iterator[None]:
    """Map client errors onto the project's: unreachable/busy → TransientError, a refused query → Permanent.

    `conflict_is_transient`: the queries only MERGE on ids, so a unique constraint violation can only mean that
    a concurrent writer created the same node or edge first; retried, the MERGE finds it.
    """
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:  # BusyLoadingError is a ConnectionError
        raise TransientError(Reason.GRAPH_UNAVAILABLE, f"{operation}: {error}") from error
    except redis.ResponseError as error:
        if str(error).startswith(_TRANSIENT_REPLIES):
            raise TransientError(Reason.GRAPH_UNAVAILABLE, f"{operation}: {error}") from error
        if conflict_is_transient and str(error).startswith(_UNIQUE_VIOLATION):
            raise TransientError(Reason.GRAPH_CONFLICT, f"{operation}: {error}") from error
        raise PermanentError(Reason.GRAPH_QUERY_FAILED, f"{operation}: {error}") from error


def _unique_id_constraint(graph_name: str, kind: str, name: str) -> tuple[Any, ...]:
    return ("GRAPH.CONSTRAINT", "CREATE", graph_name, "UNIQUE", kind, name, "PROPERTIES", 1, "id")


def _ignore_exists(create: Callable[..., Any], *args: Any) -> None:
    """Run a create call; another worker creating the same index/constraint first is fine."""
    try:
        create(*args)
    except redis.ResponseError as error:
        if "already" not in str(error):  # "Attribute 'id' is already indexed", "Constraint already exists"
            raise
