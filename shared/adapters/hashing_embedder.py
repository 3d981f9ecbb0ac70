"""A deterministic embedder with no model: signed feature hashing of word unigrams and bigrams.

Not semantic (synonyms do not meet), but texts sharing words and phrases score closer than unrelated ones,
which is what the embedded default and the tests need. Stable across processes and machines: features are
hashed with BLAKE2b, never with Python's salted `hash()`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache
from itertools import pairwise

import numpy as np

_WORD = re.compile(r"\w+")
_BIGRAM_WEIGHT = 0.5  # phrases sharpen the match, words carry most of it
_PERSON = b"tributary"  # BLAKE2b personalisation: these hashes are ours, not reusable digests of the words


class HashingEmbedder:
    """`Embedder` mapping text to an L2-normalised `dimension`-vector (empty text → zero vector)."""

    def __init__(self, dimension: int = 256) -> None:
        if not 2 <= dimension <= 1 << 16:
            raise ValueError(f"dimension must be between 2 and 65536, not {dimension}")
        self.dimension = dimension
        self.name = f"hashing-{dimension}"

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        matrix = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature, weight in _features(text):
                index, sign = _slot(feature, self.dimension)
                matrix[row, index] += sign * weight
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        np.divide(matrix, norms, out=matrix, where=norms > 0)  # a zero row (no words) stays zero
        return matrix.tolist()


def _features(text: str) -> list[tuple[str, float]]:
    words = _WORD.findall(text.lower())
    unigrams = [(word, 1.0) for word in words]
    # The separator cannot occur inside a \w+ word, so a bigram never collides with a unigram.
    bigrams = [(f"{first}\x1f{second}", _BIGRAM_WEIGHT) for first, second in pairwise(words)]
    return unigrams + bigrams


@lru_cache(maxsize=1 << 16)
def _slot(feature: str, dimension: int) -> tuple[int, float]:
    """Bucket and sign of a feature: the sign keeps collisions from only ever adding up."""
    digest = int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8, person=_PERSON).digest(), "big")
    return (digest >> 1) % dimension, 1.0 if digest & 1 else -1.0
