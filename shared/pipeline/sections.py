"""Which records belong together in a chunk: a section is a run of consecutive records from the same place.

Parsers say where a record sits in two ways, and a section is the same on both:
- its metadata, minus the keys that describe the record alone (`PER_RECORD_KEYS`): the heading path of a Markdown
  block (`section`), the title of an HTML page, the subject and headers of an email, the archive member or
  attachment a record came from;
- its locator without its own position: `row 5` → `row` (a CSV or TSV file), `line 12` → `line` (a text or
  Markdown file, JSON Lines), `/catalog/book[3]` → `/catalog/book` (XML elements repeated under one parent),
  `$[4]` → `$` (the items of one JSON array), `message 2 / part 1` → `message 2 / part` (one email's body).
Records with fields (table rows) and records without (prose) never share a section: rows are packed whole,
without overlap, and extraction reads them row by row.
"""

from collections.abc import Mapping

from shared.domain import Record
from shared.pipeline.locators import without_position

# Metadata that differs from one record to the next in the same section: kept on the record's own entry.
PER_RECORD_KEYS = frozenset({"id", "formula_cells", "block", "links"})
# The first of these a section has is its title, the first line of each of its chunks.
TITLE_KEYS = ("section", "title", "subject")

SectionKey = tuple[str, bool, tuple[tuple[str, str], ...]]


def section_key(record: Record) -> SectionKey:
    """Equal for two records exactly when they belong to the same section."""
    return (without_position(record.locator), bool(record.fields), tuple(sorted(shared_metadata(record).items())))


def shared_metadata(record: Record) -> dict[str, str]:
    """The record's metadata that its whole section shares."""
    return {key: value for key, value in record.metadata.items() if key not in PER_RECORD_KEYS}


def own_metadata(record: Record) -> dict[str, str]:
    """The record's metadata that is its own (its id, its links, its kind of block)."""
    return {key: value for key, value in record.metadata.items() if key in PER_RECORD_KEYS}


def section_title(metadata: Mapping[str, str]) -> str:
    """The heading path, page title or subject a section's chunks begin with ('' when it has none)."""
    for key in TITLE_KEYS:
        title = " ".join(metadata.get(key, "").split())
        if title:
            return title
    return ""
