"""Records to chunks of about a token target, packed within a section, with deterministic ids; chunks to batches.

- Consecutive records of one section (shared/pipeline/sections.py: one heading path, page, email body, CSV file,
  JSON array, run of XML siblings) are packed into a chunk of at most `target_tokens` tokens of the embedding
  model's tokenizer (shared/tokens.py). A new section always starts a new chunk.
- The section's title (its heading path, page title or email subject) is carried as a **prefix**: the first line
  of every chunk of the section reads `§ <title>`, so the embedder and the extractors see it, and its tokens count
  against the target. A Markdown heading path is also in the chunk's locator and metadata.
- Prose: each chunk after the first of a section begins with the last whole sentences of the one before, up to
  `overlap_tokens`. A record that does not fit is split at sentence ends, then between words (splitting.py).
- Table rows (records with fields: CSV/TSV rows, JSON array items, JSON Lines, repeated XML elements) are packed
  whole, one `name: value; …` line each, so every line keeps its column names and no chunk is a bare header; they
  are not overlapped (a row is whole on its own). A row larger than a chunk is split like prose.
- No chunk is shorter than a fifth of the target unless it is the whole of its section: a chunk is closed only once
  what follows it is at least that long, and the last two chunks of a section share what is left between them.
- `max_chars` still bounds every chunk's text, whatever its tokens: it is the sinks' hard cap (index fields,
  graph properties, message size).
- A record's fields, declared mentions and links and its own metadata travel as one `RecordEntry` on the first
  chunk holding its text: never lost, never repeated by overlap or splitting.
- Ids: `chunk_id(document, version, ordinal)`, so the same bytes and settings give the same ids. The version folds
  in `ChunkSettings.fingerprint()` (with the extraction's, shared/pipeline/ingest.py `processing_fingerprint`), so
  a settings change that alters chunking makes a new version of the document, which replaces the old one whole,
  never a mix of the two.

Streaming: records are consumed one at a time; a section holds at most about one chunk and a fifth of text.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from shared.config import Settings
from shared.domain import Chunk, DocumentRef, Record, RecordEntry
from shared.domain.ids import chunk_id, stable_hash
from shared.pipeline.locators import span
from shared.pipeline.sections import SectionKey, own_metadata, section_key, section_title, shared_metadata
from shared.pipeline.splitting import SENTENCE_END, fit_words, split_text
from shared.tokens import Encoding, TokenCounter, token_counter

# Bump when the packing rules change, so that re-ingesting a file after an upgrade makes a new version.
CHUNKING_SCHEME = "sections-1"
MIN_SHARE = 0.2  # no chunk shorter than this share of the target, unless it is its whole section
_TITLE_CHARS = 200  # a heading path longer than this is cut in the prefix (never in metadata)
# Records are paragraphs of the chunk: a blank line keeps each record (and the title line) a block of its own for
# the extractors, so that no sentence runs from one record into the next. At most one token in cl100k and o200k.
_JOIN = "\n\n"
_JOIN_TOKENS = 1


@dataclass(frozen=True)
class ChunkSettings:
    """What decides how a document is chunked; every field is part of the fingerprint."""

    target_tokens: int = 512
    overlap_tokens: int = 64
    max_chars: int = 8000
    encoding: Encoding = "cl100k_base"

    def fingerprint(self) -> str:
        return stable_hash(
            "chunking",
            CHUNKING_SCHEME,
            str(self.target_tokens),
            str(self.overlap_tokens),
            str(self.max_chars),
            self.encoding,
            length=16,
        )


class _Unit(NamedTuple):
    """A record, or a piece of one, waiting for its chunk."""

    text: str
    tokens: int
    locator: str
    entry: RecordEntry | None  # on the first piece of a record only


def chunk_settings(settings: Settings) -> ChunkSettings:
    """The chunking part of the app's settings."""
    return ChunkSettings(
        target_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
        max_chars=settings.chunk_max_chars,
        encoding=settings.chunk_tokenizer,
    )


def chunk_records(records: Iterable[Record], document: DocumentRef, settings: ChunkSettings) -> Iterator[Chunk]:
    """Chunks of the records, in order, with consecutive ordinals from 0."""
    count = token_counter(settings.encoding)
    ordinal = 0
    section: _Section | None = None
    key: SectionKey | None = None
    for record in records:
        record_key = section_key(record)
        if section is None or record_key != key:
            if section is not None:
                for chunk in section.finish():
                    yield _chunk(document, ordinal, chunk, section)
                    ordinal += 1
            section, key = _Section(record, settings, count), record_key
        for chunk in section.add(record):
            yield _chunk(document, ordinal, chunk, section)
            ordinal += 1
    if section is not None:
        for chunk in section.finish():
            yield _chunk(document, ordinal, chunk, section)
            ordinal += 1


def _chunk(document: DocumentRef, ordinal: int, units: list[_Unit], section: "_Section") -> Chunk:
    return Chunk(
        chunk_id=chunk_id(document.document_id, document.version, ordinal),
        document_id=document.document_id,
        version=document.version,
        ordinal=ordinal,
        text=section.head + _JOIN.join(unit.text for unit in units),
        locator=span(units[0].locator, units[-1].locator, section.metadata.get("section", "")),
        metadata=dict(section.metadata),
        records=[unit.entry for unit in units if unit.entry is not None],
    )


class _Section:
    """Packs the units of one section into chunks; yields a chunk only once what follows it is long enough."""

    def __init__(self, first: Record, settings: ChunkSettings, count: TokenCounter) -> None:
        self.metadata = shared_metadata(first)
        title = section_title(self.metadata)[:_TITLE_CHARS]
        self.head = f"§ {title}{_JOIN}" if title else ""
        self.count = count
        self.table = bool(first.fields)
        self.overlap = 0 if self.table else settings.overlap_tokens
        self.max_chars = settings.max_chars - len(self.head)
        # The room for records in a chunk, and the least a chunk holds unless it is its whole section.
        self.room = max(1, settings.target_tokens - (count(self.head) if self.head else 0))
        self.least = max(1, int(MIN_SHARE * settings.target_tokens))
        self.overlap = min(self.overlap, self.room // 4)
        self.carry: list[_Unit] = []  # the previous chunk's last sentences, starting the next chunk
        self.pending: list[_Unit] = []
        self.tokens = 0  # of carry and pending, joins included
        self.chars = 0

    def add(self, record: Record) -> Iterator[list[_Unit]]:
        largest = self.room - self.overlap  # so that a piece always fits after the carried overlap
        pieces = split_text(record.text, self.count, largest, self.max_chars // 2)
        for index, (text, tokens) in enumerate(pieces):
            self._push(_Unit(text, tokens, record.locator, _entry(record) if index == 0 else None))
            while self.tokens > self.room + self.least or self.chars > self.max_chars + self.least * 4:
                yield self._close(self._take(self.room, self.max_chars))

    def finish(self) -> Iterator[list[_Unit]]:
        """What is left: one chunk if it fits, else two of about equal size."""
        if not self.pending:
            return
        if self.tokens > self.room or self.chars > self.max_chars:
            half = (self.tokens + self.overlap) // 2
            yield self._close(self._take(max(half, self.least), self.max_chars))
        while self.pending:  # once, unless the units were too coarse to halve
            yield self._close(self._take(self.room, self.max_chars))

    def _push(self, unit: _Unit) -> None:
        joins = _JOIN_TOKENS if self.carry or self.pending else 0
        self.pending.append(unit)
        self.tokens += unit.tokens + joins
        self.chars += len(unit.text) + (len(_JOIN) if joins else 0)

    def _take(self, budget: int, max_chars: int) -> list[_Unit]:
        """The carry and the leading pending units within `budget` tokens and `max_chars`, topped up to at least
        `least` tokens by splitting the next unit between words if need be."""
        taken = list(self.carry)
        tokens = sum(unit.tokens for unit in taken) + max(0, len(taken) - 1) * _JOIN_TOKENS
        chars = sum(len(unit.text) for unit in taken) + max(0, len(taken) - 1) * len(_JOIN)
        while self.pending:
            unit = self.pending[0]
            joins, join_chars = (_JOIN_TOKENS, len(_JOIN)) if taken else (0, 0)
            if tokens + joins + unit.tokens <= budget and chars + join_chars + len(unit.text) <= max_chars:
                taken.append(self.pending.pop(0))
                tokens += joins + unit.tokens
                chars += join_chars + len(unit.text)
                continue
            if (tokens < self.least and not self.table) or not taken:
                head, rest = fit_words(unit.text, self.count, max(1, budget - tokens - joins))
                if head and rest and chars + join_chars + len(head) <= max_chars:
                    head_unit = unit._replace(text=head, tokens=self.count(head))
                    self.pending[0] = _Unit(rest, self.count(rest), unit.locator, None)
                    taken.append(head_unit)
                    tokens += joins + head_unit.tokens
            break
        if len(taken) == len(self.carry) and self.pending:
            taken.append(self.pending.pop(0))  # never a chunk of overlap alone (bounds too tight to do better)
        return taken

    def _close(self, taken: list[_Unit]) -> list[_Unit]:
        """`taken` as a chunk; what it ends with becomes the carry of the next, and the counts are recomputed."""
        self.carry = self._overlap(taken) if self.pending else []
        units = [*self.carry, *self.pending]
        self.tokens = sum(unit.tokens for unit in units) + max(0, len(units) - 1) * _JOIN_TOKENS
        self.chars = sum(len(unit.text) for unit in units) + max(0, len(units) - 1) * len(_JOIN)
        return taken

    def _overlap(self, taken: list[_Unit]) -> list[_Unit]:
        """The last whole sentences of `taken`, up to `overlap` tokens (none for table rows)."""
        if not self.overlap:
            return []
        sentences: list[str] = []
        tokens = 0
        last = taken[-1]
        for sentence in reversed(SENTENCE_END.split(last.text)):
            size = self.count(sentence) + (1 if sentences else 0)
            if tokens + size > self.overlap:
                break
            sentences.insert(0, sentence)
            tokens += size
        text = " ".join(sentences)
        # Half the characters at most, as a piece is: overlap and the next piece always fit within `max_chars`.
        return [_Unit(text, tokens, last.locator, None)] if sentences and len(text) <= self.max_chars // 2 else []


def _entry(record: Record) -> RecordEntry | None:
    """What the record declared, if anything."""
    own = own_metadata(record)
    if not (record.fields or record.mentions or record.links or own):
        return None
    return RecordEntry(
        locator=record.locator,
        fields=dict(record.fields),
        metadata=own,
        mentions=list(record.mentions),
        links=list(record.links),
    )


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
