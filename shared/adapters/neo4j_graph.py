"""GraphSink over Neo4j 5 (self-hosted or Aura) with the official driver over Bolt; the Cypher comes from `cypher.py`.

Every statement runs in a managed transaction (`session.execute_write`), so the driver itself retries what Neo4j
marks as transient (deadlocks between concurrent MERGEs, a leader switch in a cluster, a dropped connection) for
up to `max_transaction_retry_time`; what is left after that reaches the stage as a `TransientError` and the
message is redelivered. A batch is written as several transactions, one per statement and slice of
`batch_size` rows: every statement MERGEs on ids, so a batch cut short by a failure is completed by the
redelivery, and small transactions hold their locks briefly, which keeps concurrent writers from deadlocking.

Schema: `ensure_schema` creates the unique `id` constraints of the keyed labels (`IF NOT EXISTS`, so any number
of workers may run it at once), and `write_batch` creates a relation type's before the first statement that
writes the type, as the FalkorDB sink does. On Neo4j the constraint is what makes a duplicate id impossible; its
MERGE locks the bound end nodes, so concurrent writers find each other's edges. A unique constraint is online
once `CREATE CONSTRAINT` returns (it fails instead if the data holds duplicates), so there is nothing to wait for.

The adapter takes the driver (anything with the `Driver` surface below), so tests can hand it an in-process
recorder of the statements; `from_settings` builds the real one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, LiteralString, Protocol, TypeVar, cast

import neo4j
from neo4j import exceptions as neo4j_errors

from shared.adapters import community_cypher
from shared.adapters.community_cypher import COMMUNITY
from shared.adapters.cypher import (
    BLOCK_PROPERTIES,
    COUNT_QUERIES,
    ENTITY,
    NEO4J,
    Statement,
    batch_statements,
    document_versions,
    entity_candidates,
    graph_context,
    linked_entities,
    remove_chunks,
)
from shared.domain import BatchPayload, DocumentRef, PermanentError, Reason, TransientError
from shared.domain.errors import ConfigError
from shared.ports import Community, EntityCandidate, EntityGraphPage, GraphContext, GraphCounts, GraphRelation

# Rows per transaction. Not measured against a Neo4j server (none can run on the machines this was written on,
# DESIGN.md §7); 1000 is the FalkorDB sink's measured sweet spot and Neo4j's own guidance for UNWIND batches.
DEFAULT_BATCH_SIZE = 1000
DEFAULT_MAX_TRANSACTION_RETRY_SECONDS = 30.0  # the driver's default, stated: a stage waits this long at most

# The backing index's state, named as the FalkorDB sink names a constraint's (the contract suite compares them).
_INDEX_STATES = {"ONLINE": "OPERATIONAL", "POPULATING": "PENDING", "FAILED": "FAILED"}
_NODE, _RELATIONSHIP = "NODE", "RELATIONSHIP"
_BOLT_SCHEMES = frozenset({"bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"})
# Neo4j 5.0-5.x name the type UNIQUENESS / RELATIONSHIP_UNIQUENESS, later versions NODE_PROPERTY_UNIQUENESS /
# RELATIONSHIP_PROPERTY_UNIQUENESS: every one of them contains UNIQUENESS, and no key constraint does.
_UNIQUE_ID_CONSTRAINTS = (
    "SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties, ownedIndex "
    "WHERE type CONTAINS 'UNIQUENESS' AND properties = ['id'] "
    "RETURN name, entityType, labelsOrTypes, ownedIndex"
)
_INDEX_STATES_QUERY = "SHOW INDEXES YIELD name, state RETURN name, state"
_CONSTRAINT_CREATION_FAILED = "Neo.DatabaseError.Schema.ConstraintCreationFailed"

T = TypeVar("T")


# -- the part of the driver the sink uses (neo4j.Driver has it; so does the tests' recorder) --


class Result(Protocol):
    def values(self) -> list[list[Any]]: ...

    def consume(self) -> Any: ...


class Transaction(Protocol):
    def run(self, query: LiteralString, parameters: dict[str, Any] | None = None) -> Result: ...


class Session(Protocol):
    def __enter__(self) -> Session: ...

    def __exit__(self, *exc_info: Any) -> Any: ...

    def execute_read(self, transaction_function: Callable[[Transaction], T]) -> T: ...

    def execute_write(self, transaction_function: Callable[[Transaction], T]) -> T: ...


class Driver(Protocol):
    def session(self, *, database: str | None = ..., max_transaction_retry_time: float = ...) -> Session: ...

    def close(self) -> None: ...


class Neo4jGraphSink:
    """`GraphSink` on one database of a Neo4j 5 server (or Aura)."""

    dialect = NEO4J

    def __init__(
        self,
        driver: Driver,
        database: str | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_transaction_retry_time: float = DEFAULT_MAX_TRANSACTION_RETRY_SECONDS,
    ) -> None:
        """`database`: None (or "") for the server's default database."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.driver = driver
        self.database = database or None
        self.batch_size = batch_size
        self._max_retry_time = max_transaction_retry_time
        self._keyed_relations: set[str] = set()  # relation types this process has keyed on this database
        self._schema_lock = threading.Lock()  # one thread keys a new type; the others wait instead of repeating it
        self._communities_keyed = False  # Community keyed on `id` by this process

    @classmethod
    def from_settings(
        cls, uri: str, user: str, password: str, database: str | None = None, **options: Any
    ) -> Neo4jGraphSink:
        """A sink with its own driver. `uri`: `neo4j+s://…` (Aura), `neo4j://host:7687` or `bolt://host:7687`.

        Connects lazily: an unreachable server surfaces as `graph.unavailable` on first use, not here.
        `options`: the constructor's keywords (batch_size, max_transaction_retry_time).
        """
        fix = "use neo4j+s://<host> (Aura), neo4j://<host>:7687 or bolt://<host>:7687"
        scheme, _, rest = uri.partition("://")
        # http(s):// would select the driver's Query API preview, which needs aiohttp (not in requirements.txt).
        if scheme not in _BOLT_SCHEMES or not rest:
            raise ConfigError(Reason.CONFIG_INVALID_SETTING, f"TRIBUTARY_NEO4J_URI {uri!r} is not a Bolt URI", fix)
        try:
            driver = neo4j.GraphDatabase.driver(uri, auth=(user, password), user_agent="tributary")
        except (ValueError, neo4j_errors.ConfigurationError) as error:
            raise ConfigError(Reason.CONFIG_INVALID_SETTING, f"TRIBUTARY_NEO4J_URI {uri!r}: {error}", fix) from error
        return cls(driver, database, **options)

    # -- GraphSink --

    def ensure_schema(self) -> None:
        """A unique constraint on `id` of Document, Chunk and Entity; idempotent, safe to run concurrently.

        Also a range index on each of the entities' blocking keys (entity resolution's look-up). Relation types are
        keyed on `id` by `write_batch`, before the first statement that writes one.
        """
        with _translated("ensure_schema"):
            for ddl in self.dialect.schema_statements():
                self._write(Statement(ddl, {}))
            for prop in BLOCK_PROPERTIES:
                self._write(Statement(self.dialect.lookup_index_ddl(ENTITY, prop), {}))

    def write_batch(self, document: DocumentRef, payload: BatchPayload) -> None:
        """Upsert the document, its chunks, entities, mentions and relations (MERGE on ids)."""
        statements = batch_statements(document, payload, self.dialect)  # validates before anything is written
        with _translated("write_batch", conflict_is_transient=True):
            self._ensure_relation_keys({s.keyed_relation for s in statements if s.keyed_relation is not None})
            for statement in statements:
                for part in sliced(statement, self.batch_size):
                    self._write(part)

    def counts(self) -> GraphCounts:
        """Documents, chunks, entities and entity-to-entity relations, read in one transaction."""

        def read(tx: Transaction) -> dict[str, int]:
            return {name: self.dialect.to_int(tx.run(query).values()[0][0]) for name, query in COUNT_QUERIES.items()}

        with _translated("counts"), self._session() as session:
            return GraphCounts(**session.execute_read(read))

    def context(self, chunk_ids: Sequence[str], max_relations: int = 100) -> GraphContext:
        """The chunks' documents and mentions, and the one-hop relations of the entities they mention (read)."""

        def run(query: str, params: dict[str, Any]) -> list[list[Any]]:
            with _translated("context"), self._session() as session:
                return session.execute_read(lambda tx: tx.run(cast(LiteralString, query), params).values())

        return graph_context(run, chunk_ids, max_relations)

    def remove_version(self, document_id: str, version: str) -> None:
        """Delete the version's chunks, their provenance and the orphans they leave, `batch_size` chunks per round.

        Each statement is a managed transaction of its own (see cypher.py for why that is safe to resume).
        """
        remove_chunks(self._read_rows, self._write_rows, document_id, version, self.batch_size)

    def delete_document(self, document_id: str) -> None:
        """Every version's chunks with their orphans, then the Document node; an unknown id is a no-op."""
        remove_chunks(self._read_rows, self._write_rows, document_id, None, self.batch_size)

    def document_versions(self, document_id: str) -> dict[str, int]:
        """Version → number of the document's chunks in the graph (read)."""
        return document_versions(self._read_rows, document_id, self.dialect)

    def entity_candidates(
        self, entity_type: str, blocks: Sequence[str], per_block: int = 20, ids: Sequence[str] = ()
    ) -> list[EntityCandidate]:
        """Entities of the type stored with any of these blocking keys or among `ids`, with their aliases (read)."""
        return entity_candidates(self._read_rows, self.dialect, entity_type, blocks, per_block, ids)

    def linked_entities(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """The pairs of entity ids a relation joins, either way round (read)."""
        return linked_entities(self._read_rows, pairs)

    def close(self) -> None:
        """Close the driver and its connection pool."""
        self.driver.close()

    def entity_graph(self, after: str = "", limit: int = 5000) -> EntityGraphPage:
        """Up to `limit` entities above `after` in id order, with their outgoing relations to entities (read)."""
        return community_cypher.entity_graph_page(self._read_rows, after, limit, self.dialect)

    def relation_evidence(self, relations: Sequence[GraphRelation]) -> dict[str, str]:
        """Relation id → evidence sentence, for those of `relations` that have one (read)."""
        return community_cypher.relation_evidence(self._read_rows, relations)

    def write_communities(self, communities: Sequence[Community]) -> None:
        """Upsert Community nodes and their IN_COMMUNITY edges, one transaction per statement (see
        community_cypher.py: each is idempotent, so a write cut short is finished by the next)."""
        if not communities:
            return
        with _translated("write_communities"):
            if not self._communities_keyed:
                with self._schema_lock:
                    self._write(Statement(self.dialect.key_ddl(COMMUNITY), {}))
                    self._communities_keyed = True
        community_cypher.write_communities(self._read_rows, self._write_rows, communities, self.dialect)

    def communities(self, after: str = "", limit: int = 1000) -> list[Community]:
        """Up to `limit` communities above `after` in id order, with their members (read)."""
        return community_cypher.read_communities(self._read_rows, after, limit, self.dialect)

    def delete_communities(self, community_ids: Sequence[str]) -> None:
        """DETACH DELETE these communities; unknown ids are a no-op."""
        community_cypher.delete_communities(self._write_rows, community_ids)

    # -- helpers beyond the port --

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        """Run any Cypher in a write transaction and return the rows (for the API, tests and tooling)."""
        with _translated("query"), self._session() as session:
            return session.execute_write(lambda tx: tx.run(cast(LiteralString, cypher), params or {}).values())

    def unique_constraints(self) -> dict[str, str]:
        """Label → state ('OPERATIONAL', 'PENDING', 'FAILED') of the unique constraints on nodes' `id`."""
        return self._constraint_states(_NODE)

    def unique_relation_constraints(self) -> dict[str, str]:
        """Relationship type → state of the unique constraints on relationships' `id`."""
        return self._constraint_states(_RELATIONSHIP)

    def delete_graph(self) -> None:
        """Delete every node and edge, and the unique `id` constraints (tests, resets).

        In one transaction: meant for test and development databases, not for a large production graph.
        """
        with self._schema_lock:
            self._keyed_relations.clear()  # their constraints go too: key them again when next written
            self._communities_keyed = False
        with _translated("delete_graph"):
            self._write(Statement("MATCH (n) DETACH DELETE n", {}))
            with self._session() as session:
                names = session.execute_read(lambda tx: [row[0] for row in tx.run(_UNIQUE_ID_CONSTRAINTS).values()])
            for name in names:
                self._write(Statement(f"DROP CONSTRAINT {_quoted(name)} IF EXISTS", {}))

    def __repr__(self) -> str:
        return f"Neo4jGraphSink(database={self.database!r}, batch_size={self.batch_size})"

    # -- internals --

    def _session(self) -> Session:
        return self.driver.session(database=self.database, max_transaction_retry_time=self._max_retry_time)

    def _read_rows(self, query: str, params: dict[str, Any]) -> list[list[Any]]:
        with _translated("read"), self._session() as session:
            return session.execute_read(lambda tx: tx.run(cast(LiteralString, query), params).values())

    def _write_rows(self, query: str, params: dict[str, Any]) -> list[list[Any]]:
        with _translated("write"), self._session() as session:
            return session.execute_write(lambda tx: tx.run(cast(LiteralString, query), params).values())

    def _write(self, statement: Statement) -> None:
        """Run one statement in its own managed write transaction (retried by the driver when transient)."""
        query = cast(LiteralString, statement.query)  # formatted from validated labels and types only (cypher.py)
        with self._session() as session:
            session.execute_write(lambda tx: tx.run(query, statement.params).consume())

    def _ensure_relation_keys(self, rel_types: set[str]) -> None:
        if rel_types <= self._keyed_relations:  # the common case: no round trip, no lock
            return
        with self._schema_lock:
            for rel_type in sorted(rel_types - self._keyed_relations):
                self._write(Statement(self.dialect.relation_key_ddl(rel_type), {}))
                self._keyed_relations.add(rel_type)

    def _constraint_states(self, entity_type: str) -> dict[str, str]:
        def read(tx: Transaction) -> dict[str, str]:
            index_states = dict(tx.run(_INDEX_STATES_QUERY).values())
            return {
                labels[0]: _INDEX_STATES.get(str(index_states.get(index)), str(index_states.get(index)))
                for _name, kind, labels, index in tx.run(_UNIQUE_ID_CONSTRAINTS).values()
                if kind == entity_type and len(labels) == 1
            }

        with _translated("unique_constraints"), self._session() as session:
            return session.execute_read(read)


def sliced(statement: Statement, size: int) -> list[Statement]:
    """`statement` as one statement per `size` rows of its `rows` parameter (at least one, even with no rows)."""
    rows = statement.params.get("rows")
    if rows is None or len(rows) <= size:
        return [statement]
    return [
        statement._replace(params={**statement.params, "rows": rows[start : start + size]})
        for start in range(0, len(rows), size)
    ]


@contextlib.contextmanager
def _translated(operation: str, *, conflict_is_transient: bool = False) -> Iterator[None]:
    """Map driver errors onto the project's: unreachable/transient → TransientError, a refused query → Permanent.

    `conflict_is_transient`: the sink's statements only MERGE on ids, so a unique constraint violation means that
    another writer stored the id in a way the MERGE did not match (the same relation id between other ends);
    retried, the MERGE meets the committed state. The driver never retries a ConstraintError itself.
    """
    try:
        yield
    except neo4j_errors.ConstraintError as error:
        if conflict_is_transient:
            raise TransientError(Reason.GRAPH_CONFLICT, f"{operation}: {error}") from error
        raise PermanentError(Reason.GRAPH_QUERY_FAILED, f"{operation}: {error}") from error
    except neo4j_errors.AuthError as error:
        # A wrong or rotated secret: the message is fine, the settings are not, so retry (and replay the dead
        # letters once the secret is fixed) rather than failing the job.
        detail = f"{operation}: authentication failed, check TRIBUTARY_NEO4J_USER and TRIBUTARY_NEO4J_PASSWORD: {error}"
        raise TransientError(Reason.GRAPH_UNAVAILABLE, detail) from error
    except (neo4j_errors.Neo4jError, neo4j_errors.DriverError) as error:
        if _is_transient(error):
            raise TransientError(Reason.GRAPH_UNAVAILABLE, f"{operation}: {error}") from error
        if isinstance(error, neo4j_errors.Neo4jError) and error.code == _CONSTRAINT_CREATION_FAILED:
            # The database already holds duplicate ids (written before the constraint existed): only removing
            # them, or a reset, can fix that.
            raise PermanentError(Reason.GRAPH_CONSTRAINT_FAILED, f"{operation}: {error}") from error
        raise PermanentError(Reason.GRAPH_QUERY_FAILED, f"{operation}: {error}") from error


def _is_transient(error: neo4j_errors.Neo4jError | neo4j_errors.DriverError) -> bool:
    """What the driver retries (after its retries ran out), and a pool that had no connection free in time."""
    return error.is_retryable() or isinstance(error, neo4j_errors.ConnectionPoolError)


def _quoted(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


__all__ = ["DEFAULT_BATCH_SIZE", "Driver", "Neo4jGraphSink", "Session", "Transaction", "sliced"]
