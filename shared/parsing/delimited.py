"""CSV / TSV: one record per row, the header naming the fields."""

import csv
from collections.abc import Iterator
from typing import BinaryIO

from shared.domain import PermanentError, Record
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.text import decoded_lines


def parse_delimited(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record]:
    """Yield each data row as 'header: value; …' text with the same pairs in `fields`."""
    delimiter = options.delimiter or ","
    csv.field_size_limit(limits.max_field_chars)
    rows = csv.reader(decoded_lines(stream, newline=""), delimiter=delimiter)
    try:
        header = next(rows, None)
        if header is None:
            return
        names = [name.strip() or f"column_{index + 1}" for index, name in enumerate(header)]
        for row in rows:
            if not any(cell.strip() for cell in row):
                continue
            fields = _row_fields(names, row)
            text = "; ".join(f"{name}: {value}" for name, value in fields.items() if value)
            yield Record(text=text, locator=f"row {rows.line_num}", fields=fields)
    except csv.Error as error:
        reason = "limits.field_too_large" if "field larger" in str(error) else "parse.csv.malformed"
        raise PermanentError(reason, f"line {rows.line_num}: {error}") from error


def _row_fields(names: list[str], row: list[str]) -> dict[str, str]:
    # Ragged rows keep every cell: extra cells get positional names rather than being dropped.
    fields = {name: "" for name in names}
    for index, value in enumerate(row):
        key = names[index] if index < len(names) else f"column_{index + 1}"
        fields[key] = value.strip()
    return fields
