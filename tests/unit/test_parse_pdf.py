"""PDF: a record per page with text, running headers and footers dropped, hyphenated line ends joined, document
metadata; encrypted, scanned and damaged files fail with their own reason; no crash on crafted structures."""

import io

import pytest

from shared.domain import ParseIssue, PermanentError, Record
from shared.parsing import ParseLimits, parse, sniff_content_type
from tests.support.pdf import build_pdf, encrypted_pdf, page_stream, text_pdf

LIMITS = ParseLimits()
REPORT = text_pdf(
    [
        ["Ada Lovelace works at Acme Labs. The reader was im-", "plemented in Paris by Acme-", "Labs staff."],
        ["Grace Hopper joined Globex Corporation."],
        ["Project Heron launches in Lisbon."],
    ],
    {"Title": "Heron report", "Author": "Ada Lovelace", "CreationDate": "D:20240501093000Z"},
    header="ACME CONFIDENTIAL",
    footer="Page {page} of 3",
)


def parsed(data: bytes, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse(io.BytesIO(data), sniff_content_type(data[:8192], "f.pdf"), limits))


def reason_of(data: bytes) -> str:
    with pytest.raises(PermanentError) as raised:
        parsed(data)
    return raised.value.reason_code


def test_each_page_is_a_record_without_running_headers_footers_or_line_end_hyphens():
    result = parsed(REPORT)
    assert [(r.locator, r.text) for r in result if isinstance(r, Record)] == [
        ("page 1", "Ada Lovelace works at Acme Labs. The reader was implemented in Paris by Acme-Labs staff."),
        ("page 2", "Grace Hopper joined Globex Corporation."),
        ("page 3", "Project Heron launches in Lisbon."),
    ]
    first = result[0]
    assert isinstance(first, Record)
    assert first.metadata == {"title": "Heron report", "author": "Ada Lovelace", "created": "2024-05-01T09:30:00"}


def test_a_line_on_only_some_pages_is_text_not_a_header():
    data = text_pdf([["Acme Labs", "one"], ["two"], ["Acme Labs", "three"], ["four"], ["five"]])
    texts = [r.text for r in parsed(data) if isinstance(r, Record)]
    assert texts == ["Acme Labs\none", "two", "Acme Labs\nthree", "four", "five"]


def test_an_encrypted_pdf_opens_with_the_empty_password_or_fails_encrypted():
    assert [r.text for r in parsed(encrypted_pdf(REPORT, "")) if isinstance(r, Record)][1] == (
        "Grace Hopper joined Globex Corporation."
    )
    assert reason_of(encrypted_pdf(REPORT, "secret")) == "parse.pdf.encrypted"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (build_pdf([b""] * 5), "parse.pdf.no_text"),  # pages without a text layer: a scan
        (build_pdf([page_stream(["x"])], kids_override=b"2 0 R"), "parse.pdf.no_text"),  # a page tree that is its kid
        (REPORT[: len(REPORT) // 2], "parse.pdf.malformed"),
        (b"%PDF-1.4\n" + b"garbage " * 100, "parse.pdf.malformed"),
    ],
)
def test_scanned_damaged_and_crafted_pdfs_fail_with_their_reason(data: bytes, reason: str):
    assert reason_of(data) == reason


def test_a_broken_cross_reference_is_repaired_by_the_reader():
    data = build_pdf([page_stream(["hello from a broken xref"])])
    data = data[: data.rindex(b"startxref")] + b"startxref\n9\n%%EOF\n"
    assert [r.text for r in parsed(data) if isinstance(r, Record)] == ["hello from a broken xref"]


def test_a_page_past_the_record_cap_is_an_issue_and_the_rest_read():
    data = text_pdf([["x" * 90] * 3, ["short page"]])
    result = parsed(data, ParseLimits(max_record_chars=100))
    assert [(i.locator, i.reason_code) for i in result if isinstance(i, ParseIssue)] == [
        ("page 1", "limits.record_too_large")
    ]
    assert [r.text for r in result if isinstance(r, Record)] == ["short page"]


def test_a_stream_that_inflates_past_the_caps_is_refused_before_pdfium_reads_it():
    from tests.support.pdf import flate_bomb_pdf

    small = flate_bomb_pdf(2 << 20)
    assert [r.text for r in parsed(small) if isinstance(r, Record)] == ["hello bomb"]
    with pytest.raises(PermanentError) as raised:
        parsed(small, ParseLimits(max_document_bytes=1 << 20))
    assert raised.value.reason_code == "limits.decompressed_too_large"
    with pytest.raises(PermanentError) as raised:
        parsed(small, ParseLimits(max_decompressed_bytes=1 << 20))
    assert raised.value.reason_code == "limits.decompressed_too_large"
