"""Plain text and Markdown: one record per paragraph, streamed line by line."""

from collections.abc import Iterator
from typing import BinaryIO

from shared.domain import PermanentError, Record
from shared.parsing.encoding import open_text
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions


def parse_text(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record]:
    """Yield paragraphs (blank-line separated) with the line they start on."""
    paragraph: list[str] = []
    size = 0
    start_line = 1
    for line_number, line in enumerate(decoded_lines(stream, encoding=options.encoding or "utf-8"), start=1):
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
                "limits.paragraph_too_large", f"paragraph at line {start_line} exceeds {limits.max_field_chars}"
            )
        paragraph.append(stripped)
    if paragraph:
        yield Record(text=" ".join(paragraph), locator=f"line {start_line}")


def decoded_lines(stream: BinaryIO, newline: str | None = None, encoding: str = "utf-8") -> Iterator[str]:
    """Lines in `encoding` (UTF-8, BOM tolerated, by default); undecodable bytes are a permanent error."""
    # A forced encoding keeps this helper strict; `encoding.open_text` without one would detect and fall back.
    lines, _ = open_text(stream, ParseOptions(encoding=encoding), newline=newline)
    yield from lines
