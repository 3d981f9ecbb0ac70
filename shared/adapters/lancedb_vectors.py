"""VectorSink over LanceDB, in-process: one table of chunks with their embeddings under a directory."""

from __future__ import annotations

import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import cast

import lancedb
import pyarrow as pa
from lancedb.query import LanceVectorQueryBuilder

from shared.adapters.vector_checks import check_embedding, check_query
from shared.domain import Chunk, PermanentError, Reason, TransientError
from shared.ports import VectorHit

_ID = "id"


def chunk_schema(dimension: int) -> pa.Schema:
    """Arrow schema of the chunk table; `vector` is a fixed-size float32 list so LanceDB can index it."""
    return pa.schema(
        [
            pa.field(_ID, pa.string(), nullable=False),
            pa.field("document_id", pa.string(), nullable=False),
            pa.field("version", pa.string(), nullable=False),
            pa.field("ordinal", pa.int64(), nullable=False),
            pa.field("text", pa.string(), nullable=False),
            pa.field("locator", pa.string(), nullable=False),
            pa.field("vector", pa.list_(pa.float32(), dimension), nullable=False),
        ]
    )


class LanceDBVectorSink:
    """`VectorSink` on one LanceDB table; search scores are cosine similarity (1 = same direction)."""

    def __init__(
        self, directory: Path | str, table: str = "chunks", dimension: int = 256, compact_every: int = 32
    ) -> None:
        self.directory = Path(directory)
        self.compact_every = compact_every
        self._upserts = 0
        # The host runs stage functions in threads; concurrent commits on one table would conflict.
        self._write_lock = threading.Lock()
        self.table_name = table
        self.dimension = dimension
        self.schema = chunk_schema(dimension)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(self.directory))
        try:
            self._table = self._db.open_table(table)  # a second run sees what the first one wrote
        except ValueError:  # "was not found"; exist_ok covers another worker creating it meanwhile
            self._table = self._db.create_table(table, schema=self.schema, exist_ok=True)
        if self._table.schema != self.schema:
            raise PermanentError(
                Reason.VECTOR_SCHEMA_MISMATCH,
                f"table {table!r} in {self.directory} has {_describe(self._table.schema)}, "
                f"expected {_describe(self.schema)}",
            )

    def upsert(self, chunks: Sequence[Chunk]) -> None:
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
                "vector": pa.FixedSizeListArray.from_arrays(vectors, self.dimension),
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
                    # without). The default cleanup window keeps old versions for concurrent readers.
                    self._table.optimize()
            except OSError as error:  # disk full, permissions, a vanished directory: may clear up
                raise TransientError(Reason.VECTOR_UNAVAILABLE, str(error)) from error

    def count(self) -> int:
        """Rows in the table (one per chunk id)."""
        return int(self._table.count_rows())

    def search(self, vector: Sequence[float], k: int = 5) -> list[VectorHit]:
        """The `k` nearest chunks by cosine similarity, nearest first (zero vectors match nothing)."""
        check_query(vector, self.dimension)
        if k <= 0:
            return []
        # Table.search is annotated with the base builder; a vector (a list of floats) always gets the vector one.
        query = cast(LanceVectorQueryBuilder, self._table.search(list(vector)))
        result = (
            query.distance_type("cosine")
            .select([_ID, "document_id", "version", "text", "_distance"])
            .limit(k)
            .to_arrow()
            .to_pylist()
        )
        return [
            VectorHit(
                chunk_id=row[_ID],
                document_id=row["document_id"],
                version=row["version"],
                text=row["text"],
                score=1.0 - float(row["_distance"]),  # LanceDB's cosine distance is 1 - cosine similarity
            )
            for row in result
        ]

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
            self._table.optimize(cleanup_older_than=older_than, delete_unverified=older_than == timedelta(0))

    def version_count(self) -> int:
        """How many table versions are kept on disk (grows with every write until `optimize`)."""
        return len(self._table.list_versions())

    def close(self) -> None:
        """Nothing to release: LanceDB holds no connection; kept for the port."""

    def _delete(self, where: str) -> None:
        with self._write_lock:
            try:
                self._table.delete(where)
            except OSError as error:
                raise TransientError(Reason.VECTOR_UNAVAILABLE, str(error)) from error


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
