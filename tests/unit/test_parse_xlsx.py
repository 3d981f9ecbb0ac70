"""Excel workbooks: one record per row per sheet, typed cells as text, 'Sheet!row N' locators, the sheet selector
and the column rules of CSV, and the zip caps of every Office package."""

import datetime
import io
import zipfile

import pytest

from shared.domain import ParseIssue, PermanentError, Record
from shared.parsing import ParseLimits, ParseOptions, parse
from shared.parsing.options import ColumnRelation
from tests.support.office import xlsx

LIMITS = ParseLimits()


def parsed(data: bytes, options: ParseOptions | None = None, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse(io.BytesIO(data), "application/zip", limits, options))


def records(data: bytes, options: ParseOptions | None = None) -> list[Record]:
    return [item for item in parsed(data, options) if isinstance(item, Record)]


def reason_of(data: bytes, options: ParseOptions | None = None, limits: ParseLimits = LIMITS) -> str:
    with pytest.raises(PermanentError) as raised:
        parsed(data, options, limits)
    return raised.value.reason_code


STAFF = {
    "People": [
        ["name", "company", "manager", "start", "desk", "rate", "remote"],
        ["Ada Lovelace", "Acme Labs", None, datetime.date(2024, 5, 1), 12, 0.5, True],
        [None, None, None, None, None, None, None],
        ["Grace Hopper", "Acme Labs", "Ada Lovelace", datetime.datetime(2024, 5, 2, 9, 30), 14, 1.25, False],
    ],
    "Notes": [["topic"], ["Kestrel budget"]],
}


def test_rows_become_records_with_typed_cells_and_sheet_locators():
    # GIVEN a workbook of two sheets, with a blank row between two people
    result = records(xlsx(STAFF))
    # THEN each non-empty row is a record located by sheet and row, its header naming the fields
    assert [r.locator for r in result] == ["People!row 2", "People!row 4", "Notes!row 2"]
    assert dict(result[0].fields) == {
        "name": "Ada Lovelace",
        "company": "Acme Labs",
        "manager": "",
        "start": "2024-05-01",
        "desk": "12",
        "rate": "0.5",
        "remote": "true",
    }
    assert result[1].fields["start"] == "2024-05-02T09:30:00"
    assert result[0].text == (
        "name: Ada Lovelace; company: Acme Labs; start: 2024-05-01; desk: 12; rate: 0.5; remote: true"
    )
    assert result[2].metadata == {"sheet": "Notes"}


def test_a_formula_is_read_as_its_cached_value_never_evaluated():
    from openpyxl import load_workbook

    # GIVEN a workbook whose formula cell carries the value Excel cached (openpyxl writes no cache: add one)
    data = xlsx({"S": [["a", "b", "sum"], [1, 2, "=A2+B2"]]})
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = part.replace(b"<f>A2+B2</f><v></v>", b"<f>A2+B2</f><v>3</v>")
                part = part.replace(b"<f>A2+B2</f><v />", b"<f>A2+B2</f><v>3</v>")
            target.writestr(info, part)
    assert load_workbook(io.BytesIO(buffer.getvalue()), data_only=True)["S"]["C2"].value == 3
    # THEN the record holds the cached 3
    assert records(buffer.getvalue())[0].fields["sum"] == "3"


def test_the_sheet_selector_and_column_rules_declare_entities_and_relations_as_for_csv():
    options = ParseOptions(
        sheet="people",
        id_column="name",
        entity_columns={"name": "Person", "company": "Organization", "manager": "Person"},
        relations=[
            ColumnRelation(source="name", type="WORKS_FOR", target="company"),
            ColumnRelation(source="name", type="REPORTS_TO", target="manager"),
        ],
    )
    result = records(xlsx(STAFF), options)
    assert [r.locator for r in result] == ["People!row 2 (id=Ada Lovelace)", "People!row 4 (id=Grace Hopper)"]
    grace = result[1]
    assert {(m.type, m.name) for m in grace.mentions} == {
        ("Person", "Grace Hopper"),
        ("Organization", "Acme Labs"),
        ("Person", "Ada Lovelace"),
    }
    assert {(link.source.name, link.type, link.target.name) for link in grace.links} == {
        ("Grace Hopper", "WORKS_FOR", "Acme Labs"),
        ("Grace Hopper", "REPORTS_TO", "Ada Lovelace"),
    }
    assert reason_of(xlsx(STAFF), ParseOptions(sheet="Missing")) == "parse.office.sheet_not_found"


def test_headerless_sheets_duplicate_headers_and_wide_rows():
    data = xlsx({"S": [["id", "id", None, "x"], [1, 2, 3, 4, 5]]})
    result = parsed(data)
    assert [i.reason_code for i in result if isinstance(i, ParseIssue)] == ["parse.csv.header_renamed"]
    assert dict(next(r for r in result if isinstance(r, Record)).fields) == {
        "id": "1",
        "id_2": "2",
        "column_3": "3",
        "x": "4",
        "column_5": "5",
    }
    headerless = records(xlsx({"S": [["a", "b"]]}), ParseOptions(has_header=False))
    assert [dict(r.fields) for r in headerless] == [{"column_1": "a", "column_2": "b"}]


def test_cells_past_the_caps_are_issues_not_crashes():
    data = xlsx({"S": [["a"], ["x" * 300], ["ok"]]})
    result = parsed(data, limits=ParseLimits(max_field_chars=200))
    assert [(i.locator, i.reason_code) for i in result if isinstance(i, ParseIssue)] == [
        ("S!row 2", "limits.field_too_large")
    ]
    assert [r.text for r in result if isinstance(r, Record)] == ["a: ok"]
    wide = parsed(xlsx({"S": [list(range(5)), list(range(5))]}), limits=ParseLimits(max_fields=3))
    assert {i.reason_code for i in wide if isinstance(i, ParseIssue)} == {"limits.too_many_fields"}


def rewritten(data: bytes, name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info.filename, source.read(info))
        if content:
            target.writestr(name, content)
    return buffer.getvalue()


def test_a_damaged_or_crafted_workbook_fails_with_its_reason():
    good = xlsx({"S": [["a"], [1]]})
    sheet = "xl/worksheets/sheet1.xml"
    entity = b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY e "x">]><worksheet/>'
    assert reason_of(rewritten(good, sheet, entity)) == "parse.xml.entities_forbidden"
    assert reason_of(rewritten(good, sheet, b'<!DOCTYPE w SYSTEM "http://x/y.dtd"><w/>')) == "parse.xml.dtd_forbidden"
    assert reason_of(rewritten(good, "xl/workbook.xml", b"")) == "parse.office.malformed"
    assert reason_of(rewritten(good, sheet, b"<worksheet><sheetData><row>")) == "parse.office.malformed"
    # a part that inflates past the ratio cap: the package's caps, before openpyxl reads a byte of it
    bomb = rewritten(good, sheet, b"<worksheet>" + b" " * (4 << 20) + b"</worksheet>")
    assert reason_of(bomb) == "parse.zip.ratio_exceeded"
    assert reason_of(good, limits=ParseLimits(max_decompressed_bytes=1000)) == "limits.decompressed_too_large"
    assert reason_of(good, limits=ParseLimits(max_archive_members=3)) == "limits.too_many_members"


def test_a_row_number_far_ahead_is_read_at_once_not_walked_to():
    # GIVEN a sheet whose second row claims number 1,000,000,000 and a dimension to match
    good = xlsx({"S": [["a"], ["first"]]})
    sheet = (
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<dimension ref="A1:XFD1000000000"/><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c></row>'
        b'<row r="1000000000"><c r="A1000000000" t="inlineStr"><is><t>far</t></is></c></row>'
        b"</sheetData></worksheet>"
    )
    # WHEN parsed THEN the far row is read with its own number, at once
    result = records(rewritten(good, "xl/worksheets/sheet1.xml", sheet))
    assert [(r.locator, r.text) for r in result] == [("S!row 1000000000", "a: far")]
