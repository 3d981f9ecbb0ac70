"""Streaming parsers: each format is a generator of records (and of issues confined to one part of the file);
`parse` picks one by the sniffed content type."""

from collections.abc import Callable, Iterator
from typing import BinaryIO

from shared.domain import ParseIssue, PermanentError, Record
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.sniff import SNIFF_BYTES, sniff_content_type

__all__ = ["SNIFF_BYTES", "ParseLimits", "ParseOptions", "Parser", "parse", "sniff_content_type"]

Parser = Callable[[BinaryIO, ParseOptions, ParseLimits], Iterator[Record | ParseIssue]]


def parse(
    stream: BinaryIO, content_type: str, limits: ParseLimits, options: ParseOptions | None = None
) -> Iterator[Record | ParseIssue]:
    """Records and issues of the stream, capped by `limits.max_records`."""
    parser = _parser_for(content_type)
    options = options or ParseOptions()
    if content_type == "text/tab-separated-values" and options.delimiter is None:
        options = options.model_copy(update={"delimiter": "\t"})
    records = 0
    for item in parser(stream, options, limits):
        if isinstance(item, Record):
            records += 1
            if records > limits.max_records:
                raise PermanentError("limits.too_many_records", f"more than {limits.max_records} records")
        yield item


def _parser_for(content_type: str) -> Parser:
    # Imported on use: a worker parsing CSV never pays for the HTML or email libraries.
    match content_type:
        case "text/csv" | "text/tab-separated-values":
            from shared.parsing.delimited import parse_delimited

            return parse_delimited
        case "text/plain" | "text/markdown":
            from shared.parsing.text import parse_text

            return parse_text
    raise PermanentError("validate.unsupported_type", f"no parser for {content_type}")
