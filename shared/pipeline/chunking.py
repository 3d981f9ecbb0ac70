"""Records to chunks of bounded size, with deterministic ids, and chunks to batches."""

import re
from collections.abc import Iterable, Iterator

from shared.domain import Chunk, DocumentRef, Record
from shared.domain.ids import chunk_id

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def chunk_records(records: Iterable[Record], document: DocumentRef, max_chars: int) -> Iterator[Chunk]:
    """One chunk per record; a record longer than `max_chars` becomes several, split at sentence ends.

    Every piece carries the record's metadata; its fields, declared mentions and links travel once, on the first
    piece, so the extractor reads a very wide row once rather than once per piece (nothing is lost by splitting).
    """
    ordinal = 0
    for record in records:
        for index, piece in enumerate(split_text(record.text, max_chars)):
            first = index == 0
            yield Chunk(
                chunk_id=chunk_id(document.document_id, document.version, ordinal),
                document_id=document.document_id,
                version=document.version,
                ordinal=ordinal,
                text=piece,
                locator=record.locator,
                fields=record.fields if first else {},
                metadata=record.metadata,
                mentions=record.mentions if first else [],
                links=record.links if first else [],
            )
            ordinal += 1


def split_text(text: str, max_chars: int) -> list[str]:
    """Pieces of at most `max_chars`, preferring sentence then word boundaries; never loses a character."""
    text = text.strip()
    if len(text) <= max_chars:
        return [text] if text else []
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(text):
        for part in _hard_wrap(sentence, max_chars):
            if current and len(current) + 1 + len(part) > max_chars:
                pieces.append(current)
                current = part
            else:
                current = f"{current} {part}" if current else part
    if current:
        pieces.append(current)
    return pieces


def _hard_wrap(sentence: str, max_chars: int) -> Iterator[str]:
    # A single sentence longer than the cap is cut at the last space before it (or mid-word if none).
    while len(sentence) > max_chars:
        cut = sentence.rfind(" ", 0, max_chars + 1)
        cut = cut if cut > 0 else max_chars
        yield sentence[:cut].strip()
        sentence = sentence[cut:].strip()
    if sentence:
        yield sentence


def batched(chunks: Iterable[Chunk], size: int) -> Iterator[list[Chunk]]:
    """Consecutive lists of at most `size` chunks (itertools.batched arrives only in 3.12)."""
    batch: list[Chunk] = []
    for chunk in chunks:
        batch.append(chunk)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
