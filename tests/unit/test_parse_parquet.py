"""Parquet: a record per row, streamed by batch, column types kept as text; a damaged file fails parquet.malformed."""

import datetime
import decimal
import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.domain import ParseIssue, PermanentError, Record
from shared.parsing import ParseLimits, parse, sniff_content_type

LIMITS = ParseLimits()


def parquet(table: pa.Table, row_group_size: int = 2) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=row_group_size)
    return buffer.getvalue()


PEOPLE = pa.table(
    {
        "name": ["Ada Lovelace", "Grace Hopper", "Alan Turing"],
        "desk": pa.array([12, 14, None], pa.int64()),
        "rate": [0.5, 1.0, 2.25],
        "joined": [datetime.date(2024, 5, 1), datetime.date(2023, 1, 2), None],
        "budget": pa.array([decimal.Decimal("1200.50"), None, decimal.Decimal("7")], pa.decimal128(10, 2)),
        "tags": [["a", "b"], [], None],
        "photo": pa.array([b"\x89PNG", None, b""], pa.binary()),
    }
)


def parsed(data: bytes, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse(io.BytesIO(data), sniff_content_type(data[:8192], "t.parquet"), limits))


def test_rows_of_every_row_group_are_records_with_typed_values():
    result = parsed(parquet(PEOPLE))
    assert [(i.locator, i.reason_code) for i in result if isinstance(i, ParseIssue)] == [
        ("schema", "parse.parquet.binary_skipped")
    ]
    rows = [r for r in result if isinstance(r, Record)]
    assert [r.locator for r in rows] == ["row 1", "row 2", "row 3"]
    assert dict(rows[0].fields) == {
        "name": "Ada Lovelace",
        "desk": "12",
        "rate": "0.5",
        "joined": "2024-05-01",
        "budget": "1200.50",
        "tags": '["a", "b"]',
    }
    assert rows[1].fields["rate"] == "1"  # a float that is an integer: no trailing .0, as in Excel
    assert rows[2].text == "name: Alan Turing; rate: 2.25; budget: 7.00"


def test_a_corrupt_footer_or_a_truncated_file_fails_parquet_malformed():
    data = parquet(PEOPLE)
    for broken in (data[:-12] + b"\xff" * 8 + b"PAR1", data[: len(data) // 2] + b"PAR1", b"PAR1" + b"\x00" * 50):
        with pytest.raises(PermanentError) as raised:
            parsed(broken)
        assert raised.value.reason_code == "parse.parquet.malformed"


def test_the_field_and_column_caps_hold():
    wide = parquet(pa.table({f"c{i}": [i] for i in range(5)}))
    with pytest.raises(PermanentError) as raised:
        parsed(wide, ParseLimits(max_fields=3))
    assert raised.value.reason_code == "limits.too_many_fields"
    long = parsed(parquet(pa.table({"t": ["x" * 50, "ok"]})), ParseLimits(max_field_chars=10))
    assert [(i.locator, i.reason_code) for i in long if isinstance(i, ParseIssue)] == [
        ("row 1", "limits.field_too_large")
    ]
