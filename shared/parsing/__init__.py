"""Streaming parsers: each format is a generator of records; `parse` picks one by sniffed content type."""

from collections.abc import Iterator
from typing import BinaryIO

from shared.domain import PermanentError, Record
from shared.parsing.delimited import parse_delimited
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.sniff import SNIFF_BYTES, sniff_content_type
from shared.parsing.text import parse_text

__all__ = ["SNIFF_BYTES", "ParseLimits", "ParseOptions", "parse", "sniff_content_type"]


def parse(
    stream: BinaryIO, content_type: str, limits: ParseLimits, options: ParseOptions | None = None
) -> Iterator[Record]:
    """Records of the stream, capped by `limits.max_records`."""
    records = _parser_for(stream, content_type, limits)
    for count, record in enumerate(records, start=1):
        if count > limits.max_records:
            raise PermanentError("limits.too_many_records", f"more than {limits.max_records} records")
        yield record


def _parser_for(stream: BinaryIO, content_type: str, limits: ParseLimits) -> Iterator[Record]:
    match content_type:
        case "text/csv":
            return parse_delimited(stream, limits)
        case "text/tab-separated-values":
            return parse_delimited(stream, limits, delimiter="\t")
        case "text/plain" | "text/markdown":
            return parse_text(stream, limits)
    raise PermanentError("validate.unsupported_type", f"no parser for {content_type}")
