"""VectorSink over LanceDB, in-process: one table of chunks with their embeddings under a directory.

The table carries a full-text index on `text` (LanceDB's native FTS) for the keyword half of hybrid search. It is
made when the table is opened without one; rows written since are searched unindexed until the periodic `optimize`
folds them in (measured: upserts no slower with the index, see `upsert`). Hybrid search is LanceDB's own: the vector
and full-text queries fused by its RRF reranker. The embedder that made the vectors is recorded in the table's schema
metadata, and a table recorded for another one is refused at open.
"""

from __future__ import annotations

import threading
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import cast

import lancedb
import pyarrow as pa
from lancedb.index import FTS
from lancedb.query import LanceHybridQueryBuilder, LanceQueryBuilder, LanceVectorQueryBuilder
from lancedb.rerankers import RRFReranker

from shared.adapters.vector_checks import check_embedding, check_query
from shared.domain import Chunk, DocumentRef, PermanentError, Reason, TransientError
from shared.domain.search_filter import SearchFilter
from shared.ports import VectorHit

_ID = "id"
_EMBEDDER = b"tributary.embedder"  # schema metadata: the name of the embedder that made the vectors
_VECTOR = "vector"


def chunk_schema(dimension: int, embedder: str | None = None) -> pa.Schema:
    """Arrow schema of the chunk table; `vector` is a fixed-size float32 list so LanceDB can index it."""
    return pa.schema(
        [
            pa.field(_ID, pa.string(), nullable=False),
            pa.field("document_id", pa.string(), nullable=False),
            pa.field("version", pa.string(), nullable=False),
            pa.field("ordinal", pa.int64(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("locator", pa.string(), nullable=False),
            pa.field(_VECTOR, pa.list_(pa.float32(), dimension), nullable=False),
            # Added later, so last and nullable: a table made before them gains them empty at open (see __init__).
            pa.field("path", pa.string()),
            pa.field("content_type", pa.string()),
            pa.field("language", pa.string()),
        ],
        metadata=None if embedder is None else {_EMBEDDER: embedder.encode()},
    )


class LanceDBVectorSink:
    """`VectorSink` on one LanceDB table; vector-only scores are cosine similarity (1 = same direction)."""

    def __init__(
        self,
        directory: Path | str,
        table: str = "chunks",
        dimension: int = 256,
        compact_every: int = 32,
        *,
        embedder: str | None = None,
    ) -> None:
        """`embedder` names the embedder of the vectors: recorded in a new table, checked against an existing one
        (None checks the dimension only)."""
        self.directory = Path(directory)
        self.compact_every = compact_every
        self._upserts = 0
        # The host runs stage functions in threads; concurrent commits on one table would conflict.
        self._write_lock = threading.Lock()
        self.table_name = table
        self.dimension = dimension
        self.embedder = embedder
        self.schema = chunk_schema(dimension, embedder)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(self.directory))
        try:
            self._table = self._db.open_table(table)  # a second run sees what the first one wrote
        except ValueError:  # "was not found"; exist_ok covers another worker creating it meanwhile
            self._table = self._db.create_table(table, schema=self.schema, exist_ok=True)
        self._check_embedder(self._table.schema)
        self._add_missing_columns()
        if self._table.schema != self.schema:  # Arrow compares the columns here, not the metadata
            raise PermanentError(
                Reason.VECTOR_SCHEMA_MISMATCH,
                f"table {table!r} in {self.directory} has {_describe(self._table.schema)}, "
                f"expected {_describe(self.schema)}",
            )
        self._ensure_text_index()

    def upsert(self, chunks: Sequence[Chunk], document: DocumentRef | None = None) -> None:
        """Merge-or-insert on chunk id; every chunk must carry a finite embedding of the table's dimension."""
        latest = {chunk.chunk_id: chunk for chunk in chunks}  # LanceDB refuses two source rows for one id
        if not latest:
            return
        for chunk in latest.values():
            check_embedding(chunk, self.dimension)
        rows = list(latest.values())
        vectors = pa.array([value for chunk in rows for value in chunk.embedding or ()], type=pa.float32())
        batch = pa.table(
            {
                _ID: [chunk.chunk_id for chunk in rows],
                "document_id": [chunk.document_id for chunk in rows],
                "version": [chunk.version for chunk in rows],
                "ordinal": [chunk.ordinal for chunk in rows],
                "text": [chunk.text for chunk in rows],
                "locator": [chunk.locator for chunk in rows],
                "path": [document.path if document else None] * len(rows),
                "content_type": [document.content_type if document else None] * len(rows),
                "language": [chunk.language for chunk in rows],
                _VECTOR: pa.FixedSizeListArray.from_arrays(vectors, self.dimension),
            },
            schema=self.schema,
        )
        with self._write_lock:
            try:
                self._table.merge_insert(_ID).when_matched_update_all().when_not_matched_insert_all().execute(batch)
                self._upserts += 1
                if self.compact_every and self._upserts % self.compact_every == 0:
                    # Every upsert adds a small fragment and merge_insert joins against all of them: without compaction
                    # each upsert gets slower as the table grows (measured 13 ms flat with it, 40-120 ms rising
                    # without). The default cleanup window keeps old versions for concurrent readers. It also folds the
                    # rows written since into the full-text index: upserts measured no slower with that index (64
                    # upserts of 100 rows, 256 dimensions: median 21 ms with it, 24 ms without).
                    self._table.optimize()
            except OSError as error:  # disk full, permissions, a vanished directory: may clear up
                raise TransientError(Reason.VECTOR_UNAVAILABLE, str(error)) from error

    def count(self) -> int:
        """Rows in the table (one per chunk id)."""
        return int(self._table.count_rows())

    def search(
        self, vector: Sequence[float], k: int = 5, *, text: str | None = None, filter: SearchFilter | None = None
    ) -> list[VectorHit]:
        """The `k` best chunks `filter` selects: by cosine similarity, or hybrid (vector + full text, fused by RRF)
        when `text` is given (zero vectors match nothing)."""
        check_query(vector, self.dimension)
        if k <= 0:
            return []
        where = filter_sql(filter) if filter else None
        if text and text.strip():
            return self._hybrid(vector, text, k, where)
        # Table.search is annotated with the base builder; a vector (a list of floats) always gets the vector one.
        query = cast(LanceVectorQueryBuilder, self._table.search(list(vector)))
        if where:
            query = query.where(where, prefilter=True)
        rows = _rows(query.distance_type("cosine").select([*_HIT_COLUMNS, "_distance"]).limit(k))
        # LanceDB's cosine distance is 1 - cosine similarity
        return [_hit(row, 1.0 - float(row["_distance"])) for row in rows]

    def _hybrid(self, vector: Sequence[float], text: str, k: int, where: str | None) -> list[VectorHit]:
        query = cast(LanceHybridQueryBuilder, self._table.search(query_type="hybrid", fts_columns="text"))
        query = query.vector(list(vector)).text(text).distance_type("cosine").rerank(RRFReranker())
        if where:
            query = query.where(where, prefilter=True)
        # No `select`: on a hybrid query LanceDB warns on stderr about every projection that leaves out its scores,
        # which it would not let us name; k rows with their vectors cost little.
        return [_hit(row, float(row["_relevance_score"])) for row in _rows(query.limit(k))]

    def delete_version(self, document_id: str, version: str) -> None:
        """Delete the version's chunks; none left is a no-op (one delete: atomic, so nothing to resume)."""
        self._delete(_document_filter(document_id, version))

    def delete_document(self, document_id: str) -> None:
        """Delete every chunk of the document; an unknown document is a no-op."""
        self._delete(_document_filter(document_id))

    def document_versions(self, document_id: str) -> dict[str, int]:
        """Version → number of the document's chunks in the table."""
        where = _document_filter(document_id)
        rows = int(self._table.count_rows(where))
        if not rows:
            return {}
        versions = self._table.search().where(where).select(["version"]).limit(rows).to_arrow()["version"]
        return dict(Counter(versions.to_pylist()))

    def optimize(self, older_than: timedelta = timedelta(0)) -> None:
        """Compact the table's files and delete versions older than `older_than`.

        Every upsert writes a new version, so call this at the end of a run. The default (drop every old
        version) is only safe when no other reader or writer is using the table; pass a window otherwise.
        """
        with warnings.catch_warnings():
            # LanceDB warns about exactly the concurrent-use caveat documented above.
            warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)", category=UserWarning)
            # One pass compacts, drops old versions, then folds new rows into the full-text index, which commits a
            # version of its own after the clean-up; the second pass (nothing left to compact or index) drops the
            # compacted version that one left behind.
            for _ in range(2):
                self._table.optimize(cleanup_older_than=older_than, delete_unverified=older_than == timedelta(0))

    def version_count(self) -> int:
        """How many table versions are kept on disk (grows with every write until `optimize`)."""
        return len(self._table.list_versions())

    def close(self) -> None:
        """Nothing to release: LanceDB holds no connection; kept for the port."""

    def _check_embedder(self, schema: pa.Schema) -> None:
        """Refuse a table whose vectors another embedder made: another dimension, or another recorded name."""
        vector = schema.field(_VECTOR).type if _VECTOR in schema.names else None
        dimension = vector.list_size if isinstance(vector, pa.FixedSizeListType) else None
        recorded = (schema.metadata or {}).get(_EMBEDDER)
        name = recorded.decode() if recorded is not None else None
        if dimension != self.dimension or (name and self.embedder and name != self.embedder):
            raise PermanentError(
                Reason.VECTOR_DIMENSION_MISMATCH,
                f"table {self.table_name!r} in {self.directory} holds vectors of {name or 'an unrecorded embedder'} "
                f"({dimension} dimensions), not of {self.embedder or 'this embedder'} ({self.dimension})",
            )

    def _add_missing_columns(self) -> None:
        """Give a table made before a nullable column existed that column, empty, rather than refuse it."""
        missing = [field for field in self.schema if field.nullable and field.name not in self._table.schema.names]
        if not missing:
            return
        with self._write_lock:
            try:
                self._table.add_columns(missing)
            except (ValueError, RuntimeError):  # another process added them first; the schema check below decides
                self._table.checkout_latest()

    def _ensure_text_index(self) -> None:
        """The full-text index on `text`, made if missing (another worker making it meanwhile is fine)."""
        if any(index.index_type == "FTS" for index in self._table.list_indices()):
            return
        with self._write_lock:
            try:
                self._table.create_index("text", config=FTS(), replace=False)
            except RuntimeError:  # "already exists": another process made it first
                if not any(index.index_type == "FTS" for index in self._table.list_indices()):
                    raise

    def _delete(self, where: str) -> None:
        with self._write_lock:
            try:
                self._table.delete(where)
            except OSError as error:
                raise TransientError(Reason.VECTOR_UNAVAILABLE, str(error)) from error


_HIT_COLUMNS = [_ID, "document_id", "version", "text"]


def _rows(query: LanceQueryBuilder) -> list[dict]:
    return query.to_arrow().to_pylist()


def _hit(row: dict, score: float) -> VectorHit:
    return VectorHit(
        chunk_id=row[_ID], document_id=row["document_id"], version=row["version"], text=row["text"], score=score
    )


def filter_sql(where: SearchFilter) -> str | None:
    """The SQL `where` a search filter stands for: values quoted as literals, never spliced in as they came."""
    clauses = [
        _any_of(where.document_id, lambda value: f"document_id = {_literal(value)}"),
        _any_of(where.path, lambda value: f"path = {_literal(value)}"),
        # a folder and every folder under it: the path continues after "folder/"
        _any_of(where.folder, lambda value: f"starts_with(path, {_literal(value + '/')})"),
        _any_of(where.content_type, lambda value: f"content_type = {_literal(value)}"),
        _any_of(where.language, lambda value: f"language = {_literal(value)}"),
    ]
    return " AND ".join(clause for clause in clauses if clause) or None


def _any_of(values: Sequence[str], clause: Callable[[str], str]) -> str:
    if not values:
        return ""
    return "(" + " OR ".join(clause(value) for value in values) + ")"


def _document_filter(document_id: str, version: str | None = None) -> str:
    """The SQL filter selecting the document's (or one version's) rows, values quoted as literals."""
    where = f"document_id = {_literal(document_id)}"
    return where if version is None else f"{where} AND version = {_literal(version)}"


def _literal(value: str) -> str:
    """`value` as an SQL string literal: ids are hex, but nothing the filter is built from is trusted."""
    if "\x00" in value:
        raise PermanentError(Reason.VECTOR_BAD_QUERY, "an id holds a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _describe(schema: pa.Schema) -> str:
    return ", ".join(f"{field.name}: {field.type}" for field in schema)
