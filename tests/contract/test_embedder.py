"""The Embedder port's contract, run against every embedder available here: the hashing one, the local model, Azure
OpenAI through the real `openai` client against the local stand-in, and the live service when
TRIBUTARY_TEST_AZURE_OPENAI_ENDPOINT and _DEPLOYMENT are set (+ _KEY, else the developer's Entra login)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import pytest

from shared.adapters.azure_openai_embedder import AzureOpenAIEmbedder
from shared.adapters.hashing_embedder import HashingEmbedder
from shared.adapters.local_embedder import MAX_TOKENS, LocalModelEmbedder
from shared.ports import Embedder
from tests.support.openai_standin import DEPLOYMENT, KEY

LIVE_ENDPOINT = os.environ.get("TRIBUTARY_TEST_AZURE_OPENAI_ENDPOINT")
LIVE_DEPLOYMENT = os.environ.get("TRIBUTARY_TEST_AZURE_OPENAI_DEPLOYMENT")
LIVE_KEY = os.environ.get("TRIBUTARY_TEST_AZURE_OPENAI_KEY")
LIVE_DIMENSIONS = int(os.environ.get("TRIBUTARY_TEST_AZURE_OPENAI_DIMENSIONS", "256"))
TEXTS = [
    "The invoice for March was paid by Contoso on the 4th.",
    "Contoso paid the March invoice on the fourth.",
    "Penguins huddle together to survive the Antarctic winter.",
]


@pytest.fixture(params=["hashing", "local", "azure_openai", "azure_openai_live"])
def embedder(request: pytest.FixtureRequest) -> Iterator[Embedder]:
    if request.param == "hashing":
        yield HashingEmbedder(64)
    elif request.param == "local":
        yield LocalModelEmbedder()
    elif request.param == "azure_openai":
        server = request.getfixturevalue("openai_standin")
        connection = {"OpenAIConnection": f"Endpoint={server.endpoint};Key={KEY}"}
        client = AzureOpenAIEmbedder.from_connection_setting(
            "OpenAIConnection", DEPLOYMENT, "2024-10-21", 64, connection, max_retries=0
        )
        yield client
        client.close()
    else:
        if not (LIVE_ENDPOINT and LIVE_DEPLOYMENT):
            pytest.skip(
                "the live Azure OpenAI run needs TRIBUTARY_TEST_AZURE_OPENAI_ENDPOINT and _DEPLOYMENT "
                "(+ _KEY, else the Entra login; _DIMENSIONS, default 256)"
            )
        section = (
            {"OpenAIConnection": f"Endpoint={LIVE_ENDPOINT};Key={LIVE_KEY}"}
            if LIVE_KEY
            else {"OpenAIConnection__endpoint": LIVE_ENDPOINT}
        )
        live = AzureOpenAIEmbedder.from_connection_setting(
            "OpenAIConnection", LIVE_DEPLOYMENT, "2024-10-21", LIVE_DIMENSIONS, section
        )
        yield live
        live.close()


def cosine(first: list[float], second: list[float]) -> float:
    return sum(a * b for a, b in zip(first, second, strict=True))


def test_one_unit_vector_of_the_dimension_per_text_in_order(embedder: Embedder) -> None:
    # WHEN three texts are embedded
    vectors = embedder.embed(TEXTS)
    # THEN one finite unit vector each, of the embedder's dimension, and each text's own (order kept)
    assert len(vectors) == len(TEXTS)
    for vector in vectors:
        assert len(vector) == embedder.dimension
        assert all(math.isfinite(value) for value in vector)
        assert math.isclose(math.sqrt(sum(value * value for value in vector)), 1.0, rel_tol=1e-3)
    again = embedder.embed(list(reversed(TEXTS)))
    for vector, repeated in zip(vectors, reversed(again), strict=True):
        assert cosine(vector, repeated) > 0.999


def test_an_empty_batch_is_no_vectors(embedder: Embedder) -> None:
    assert embedder.embed([]) == []


def test_the_local_model_puts_a_paraphrase_nearer_than_an_unrelated_text() -> None:
    # GIVEN the local model (the hashing embedder and the stand-in are not semantic)
    model = LocalModelEmbedder()
    # WHEN a sentence, its paraphrase and an unrelated sentence are embedded
    invoice, paraphrase, penguins = model.embed(TEXTS)
    # THEN the paraphrase is much nearer
    assert cosine(invoice, paraphrase) > cosine(invoice, penguins) + 0.3


def test_the_local_model_reads_a_long_text_whole_not_its_first_256_word_pieces() -> None:
    # GIVEN the local model, and a chunk-sized text (~600 word pieces) whose last sentence alone is about the query
    model = LocalModelEmbedder()
    filler = " ".join(f"The committee reviewed budget line {n} and approved it without comment." for n in range(50))
    fact = "The Eiffel Tower stands on the Champ de Mars in Paris."
    long_text, head, query = filler + " " + fact, filler, "Where does the Eiffel Tower stand?"
    assert len(model._tokenizer.encode(long_text).ids) > 2 * MAX_TOKENS  # past what one sequence reads
    # WHEN the long text, the same text without the fact, and the query are embedded
    with_fact, without_fact, asked = model.embed([long_text, head, query])
    # THEN the text holding the fact is nearer the query than the same text without it: the tail was read
    assert cosine(asked, with_fact) > cosine(asked, without_fact) + 0.02
    # AND a short text is embedded as one window, exactly as the model's own pipeline would ([CLS] text [SEP])
    [alone] = model.embed([fact])
    [again] = model.embed([fact])
    assert alone == again
    assert cosine(alone, model.embed([fact, long_text])[0]) > 0.9999
