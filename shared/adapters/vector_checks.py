"""What every vector sink refuses before writing or searching, in one place so all adapters refuse alike."""

from __future__ import annotations

import math
from collections.abc import Sequence

from shared.domain import Chunk, PermanentError, Reason


def check_embedding(chunk: Chunk, dimension: int) -> None:
    """PermanentError `vector.bad_embedding` unless the chunk carries a finite embedding of `dimension`."""
    embedding = chunk.embedding
    if embedding is None:
        raise PermanentError(Reason.VECTOR_BAD_EMBEDDING, f"chunk {chunk.chunk_id} has no embedding")
    if len(embedding) != dimension:
        raise PermanentError(
            Reason.VECTOR_BAD_EMBEDDING, f"chunk {chunk.chunk_id} has {len(embedding)} dimensions, not {dimension}"
        )
    if not all(math.isfinite(value) for value in embedding):
        raise PermanentError(Reason.VECTOR_BAD_EMBEDDING, f"chunk {chunk.chunk_id} has a NaN or infinite value")


def check_query(vector: Sequence[float], dimension: int) -> None:
    """PermanentError `vector.bad_query` unless the query vector has `dimension` values."""
    if len(vector) != dimension:
        raise PermanentError(Reason.VECTOR_BAD_QUERY, f"query has {len(vector)} dimensions, not {dimension}")
