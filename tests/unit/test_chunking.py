import itertools
import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import DocumentRef, Link, Mention, Record
from shared.domain.ids import chunk_id, document_version
from shared.pipeline.chunking import MIN_SHARE, ChunkSettings, batched, chunk_records
from shared.pipeline.splitting import split_text
from shared.tokens import token_counter

DOCUMENT = DocumentRef(
    account="a", container="c", path="p.txt", document_id="doc", version="v1", size=1, content_type="text/plain"
)
COUNT = token_counter("cl100k_base")
SMALL = ChunkSettings(target_tokens=60, overlap_tokens=12, max_chars=2000)
WORDS = st.sampled_from(["Ada", "wrote", "the", "first", "program", "in", "1843", "Zürich", "東京", "—", "data,"])
SENTENCES = st.lists(WORDS, min_size=1, max_size=30).map(lambda words: " ".join(words) + ".")
PARAGRAPHS = st.lists(SENTENCES, min_size=1, max_size=12).map(" ".join)


def prose(*texts: str, section: str = "") -> list[Record]:
    metadata = {"section": section} if section else {}
    return [Record(text=text, locator=f"line {3 * i + 1}", metadata=metadata) for i, text in enumerate(texts)]


def rows(count: int, start: int = 2) -> list[Record]:
    return [
        Record(
            text=f"name: Person {i}; company: Acme {i % 3}; note: joined in {2000 + i}",
            locator=f"row {i}",
            fields={"name": f"Person {i}", "company": f"Acme {i % 3}", "note": f"joined in {2000 + i}"},
            mentions=[Mention(type="Person", name=f"Person {i}")],
            links=[
                Link(
                    source=Mention(type="Person", name=f"Person {i}"),
                    type="WORKS_FOR",
                    target=Mention(type="Organization", name=f"Acme {i % 3}"),
                )
            ],
        )
        for i in range(start, start + count)
    ]


@settings(max_examples=60, deadline=None)
@given(PARAGRAPHS, st.integers(min_value=3, max_value=80), st.integers(min_value=20, max_value=400))
def test_split_text_bounds_pieces_in_tokens_and_characters_and_loses_no_character(
    text: str, max_tokens: int, max_chars: int
):
    pieces = split_text(text, COUNT, max_tokens, max_chars)
    assert all(0 < len(piece) <= max_chars and COUNT(piece) <= tokens <= max_tokens for piece, tokens in pieces)
    # Only whitespace between pieces may change, never the characters themselves.
    assert "".join("".join(piece for piece, _ in pieces).split()) == "".join(text.split())


def test_split_prefers_sentence_boundaries():
    text = "First sentence here. Second one follows! Third?"
    assert [piece for piece, _ in split_text(text, COUNT, 5, 1000)] == [
        "First sentence here.",
        "Second one follows!",
        "Third?",
    ]


def test_records_of_one_section_are_packed_into_one_chunk_whose_locator_names_the_range():
    # GIVEN three short paragraphs under one heading
    records = prose("Short one.", "Another short paragraph.", "A third.", section="Install > Linux")
    # WHEN they are chunked
    (chunk,) = chunk_records(records, DOCUMENT, ChunkSettings())
    # THEN they share one chunk, which begins with the heading path and names its range
    assert chunk.text == "§ Install > Linux\n\nShort one.\n\nAnother short paragraph.\n\nA third."
    assert chunk.locator == "§ Install > Linux, lines 1–7"
    assert (chunk.chunk_id, chunk.ordinal, chunk.metadata) == (
        chunk_id("doc", "v1", 0),
        0,
        {"section": "Install > Linux"},
    )


def test_a_new_section_starts_a_new_chunk():
    records = [*prose("Intro text.", section="A"), *prose("Body text.", section="A > B"), *rows(2)]
    chunks = list(chunk_records(records, DOCUMENT, ChunkSettings()))
    assert [chunk.locator for chunk in chunks] == ["§ A, line 1", "§ A > B, line 1", "rows 2–3"]
    assert [chunk.ordinal for chunk in chunks] == [0, 1, 2]


@settings(max_examples=40, deadline=None)
@given(st.lists(PARAGRAPHS, min_size=1, max_size=12))
def test_prose_chunks_keep_to_the_target_overlap_at_sentences_and_none_is_too_short(paragraphs: list[str]):
    # GIVEN a section of paragraphs of any length, every sentence made unique (the overlap is recognised by its text
    # below, and a sentence repeated elsewhere would look like one) WHEN chunked with a small target
    sentence_number = itertools.count()
    paragraphs = [re.sub(r"\.(?=\s|$)", lambda _: f" s{next(sentence_number)}.", text) for text in paragraphs]
    chunks = list(chunk_records(prose(*paragraphs, section="S"), DOCUMENT, SMALL))
    # THEN every chunk keeps to the target and the character cap, begins with the title, and is not too short
    # unless it is the whole section
    for chunk in chunks:
        assert COUNT(chunk.text) <= SMALL.target_tokens
        assert len(chunk.text) <= SMALL.max_chars
        assert chunk.text.startswith("§ S\n\n")
        assert len(chunks) == 1 or COUNT(chunk.text) >= MIN_SHARE * SMALL.target_tokens
    # AND each chunk after the first begins with whole sentences the previous one ended with, within the overlap
    for before, after in itertools.pairwise(chunks):
        first_line = after.text.split("\n\n")[1]
        if before.text.endswith(first_line):
            assert COUNT(first_line) <= SMALL.overlap_tokens
    # AND no text is lost
    words = [word for paragraph in paragraphs for word in paragraph.split()]
    assert set(words) <= {word for chunk in chunks for word in chunk.text.split()}


def test_table_rows_are_packed_whole_without_overlap_and_each_rows_declarations_travel_once():
    # GIVEN 40 rows with fields, declared mentions and links
    records = rows(40)
    # WHEN chunked to a target of about five rows
    chunks = list(chunk_records(records, DOCUMENT, ChunkSettings(target_tokens=120, overlap_tokens=30)))
    # THEN rows are whole lines, every one once, with their column names
    lines = [line for chunk in chunks for line in chunk.text.split("\n\n")]
    assert lines == [record.text for record in records]
    assert all(COUNT(chunk.text) <= 120 for chunk in chunks)
    # AND each record's fields, mentions and links are on exactly one chunk, in order
    entries = [entry for chunk in chunks for entry in chunk.records]
    assert [(e.locator, e.fields, e.mentions, e.links) for e in entries] == [
        (r.locator, dict(r.fields), list(r.mentions), list(r.links)) for r in records
    ]
    assert chunks[0].locator == "rows 2–" + chunks[0].records[-1].locator.split()[1]


def test_a_long_record_is_split_and_its_declarations_travel_on_the_first_piece_only():
    ada = Mention(type="Person", name="Ada")
    record = Record(
        text="Sentence one is here. " * 200,
        locator="row 5 (id=Ada)",
        fields={"notes": "x"},
        metadata={"id": "Ada"},
        mentions=[ada],
    )
    chunks = list(chunk_records([record], DOCUMENT, ChunkSettings(target_tokens=100, overlap_tokens=10)))
    assert len(chunks) > 1
    assert all(COUNT(chunk.text) <= 100 and chunk.locator == "row 5 (id=Ada)" for chunk in chunks)
    assert [len(chunk.records) for chunk in chunks] == [1] + [0] * (len(chunks) - 1)
    assert chunks[0].records[0].metadata == {"id": "Ada"}
    assert chunks[0].records[0].mentions == [ada]


def test_the_character_cap_bounds_every_chunk_whatever_its_tokens():
    # GIVEN text of long tokens (a run of one character is a few tokens per hundred characters)
    records = prose(*["x" * 900 + " " + "y" * 900 for _ in range(6)])
    chunks = list(chunk_records(records, DOCUMENT, ChunkSettings(target_tokens=512, overlap_tokens=0, max_chars=1000)))
    assert all(len(chunk.text) <= 1000 for chunk in chunks)
    assert "".join("".join(c.text.split()) for c in chunks) == "".join("".join(r.text.split()) for r in records)


def test_chunking_streams_its_records():
    # GIVEN an endless generator of records
    def endless() -> Iterator[Record]:
        for number in itertools.count(1):
            yield Record(text=f"Line {number} of an endless file.", locator=f"line {number}")

    # THEN the first chunks come out without the generator being exhausted
    first = list(itertools.islice(chunk_records(endless(), DOCUMENT, SMALL), 3))
    assert [chunk.ordinal for chunk in first] == [0, 1, 2]


def test_same_records_and_settings_give_the_same_chunks_and_other_settings_another_version():
    records = prose(*["Some sentence here. Another one there."] * 30)
    assert list(chunk_records(records, DOCUMENT, SMALL)) == list(chunk_records(records, DOCUMENT, SMALL))
    other = ChunkSettings(target_tokens=SMALL.target_tokens + 1)
    assert SMALL.fingerprint() == ChunkSettings(60, 12, 2000).fingerprint() != other.fingerprint()
    assert document_version("sha", SMALL.fingerprint()) != document_version("sha", other.fingerprint())


def test_batched_keeps_order_and_sizes():
    chunks = list(
        chunk_records(
            [Record(text=str(i), locator=f"part {i}", metadata={"title": str(i)}) for i in range(7)], DOCUMENT, SMALL
        )
    )
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
    (chunk,) = chunk_records([record], DOCUMENT, ChunkSettings())
    (entry,) = chunk.records
    # THEN the chunk holds equal values in containers of its own
    assert (entry.fields, entry.metadata, entry.mentions) == ({"name": "Ada"}, {"id": "7"}, [ada])
    assert entry.fields is not record.fields


MIXED = st.lists(
    st.tuples(st.sampled_from(["A", "B", "rows"]), PARAGRAPHS, st.booleans()), min_size=1, max_size=25
).map(
    lambda items: [
        Record(
            text=text,
            locator=f"row {i}" if kind == "rows" else f"line {i}",
            fields={"notes": text} if kind == "rows" else {},
            metadata={} if kind == "rows" else {"section": kind},
            mentions=[Mention(type="Person", name=f"P{i}")] if declared else [],
        )
        for i, (kind, text, declared) in enumerate(items, start=1)
    ]
)


@settings(max_examples=40, deadline=None)
@given(MIXED)
def test_any_mix_of_sections_keeps_bounds_ordinals_and_each_declaration_once(records: list[Record]):
    chunks = list(chunk_records(records, DOCUMENT, SMALL))
    assert [chunk.ordinal for chunk in chunks] == list(range(len(chunks)))
    assert all(COUNT(chunk.text) <= SMALL.target_tokens and len(chunk.text) <= SMALL.max_chars for chunk in chunks)
    entries = [(entry.locator, entry.mentions) for chunk in chunks for entry in chunk.records]
    declared = [(r.locator, list(r.mentions)) for r in records if r.fields or r.mentions]
    assert entries == declared
