"""Records made in the parsers' per-row loops (CSV rows, JSON lines), millions a file.

`Record(text, locator, fields)` runs the named tuple's `__new__`, a Python function; `row_record(values)` builds
the same tuple in C from (text, locator, fields, metadata, mentions, links), in Record's field order. That saves
1.4 k of the ~35 k instructions a CSV row costs (callgrind, perf/README.md).
"""

from collections.abc import Callable, Mapping
from functools import partial

from shared.domain import Record
from shared.domain.models import NO_ENTRIES

__all__ = ["NO_ENTRIES", "row_record"]

RecordValues = tuple[str, str, Mapping[str, str], Mapping[str, str], tuple[()], tuple[()]]

# The tuple is built by position: a field added to or moved in Record would shift every value. Fail at import.
if Record._fields != ("text", "locator", "fields", "metadata", "mentions", "links"):
    raise ImportError("shared.parsing.records: Record's fields changed; update RecordValues and its callers")

row_record: Callable[[RecordValues], Record] = partial(tuple.__new__, Record)
