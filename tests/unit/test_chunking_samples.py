"""The chunks of the sample corpus: sized for retrieval, and their locators name the range they cover."""

import io
from pathlib import Path

import pytest

from shared.domain import Chunk, DocumentRef, Record
from shared.parsing import SNIFF_BYTES, ParseLimits, parse, sniff
from shared.pipeline.chunking import MIN_SHARE, ChunkSettings, chunk_records
from shared.pipeline.sections import section_key
from shared.tokens import token_counter

SAMPLES = sorted((Path(__file__).resolve().parents[2] / "samples").iterdir())
SETTINGS = ChunkSettings()
COUNT = token_counter(SETTINGS.encoding)


def sample(path: Path) -> tuple[list[Record], list[Chunk]]:
    data = path.read_bytes()
    content_type = sniff(data[:SNIFF_BYTES], path.name).content_type
    document = DocumentRef(
        account="a",
        container="c",
        path=path.name,
        document_id="d",
        version="v",
        size=len(data),
        content_type=content_type,
    )
    records = [item for item in parse(io.BytesIO(data), content_type, ParseLimits()) if isinstance(item, Record)]
    return records, list(chunk_records(records, document, SETTINGS))


@pytest.mark.parametrize("path", SAMPLES, ids=[path.name for path in SAMPLES])
def test_no_sample_chunk_is_short_unless_it_is_its_whole_section(path: Path) -> None:
    # GIVEN a sample file WHEN it is parsed and chunked with the default settings
    records, chunks = sample(path)
    sections = [section_key(record) for record in records]
    sections_whole = {key: [r.locator for r, k in zip(records, sections, strict=True) if k == key] for key in sections}
    # THEN each chunk keeps to the target, and one shorter than a fifth of it holds all the records of its section
    for chunk in chunks:
        tokens = COUNT(chunk.text)
        assert tokens <= SETTINGS.target_tokens
        if tokens < MIN_SHARE * SETTINGS.target_tokens:
            same_section = [c for c in chunks if c.metadata == chunk.metadata]
            assert len(same_section) == 1, f"{chunk.locator}: {tokens} tokens"
    # AND there are fewer chunks than records, so records were packed (every sample has several per section)
    assert len(chunks) < len(records) or len(sections_whole) == len(records)


def test_sample_locators_show_ranges() -> None:
    locators = {chunk.locator for path in SAMPLES for chunk in sample(path)[1]}
    assert {"rows 2–7", "rows 2–15", "lines 1–29"} <= locators
    assert "§ Blue Margin Consortium > Members, lines 11–17" in locators
