"""Streaming parsers: each format is a generator of records (and of issues confined to one part of the file);
`parse` picks one by the sniffed content type and applies the column options to every record with fields."""

import importlib
from collections.abc import Callable, Iterator
from typing import BinaryIO, cast

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.columns import apply_columns, has_column_rules
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.sniff import SNIFF_BYTES, Sniffed, sniff, sniff_content_type

__all__ = [
    "CONTENT_TYPES",
    "FORMATS",
    "SNIFF_BYTES",
    "ParseLimits",
    "ParseOptions",
    "Parser",
    "Sniffed",
    "parse",
    "sniff",
    "sniff_content_type",
]

Parser = Callable[[BinaryIO, ParseOptions, ParseLimits], Iterator[Record | ParseIssue]]

# Content type -> (module, function). Modules are imported on first use: a worker parsing CSV never pays for the
# HTML or email libraries.
CONTENT_TYPES: dict[str, tuple[str, str]] = {
    "text/csv": ("shared.parsing.delimited", "parse_delimited"),
    "text/tab-separated-values": ("shared.parsing.delimited", "parse_tsv"),
    "application/json": ("shared.parsing.jsonish", "parse_json"),
    "application/x-ndjson": ("shared.parsing.jsonish", "parse_jsonl"),
    "application/xml": ("shared.parsing.xml", "parse_xml"),
    "message/rfc822": ("shared.parsing.email", "parse_eml"),
    "application/mbox": ("shared.parsing.email", "parse_mbox"),
    "text/html": ("shared.parsing.html", "parse_html"),
    "text/markdown": ("shared.parsing.markdown", "parse_markdown"),
    "application/zip": ("shared.parsing.archive", "parse_zip"),
    "text/plain": ("shared.parsing.text", "parse_text"),
    "application/x-ole-storage": ("shared.parsing.ole", "parse_ole"),
    "application/pdf": ("shared.parsing.pdf", "parse_pdf"),
    "application/vnd.apache.parquet": ("shared.parsing.parquet", "parse_parquet"),
}

# `ParseOptions.format` (set by an ingestion rule) -> the content type it forces.
FORMATS: dict[str, str] = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "ndjson": "application/x-ndjson",
    "xml": "application/xml",
    "eml": "message/rfc822",
    "mbox": "application/mbox",
    "html": "text/html",
    "markdown": "text/markdown",
    "md": "text/markdown",
    "zip": "application/zip",
    "text": "text/plain",
    "msg": "application/x-ole-storage",
    "pdf": "application/pdf",
    "parquet": "application/vnd.apache.parquet",
}


def parse(
    stream: BinaryIO, content_type: str, limits: ParseLimits, options: ParseOptions | None = None
) -> Iterator[Record | ParseIssue]:
    """Records and issues of the stream, capped by `limits.max_records`."""
    parser = _parser_for(content_type)
    options = options or ParseOptions()
    columns = has_column_rules(options)
    records, max_records = 0, limits.max_records  # a local: this loop runs once per record
    for item in parser(stream, options, limits):
        if isinstance(item, Record):
            records += 1
            if records > max_records:
                raise PermanentError(Reason.LIMITS_TOO_MANY_RECORDS, f"more than {max_records} records")
            if columns and item.fields:
                item = apply_columns(item, options)
        yield item


def _parser_for(content_type: str) -> Parser:
    if content_type not in CONTENT_TYPES:
        raise PermanentError(Reason.VALIDATE_UNSUPPORTED_TYPE, f"no parser for {content_type}")
    module_name, function = CONTENT_TYPES[content_type]
    return cast(Parser, getattr(importlib.import_module(module_name), function))
