"""Word documents: paragraphs under their heading path, table rows with the header's names as fields, images
skipped with one issue, the package caps and DTD refusal of every Office file."""

import io
import struct
import zipfile
import zlib

import pytest
from docx.document import Document

from shared.domain import ParseIssue, PermanentError, Record
from shared.parsing import ParseLimits, parse
from tests.support.office import docx_bytes

LIMITS = ParseLimits()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# A 1x1 RGB PNG, for an inline picture (python-docx reads its header itself).
PNG = (
    b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    + chunk(b"IEND", b"")
)


def parsed(data: bytes, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse(io.BytesIO(data), "application/zip", limits))


def plan(document: Document) -> None:
    document.core_properties.title = "Heron plan"
    document.core_properties.author = "Ada Lovelace"
    document.add_heading("Project Heron", 0)
    document.add_paragraph("Acme Labs builds the reader.")
    document.add_heading("Team", 1)
    document.add_paragraph("Grace Hopper leads the work.")
    document.add_heading("Budget", 2)
    table = document.add_table(rows=3, cols=2)
    for row, values in enumerate([("item", "cost"), ("Servers", "1200"), ("", "")]):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    document.add_heading("Risks", 1)
    document.add_paragraph("None known.\n\n")


def test_paragraphs_carry_their_heading_path_and_table_rows_their_header_names():
    result = parsed(docx_bytes(plan))
    assert [(r.locator, r.text, r.metadata.get("section")) for r in result if isinstance(r, Record)] == [
        ("paragraph 2", "Acme Labs builds the reader.", "Project Heron"),
        ("paragraph 4", "Grace Hopper leads the work.", "Project Heron > Team"),
        ("table 1 / row 2", "item: Servers; cost: 1200", "Project Heron > Team > Budget"),
        ("paragraph 7", "None known.", "Project Heron > Risks"),
    ]
    table_row = result[2]
    assert isinstance(table_row, Record)
    assert dict(table_row.fields) == {"item": "Servers", "cost": "1200"}
    assert table_row.metadata["title"] == "Heron plan"
    assert table_row.metadata["author"] == "Ada Lovelace"


def test_images_are_skipped_with_one_issue_and_the_text_kept():
    def with_picture(document: Document) -> None:
        document.add_paragraph("Before the picture.")
        document.add_picture(io.BytesIO(PNG))
        document.add_picture(io.BytesIO(PNG))

    result = parsed(docx_bytes(with_picture))
    assert [(i.locator, i.reason_code) for i in result if isinstance(i, ParseIssue)] == [
        ("document", "parse.office.image_skipped")
    ]
    assert [r.text for r in result if isinstance(r, Record)] == ["Before the picture."]


def test_a_document_part_past_the_whole_read_cap_or_crafted_is_refused():
    data = docx_bytes(plan)
    with pytest.raises(PermanentError) as raised:
        parsed(data, ParseLimits(max_document_bytes=1000))
    assert raised.value.reason_code == "limits.decompressed_too_large"
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(buffer, "w") as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == "word/document.xml":
                part = part.replace(b"?>", b'?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>', 1)
            target.writestr(info, part)
    with pytest.raises(PermanentError) as raised:
        parsed(buffer.getvalue())
    assert raised.value.reason_code == "parse.xml.entities_forbidden"
