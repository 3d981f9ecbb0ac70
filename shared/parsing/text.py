"""Plain text: one record per paragraph, streamed line by line."""

from collections.abc import Iterator
from typing import BinaryIO

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.encoding import open_text
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions


def parse_text(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """Yield paragraphs (blank-line separated) with the line they start on.

    The encoding is detected as for CSV (BOM, UTF-16, UTF-8, else Windows-1252 with a `parse.encoding.latin1_fallback`
    issue) unless `options.encoding` forces one.
    """
    lines, issues = open_text(stream, options, newline=None)
    yield from issues
    paragraph: list[str] = []
    size = 0
    start_line = 1
    for line_number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not stripped:
            if paragraph:
                yield Record(text=" ".join(paragraph), locator=f"line {start_line}")
                paragraph, size = [], 0
            continue
        if not paragraph:
            start_line = line_number
        size += len(stripped)
        if size > limits.max_field_chars:
            raise PermanentError(
                Reason.LIMITS_PARAGRAPH_TOO_LARGE, f"paragraph at line {start_line} exceeds {limits.max_field_chars}"
            )
        paragraph.append(stripped)
    if paragraph:
        yield Record(text=" ".join(paragraph), locator=f"line {start_line}")
