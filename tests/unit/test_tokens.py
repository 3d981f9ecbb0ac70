"""Token counts: the Rust tokenizer's count equals the tiktoken-compatible encoder's ids, for both encodings."""

from pathlib import Path

import bpe_openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.tokens import token_counter

TEXT_SUFFIXES = {".txt", ".md", ".csv", ".json", ".jsonl", ".xml", ".html", ".eml"}
SAMPLES = sorted(
    path for path in (Path(__file__).resolve().parents[2] / "samples").iterdir() if path.suffix in TEXT_SUFFIXES
)


@pytest.mark.parametrize("encoding", ["cl100k_base", "o200k_base"])
def test_counts_equal_the_number_of_ids_of_the_tiktoken_compatible_encoder(encoding: str) -> None:
    count, encode = token_counter(encoding), bpe_openai.get_encoding(encoding).encode_ordinary  # type: ignore[arg-type]
    texts = [path.read_text(encoding="utf-8") for path in SAMPLES]
    assert [count(text) for text in texts] == [len(encode(text)) for text in texts]


def test_known_counts_of_cl100k() -> None:
    # tiktoken's cl100k_base: "hello world" is [15339, 1917]
    assert token_counter("cl100k_base")("hello world") == 2
    # a lone surrogate (JSON can spell one) is counted replaced, as the encoder does, instead of failing
    assert token_counter("cl100k_base")("a\ud800b") == len(bpe_openai.get_encoding("cl100k_base").encode("a\ud800b"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_counts_as_the_encoder_does_lone_surrogates_included(text: str) -> None:
    encode = bpe_openai.get_encoding("cl100k_base").encode_ordinary
    assert token_counter("cl100k_base")(text) == len(encode(text))
