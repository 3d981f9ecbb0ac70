"""Parquet: pyarrow, streamed in record batches (never more than one row group's batch in memory), one record per
row like a CSV row, located 'row 12'. Column types are kept as text: integers as integers, dates as ISO dates,
decimals exactly, lists and structs as JSON, binary columns left out (their size is listed in an issue once).
"""

import datetime
import decimal
import json
from collections.abc import Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.archive import seekable
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.xlsx import cell_text

_BATCH_ROWS = 1024
_ERRORS = (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError, OverflowError)


def parse_parquet(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """Rows of every row group as records with the column names as fields."""
    source = seekable(stream, limits)
    try:
        reader = pq.ParquetFile(source)
        schema = reader.schema_arrow
    except _ERRORS as error:
        raise PermanentError(Reason.PARSE_PARQUET_MALFORMED, f"footer: {error}"[:500]) from error
    if len(schema) > limits.max_fields:
        raise PermanentError(Reason.LIMITS_TOO_MANY_FIELDS, f"{len(schema)} columns > {limits.max_fields}")
    binary = [field.name for field in schema if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)]
    if binary:
        detail = f"binary columns not read: {', '.join(binary)}"[:1000]
        yield ParseIssue(locator="schema", reason_code=Reason.PARSE_PARQUET_BINARY_SKIPPED, detail=detail)
    columns = [field.name for field in schema if field.name not in binary]
    number = 0
    try:
        for batch in reader.iter_batches(batch_size=_BATCH_ROWS, columns=columns, use_threads=False):
            for row in batch.to_pylist():
                number += 1
                yield from _record(row, number, limits)
    except _ERRORS as error:
        raise PermanentError(Reason.PARSE_PARQUET_MALFORMED, f"after row {number}: {error}"[:500]) from error
    finally:
        reader.close()


def _record(row: dict[str, object], number: int, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    locator = f"row {number}"
    fields = {name: value_text(value) for name, value in row.items()}
    too_long = next((len(value) for value in fields.values() if len(value) > limits.max_field_chars), 0)
    if too_long:
        detail = f"a value of {too_long} characters > {limits.max_field_chars}; row skipped"
        yield ParseIssue(locator=locator, reason_code=Reason.LIMITS_FIELD_TOO_LARGE, detail=detail)
        return
    text = "; ".join(f"{name}: {value}" for name, value in fields.items() if value)
    yield Record(text=text, locator=locator, fields=fields)


def value_text(value: object) -> str:
    """A Parquet value as text that keeps its type (see xlsx.cell_text for scalars)."""
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=_json_default, ensure_ascii=False)
    if isinstance(value, bytes):
        return ""
    if isinstance(value, datetime.timedelta):
        return str(value)
    return cell_text(value)


def _json_default(value: object) -> str:
    return value_text(value) if not isinstance(value, bytes) else ""
