"""Text and CSV parsing and sniffing (the formats the foundation needs; the parsers issue adds the rest)."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import PermanentError, Record, TributaryError
from shared.parsing import ParseLimits, ParseOptions, parse, sniff_content_type

LIMITS = ParseLimits()


def records(data: bytes, content_type: str, limits: ParseLimits = LIMITS) -> list[Record]:
    """The records of a parse; its issues (ragged rows, …) are the format parsers' own tests' business."""
    return [item for item in parse(io.BytesIO(data), content_type, limits) if isinstance(item, Record)]


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (b"", "validate.empty_file"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 20, "validate.refused_type"),
        (b"MZ\x90\x00\x03", "validate.refused_type"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "validate.refused_type"),
        (b"name,age\n\x00\x00\x01", "validate.binary_content"),
    ],
)
def test_sniff_refuses_what_it_cannot_ingest(head: bytes, reason: str):
    with pytest.raises(PermanentError) as raised:
        sniff_content_type(head, "file.csv")
    assert raised.value.reason_code == reason


def test_sniff_uses_the_name_only_to_tell_text_flavours_apart():
    assert sniff_content_type(b"a,b\n1,2\n", "x.CSV") == "text/csv"
    assert sniff_content_type(b"# Title\n", "notes.md") == "text/markdown"
    assert sniff_content_type(b"hello", "notes") == "text/plain"
    # not UTF-8 but plainly text (Latin-1): the text parsers fall back, so sniffing does not refuse it
    assert sniff_content_type(b"caf\xe9 au lait", "a.csv") == "text/csv"
    # a multi-byte character cut by the sniff window is still text
    assert sniff_content_type("Zoë".encode()[:3], "a.txt") == "text/plain"


def test_text_yields_paragraphs_with_their_first_line():
    result = records(b"\xef\xbb\xbfFirst line\ncontinues\n\n\n  Second  \r\nthird\n", "text/plain")
    assert [(r.text, r.locator) for r in result] == [
        ("First line continues", "line 1"),
        ("Second third", "line 5"),
    ]


def test_text_with_invalid_utf8_later_in_the_file_fails_with_a_reason():
    data = b"fine paragraph\n\n" + b"x" * 70000 + b"\xff\xfe broken\n"  # past the 64 KB the encoding is read from
    with pytest.raises(PermanentError) as raised:
        records(data, "text/plain")
    assert raised.value.reason_code == "parse.text.decode_error"


def test_csv_rows_become_records_with_fields_and_row_numbers():
    data = 'name,company,city\nAda,"Acme, Inc",Paris\n\nBob,Globex,"São Paulo"\n'.encode()
    result = records(data, "text/csv")
    assert [r.locator for r in result] == ["row 2", "row 4"]
    assert result[0].fields == {"name": "Ada", "company": "Acme, Inc", "city": "Paris"}
    assert result[1].text == "name: Bob; company: Globex; city: São Paulo"


def test_csv_ragged_rows_keep_every_cell():
    result = records(b"a,b\n1,2,3\n4\n", "text/csv")
    assert result[0].fields == {"a": "1", "b": "2", "column_3": "3"}
    assert result[1].fields == {"a": "4", "b": ""}


def test_tsv_uses_tabs():
    assert records(b"a\tb\n1\t2\n", "text/tab-separated-values")[0].fields == {"a": "1", "b": "2"}


def test_caps_are_enforced_with_reason_codes():
    small = ParseLimits(max_records=2, max_field_chars=50)
    with pytest.raises(PermanentError) as too_many:
        records(b"a\n1\n2\n3\n", "text/csv", small)
    assert too_many.value.reason_code == "limits.too_many_records"
    with pytest.raises(PermanentError) as too_wide:
        records(b"a\n" + b"x" * 100 + b"\n", "text/csv", small)
    assert too_wide.value.reason_code == "limits.field_too_large"
    with pytest.raises(PermanentError) as too_long:
        records(b"y" * 100 + b"\n", "text/plain", small)
    assert too_long.value.reason_code == "limits.paragraph_too_large"


@settings(deadline=None)  # a property, not a timing: a loaded CI machine must not fail it
@given(st.binary(max_size=2000), st.sampled_from(["text/plain", "text/csv", "text/markdown"]))
def test_parsers_raise_only_project_errors_and_respect_caps(data: bytes, content_type: str):
    limits = ParseLimits(max_records=20, max_field_chars=300)
    try:
        result = records(data, content_type, limits)
    except TributaryError:
        return
    assert len(result) <= limits.max_records
    assert all(len(record.text) <= limits.max_field_chars * 2 for record in result)


def test_text_honours_an_encoding_forced_by_the_ingestion_config():
    # GIVEN Latin-1 text and a rule forcing that encoding WHEN parsed THEN it decodes, with nothing to report
    latin1 = "café crème\n".encode("latin-1")
    forced = list(parse(io.BytesIO(latin1), "text/plain", LIMITS, ParseOptions(encoding="latin-1")))
    assert forced == [Record(text="café crème", locator="line 1")]


def test_text_not_in_utf8_from_its_first_bytes_falls_back_to_windows_1252_with_a_warning():
    # GIVEN a Windows-1252 text file with no rule for it
    data = "Café au lait\n\n“Crème” brûlée\n".encode("cp1252")
    # WHEN parsed THEN it decodes, and the guess is reported rather than silent
    items = list(parse(io.BytesIO(data), "text/plain", LIMITS))
    issues = [item.reason_code for item in items if not isinstance(item, Record)]
    assert [r.text for r in items if isinstance(r, Record)] == ["Café au lait", "“Crème” brûlée"]
    assert issues == ["parse.encoding.latin1_fallback"]
