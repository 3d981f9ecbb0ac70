import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import DocumentRef, Mention, Record
from shared.domain.ids import chunk_id
from shared.pipeline.chunking import batched, chunk_records, split_text

DOCUMENT = DocumentRef(
    account="a", container="c", path="p.txt", document_id="doc", version="v1", size=1, content_type="text/plain"
)


@given(st.text(max_size=3000), st.integers(min_value=5, max_value=400))
def test_split_text_bounds_pieces_and_loses_no_character(text: str, max_chars: int):
    pieces = split_text(text, max_chars)
    assert all(0 < len(piece) <= max_chars for piece in pieces)
    # Only whitespace between pieces may change, never the characters themselves.
    assert "".join("".join(pieces).split()) == "".join(text.split())


def test_split_prefers_sentence_boundaries():
    text = "First sentence here. Second one follows! Third?"
    assert split_text(text, 25) == ["First sentence here.", "Second one follows!", "Third?"]


def test_chunks_get_consecutive_ordinals_and_deterministic_ids():
    records = [Record(text="short", locator="line 1"), Record(text="a b c d e f g h", locator="line 3")]
    chunks = list(chunk_records(records, DOCUMENT, max_chars=5))
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert [c.chunk_id for c in chunks] == [chunk_id("doc", "v1", i) for i in range(len(chunks))]
    assert {c.locator for c in chunks[1:]} == {"line 3"}


def test_batched_keeps_order_and_sizes():
    chunks = list(chunk_records([Record(text=str(i), locator=str(i)) for i in range(7)], DOCUMENT, 100))
    batches = list(batched(chunks, 3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [c for b in batches for c in b] == chunks


def test_records_are_immutable_and_share_no_mutable_default():
    # GIVEN two records built with every default
    first, second = Record(text="a", locator="line 1"), Record(text="b", locator="line 2")
    # THEN neither the record nor its default containers can be changed, so sharing the defaults is safe
    with pytest.raises(AttributeError):
        first.text = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        first.metadata["key"] = "value"  # type: ignore[index]
    assert first.mentions == second.mentions == ()


def test_a_chunk_gets_its_own_copies_of_a_records_containers():
    # GIVEN a record with fields, metadata and a declared mention
    ada = Mention(type="Person", name="Ada")
    record = Record(text="name: Ada", locator="row 2", fields={"name": "Ada"}, metadata={"id": "7"}, mentions=[ada])
    # WHEN it is chunked
    (chunk,) = chunk_records([record], DOCUMENT, max_chars=100)
    # THEN the chunk holds equal values in containers of its own
    assert (chunk.fields, chunk.metadata, chunk.mentions) == ({"name": "Ada"}, {"id": "7"}, [ada])
    assert chunk.fields is not record.fields
