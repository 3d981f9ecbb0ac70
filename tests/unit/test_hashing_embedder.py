"""The hashing embedder: deterministic everywhere, normalised, and similar texts closer than unrelated ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shared.adapters.hashing_embedder import HashingEmbedder
from shared.ports import Embedder

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["Alice Smith works for Acme Corp in Leeds.", "Zoë Okafor leads Project Heron", ""]


def cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b))  # the vectors are unit length


def test_is_an_embedder_with_the_requested_dimension() -> None:
    # GIVEN an embedder of dimension 64 WHEN it embeds a batch
    embedder = HashingEmbedder(64)
    vectors = embedder.embed(TEXTS)
    # THEN it satisfies the port, names its dimension, and returns one 64-vector of floats per text
    assert isinstance(embedder, Embedder)
    assert (embedder.name, embedder.dimension) == ("hashing-64", 64)
    assert [len(vector) for vector in vectors] == [64, 64, 64]
    assert all(isinstance(value, float) for value in vectors[0])
    assert HashingEmbedder().dimension == 256


def test_vectors_are_unit_length_and_empty_text_is_zero() -> None:
    # GIVEN texts with words, and texts without any WHEN they are embedded
    vectors = np.array(HashingEmbedder().embed([*TEXTS, "  ", "!!! ..."]))
    # THEN texts with words are L2-normalised and the others are zero vectors
    norms = np.linalg.norm(vectors, axis=1)
    assert norms[:2] == pytest.approx([1.0, 1.0], abs=1e-6)
    assert norms[2:].tolist() == [0.0, 0.0, 0.0]


def test_same_text_same_vector_across_processes() -> None:
    # GIVEN vectors computed here
    here = HashingEmbedder(128).embed(TEXTS)
    # WHEN another Python process computes them, with a different hash seed
    script = (
        "import json; from shared.adapters.hashing_embedder import HashingEmbedder; "
        f"print(json.dumps(HashingEmbedder(128).embed({TEXTS!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    )
    # THEN they are identical
    assert json.loads(result.stdout) == here


def test_batching_and_case_do_not_change_a_vector() -> None:
    # GIVEN one embedder
    embedder = HashingEmbedder(64)
    # WHEN a text is embedded alone, in a batch, and in another case
    alone = embedder.embed(["Acme Corp hires Alice"])[0]
    in_batch = embedder.embed(["something else", "Acme Corp hires Alice"])[1]
    shouted = embedder.embed(["ACME CORP HIRES ALICE"])[0]
    # THEN it is the same vector
    assert alone == in_batch == shouted


def test_similar_texts_score_closer_than_unrelated_ones() -> None:
    # GIVEN a text, a paraphrase sharing most words and phrases, and an unrelated text
    embedder = HashingEmbedder()
    text, near, far, reordered = embedder.embed(
        [
            "Alice Smith works for Acme Corp in Leeds",
            "Alice Smith has worked for Acme Corp since 2019",
            "Quarterly revenue grew by ten percent in the northern region",
            "Leeds in Corp Acme for works Smith Alice",
        ]
    )
    # THEN the paraphrase is clearly closer than the unrelated text
    assert cosine(text, near) > 0.4
    assert cosine(text, far) < 0.2
    # AND word order matters through bigrams, but only a little
    assert 0.5 < cosine(text, reordered) < 1.0


@pytest.mark.parametrize("dimension", [0, 1, 1 << 17])
def test_an_unusable_dimension_is_refused(dimension: int) -> None:
    with pytest.raises(ValueError, match="dimension"):
        HashingEmbedder(dimension)
