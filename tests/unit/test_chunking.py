from hypothesis import given
from hypothesis import strategies as st

from shared.domain import DocumentRef, Record
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
