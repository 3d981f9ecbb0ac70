"""CSV / TSV parsing (shared/parsing/delimited.py)."""

import contextlib
import csv
import io
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import ParseIssue, PermanentError, Record, TributaryError
from shared.parsing import encoding, parse
from shared.parsing.delimited import (
    formula_columns,
    may_hold_formulas,
    parse_delimited,
    parse_tsv,
    sniff_delimiter,
)
from shared.parsing.encoding import LineTooLongError, open_line_batches, open_text
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.records import NO_ENTRIES, row_record

LIMITS = ParseLimits()
DEFAULT = ParseOptions()


def run(data: bytes, options: ParseOptions = DEFAULT, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse_delimited(io.BytesIO(data), options, limits))


def records(data: bytes, options: ParseOptions = DEFAULT, limits: ParseLimits = LIMITS) -> list[Record]:
    return [item for item in run(data, options, limits) if isinstance(item, Record)]


def issues(data: bytes, options: ParseOptions = DEFAULT, limits: ParseLimits = LIMITS) -> list[tuple[str, str]]:
    return [(item.locator, item.reason_code) for item in run(data, options, limits) if isinstance(item, ParseIssue)]


def failure(data: bytes, options: ParseOptions = DEFAULT, limits: ParseLimits = LIMITS) -> str:
    with pytest.raises(PermanentError) as raised:
        run(data, options, limits)
    return raised.value.reason_code


class Generated(io.RawIOBase):
    """`size` bytes of `fill` after a head, produced on demand so the test itself holds none of it."""

    def __init__(self, head: bytes, size: int, fill: bytes = b"x") -> None:
        self._head, self._left, self._fill = head, size, fill

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count], self._head = self._head[:count], self._head[count:]
            return count
        count = min(len(buffer), self._left)
        buffer[:count] = self._fill[:1] * count
        self._left -= count
        return count


# --- rows, header, text -------------------------------------------------------------------------------------


def test_rows_become_records_with_verbatim_fields_and_header_value_text():
    # GIVEN a header, a quoted cell with the delimiter, padded cells and a blank line
    data = 'name,company,city\nAda,"Acme, Inc", Paris \n\nBob,Globex,"São Paulo"\n'.encode()
    # WHEN parsed
    result = records(data)
    # THEN cells are kept verbatim, the text joins stripped non-empty cells, locators are physical lines
    assert [r.locator for r in result] == ["row 2", "row 4"]
    assert result[0].fields == {"name": "Ada", "company": "Acme, Inc", "city": " Paris "}
    assert result[0].text == "name: Ada; company: Acme, Inc; city: Paris"
    assert result[1].text == "name: Bob; company: Globex; city: São Paulo"


def test_the_locator_is_the_line_a_row_starts_on_even_after_multiline_cells():
    data = b'id,bio\n1,"one\ntwo\nthree"\n2,short\n'
    assert [(r.locator, r.fields["bio"]) for r in records(data)] == [("row 2", "one\ntwo\nthree"), ("row 5", "short")]


def test_empty_cells_are_kept_in_fields_but_left_out_of_the_text():
    [record] = records(b"a,b,c\n1,,3\n")
    assert record.fields == {"a": "1", "b": "", "c": "3"}
    assert record.text == "a: 1; c: 3"


def test_without_a_header_columns_are_numbered():
    result = records(b"1,2\n3,4\n", ParseOptions(has_header=False))
    assert [(r.locator, r.fields) for r in result] == [
        ("row 1", {"column_1": "1", "column_2": "2"}),
        ("row 2", {"column_1": "3", "column_2": "4"}),
    ]


def test_blank_and_duplicate_header_names_are_made_unique_and_reported():
    # GIVEN a header with a repeated name, blanks and a name padded with spaces
    data = b"name,,name, name ,\n1,2,3,4,5\n"
    # WHEN parsed
    result = run(data)
    # THEN the names are unique, and one issue on the header row lists the renames
    assert result[0] == ParseIssue(
        locator="row 1",
        reason_code="parse.csv.header_renamed",
        detail="blank or duplicate header names renamed: '' -> 'column_2', 'name' -> 'name_2', "
        "'name' -> 'name_3', '' -> 'column_5'",
    )
    assert isinstance(result[1], Record)
    assert result[1].fields == {"name": "1", "column_2": "2", "name_2": "3", "name_3": "4", "column_5": "5"}


def test_a_header_only_file_and_an_empty_file_yield_nothing():
    assert run(b"a,b,c\n") == []
    assert run(b"") == []
    assert run(b"\n\r\n\n") == []


def test_a_utf8_bom_is_not_part_of_the_first_column_name():
    assert records(b"\xef\xbb\xbfid,name\n1,Ada\n")[0].fields == {"id": "1", "name": "Ada"}


# --- delimiters and quoting ------------------------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed_among_the_usual_four(delimiter: str):
    data = delimiter.join(["id", "name", "city"]) + "\n" + delimiter.join(["1", "Ada", "Paris"]) + "\n"
    assert records(data.encode())[0].fields == {"id": "1", "name": "Ada", "city": "Paris"}


def test_decimal_commas_do_not_fool_the_sniffer_when_semicolons_split_the_rows():
    data = b"id;name;amount\n1;Ada;1,50\n2;Bob;2,75\n"
    assert [r.fields["amount"] for r in records(data)] == ["1,50", "2,75"]


def test_an_unsniffable_sample_falls_back_to_a_comma():
    assert sniff_delimiter("single\ncolumn\n") == ","
    assert sniff_delimiter("") == ","
    assert records(b"word\nhello\n")[0].fields == {"word": "hello"}


def test_the_option_and_the_tsv_entry_point_force_the_delimiter():
    data = b"a;b\tc\n1;2\t3\n"
    assert records(data, ParseOptions(delimiter="\t"))[0].fields == {"a;b": "1;2", "c": "3"}
    assert [r.fields for r in parse_tsv(io.BytesIO(data), DEFAULT, LIMITS) if isinstance(r, Record)] == [
        {"a;b": "1;2", "c": "3"}
    ]


@pytest.mark.parametrize("delimiter", ["", ";;", '"', "\n", "\r"])
def test_a_delimiter_option_that_is_not_one_plain_character_is_refused(delimiter: str):
    assert failure(b"a,b\n1,2\n", ParseOptions(delimiter=delimiter)) == "parse.csv.invalid_delimiter"


def test_quotes_escape_delimiters_newlines_and_doubled_quotes():
    [record] = records(b'id,quote\n1,"He said ""hi"", then\nleft"\n')
    assert record.fields["quote"] == 'He said "hi", then\nleft'


def test_an_unclosed_quote_swallows_the_rest_of_the_file_into_one_capped_cell():
    [record] = records(b'id,name\n1,"never closed\n2,Bob\n')
    assert record.fields == {"id": "1", "name": "never closed\n2,Bob\n"}
    assert failure(b'id,name\n1,"never closed\n' + b"x" * 100, limits=ParseLimits(max_field_chars=50)) == (
        "limits.field_too_large"
    )


def test_mixed_newlines_all_end_rows():
    data = b'id,name\r\n1,Ada\n2,Bob\r3,Cy\r\n4,"multi\rline"\n'
    result = records(data)
    assert [(r.locator, r.fields["name"]) for r in result] == [
        ("row 2", "Ada"),
        ("row 3", "Bob"),
        ("row 4", "Cy"),
        ("row 5", "multi\rline"),
    ]


# --- ragged rows, NULs, formulas ---------------------------------------------------------------------------------


def test_ragged_rows_keep_every_cell_and_are_reported_per_row():
    # GIVEN one row longer and one shorter than the header
    data = b"a,b\n1,2,3\n4\n5,6\n"
    # WHEN parsed
    result = run(data)
    # THEN extra cells get positional names, missing ones are empty, and each odd row has its own issue
    assert [(item.locator, getattr(item, "reason_code", None) or item.fields) for item in result] == [
        ("row 2", "parse.csv.ragged_row"),
        ("row 2", {"a": "1", "b": "2", "column_3": "3"}),
        ("row 3", "parse.csv.ragged_row"),
        ("row 3", {"a": "4", "b": ""}),
        ("row 4", {"a": "5", "b": "6"}),
    ]
    assert result[0].detail == "3 cells where the header has 2"  # type: ignore[union-attr]


def test_extra_cells_never_overwrite_a_real_column_named_like_a_position():
    [_, record] = run(b"column_3,b\n1,2,3\n")
    assert isinstance(record, Record)
    assert record.fields == {"column_3": "1", "b": "2", "column_3_2": "3"}


def test_a_nul_is_replaced_and_reported_on_the_row_it_is_in():
    # GIVEN a NUL in the third data row, after enough rows that the sniff sample is behind it
    data = b"id,name\n" + b"".join(b"%d,n\n" % n for n in range(30)) + b"30,Ev\x00il\n31,ok\n"
    # WHEN parsed
    result = run(data)
    # THEN the row keeps its other text, the NUL becomes U+FFFD, and only that row is reported
    assert issues(data) == [("row 32", "parse.csv.nul_byte")]
    nul_row = next(r for r in result if isinstance(r, Record) and r.locator == "row 32")
    assert nul_row.fields == {"id": "30", "name": "Ev\ufffdil"}


def test_a_nul_inside_the_sniff_sample_is_still_reported_on_its_own_row():
    assert issues(b"a,b\n1,2\nx\x00,y\n3,4\n") == [("row 3", "parse.csv.nul_byte")]


@pytest.mark.parametrize(
    ("cell", "flagged"),
    [
        ("=SUM(A1:A3)", True),
        ('=HYPERLINK("http://evil")', True),
        ("+A1", True),
        ("-cmd", True),
        ("@SUM(A1)", True),
        ("=(1+2)", True),
        ("\tleading tab", True),
        ("\rleading CR", True),
        ("-12.5", False),
        ("+33 1 23 45", False),
        ("=1+2", False),
        ("a=b", False),
        ("", False),
        ("@", False),
    ],
)
def test_formula_looking_cells_are_kept_verbatim_and_flagged(cell: str, flagged: bool):
    assert formula_columns({"c": cell}) == (["c"] if flagged else [])


def test_flagged_formula_columns_are_listed_in_the_record_metadata():
    [record] = records(b'id,note,total\n1,=HYPERLINK("http://x"),=SUM(A1:A9)\n')
    assert record.fields["total"] == "=SUM(A1:A9)"
    assert record.metadata == {"formula_cells": "note,total"}
    [plain] = records(b"id,note\n1,fine\n")
    assert plain.metadata == {}


# --- encodings --------------------------------------------------------------------------------------------------


def test_a_latin1_file_is_read_with_a_file_level_warning_first():
    result = run("name,city\nRené,Zürich\n".encode("cp1252"))
    assert result[0] == ParseIssue(
        locator="file",
        reason_code="parse.encoding.latin1_fallback",
        detail="not UTF-8; decoded as cp1252 (Windows Latin-1)",
    )
    assert isinstance(result[1], Record)
    assert result[1].fields == {"name": "René", "city": "Zürich"}


def test_utf16_without_a_bom_is_parsed():
    assert records("id,name\n1,Zoë\n".encode("utf-16-le"))[0].fields == {"id": "1", "name": "Zoë"}


def test_invalid_utf8_later_in_the_file_fails_it():
    assert failure(b"a,b\n" + b"1,2\n" * 20_000 + b"\xff,3\n") == "parse.text.decode_error"


# --- caps -------------------------------------------------------------------------------------------------------


def test_a_field_over_the_cap_fails_the_file():
    assert failure(b"a,b\n1," + b"x" * 101 + b"\n", limits=ParseLimits(max_field_chars=100)) == "limits.field_too_large"
    assert len(records(b"a,b\n1," + b"x" * 100 + b"\n", limits=ParseLimits(max_field_chars=100))[0].fields["b"]) == 100


def test_a_50_mb_single_line_is_refused_by_the_field_cap_without_being_held():
    # GIVEN a 50 MB file that is one line of one field, produced lazily
    stream = io.BufferedReader(Generated(b"a\n", 50_000_000))
    tracemalloc.start()
    try:
        # WHEN parsed with the default caps
        with pytest.raises(PermanentError) as raised:
            list(parse_delimited(stream, DEFAULT, LIMITS))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # THEN the field cap refuses it, having held only a fraction of it
    assert raised.value.reason_code == "limits.field_too_large"
    assert peak < 30_000_000


def test_a_long_line_of_small_cells_is_refused_by_the_line_cap():
    limits = ParseLimits(max_line_chars=1000)
    assert failure(b"a\n" + b"x," * 1000 + b"\n", limits=limits) == "limits.line_too_long"


def test_a_row_spanning_many_lines_is_capped_as_a_whole():
    limits = ParseLimits(max_line_chars=1000, max_field_chars=600)
    cell = b'"' + b"y\n" * 250 + b'"'  # 500 characters over 250 lines: under the field cap
    data = b"a,b,c\n" + b",".join([cell, cell, cell]) + b"\n"
    assert failure(data, limits=limits) == "limits.row_too_large"


def test_cells_past_the_field_count_cap_are_dropped_and_reported():
    limits = ParseLimits(max_fields=3)
    result = run(b"a,b,c,d,e\n1,2,3,4,5\n", limits=limits)
    assert [(item.locator, item.reason_code) for item in result if isinstance(item, ParseIssue)] == [
        ("row 1", "limits.too_many_fields"),
        ("row 2", "limits.too_many_fields"),
    ]
    assert [item.fields for item in result if isinstance(item, Record)] == [{"a": "1", "b": "2", "c": "3"}]


def test_the_process_wide_csv_field_cap_is_restored_after_a_parse():
    before = csv.field_size_limit()
    run(b"a\n1\n", limits=ParseLimits(max_field_chars=77))
    assert csv.field_size_limit() == before
    rows = parse_delimited(io.BytesIO(b"a\n1\n2\n"), DEFAULT, ParseLimits(max_field_chars=77))
    next(rows)
    assert csv.field_size_limit() == 77
    rows.close()
    assert csv.field_size_limit() == before


def test_the_record_cap_applies_through_parse():
    data = b"a\n" + b"1\n" * 10
    with pytest.raises(PermanentError) as raised:
        list(parse(io.BytesIO(data), "text/csv", ParseLimits(max_records=3)))
    assert raised.value.reason_code == "limits.too_many_records"


# --- properties -------------------------------------------------------------------------------------------------

SMALL = ParseLimits(max_field_chars=200, max_line_chars=800, max_fields=8)
nasty_cell = st.text(alphabet=st.sampled_from(list('ab,;\t|"\r\n\x00=+-@ é€\ufeff')), max_size=30)


def check_caps(items: list[Record | ParseIssue], limits: ParseLimits) -> None:
    for item in items:
        if isinstance(item, Record):
            assert len(item.fields) <= limits.max_fields
            assert all(len(value) <= limits.max_field_chars for value in item.fields.values())
            assert item.locator.startswith("row ")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000), st.booleans())
def test_arbitrary_bytes_raise_only_project_errors(data: bytes, has_header: bool):
    with contextlib.suppress(TributaryError):
        check_caps(run(data, ParseOptions(has_header=has_header), SMALL), SMALL)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(nasty_cell, min_size=1, max_size=10), max_size=12), st.sampled_from(["utf-8", "utf-16"]))
def test_nasty_structured_csv_raises_only_project_errors_and_respects_caps(rows: list[list[str]], codec: str):
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    with contextlib.suppress(TributaryError):
        check_caps(run(buffer.getvalue().encode(codec, "replace"), limits=SMALL), SMALL)


plain_cell = st.text(alphabet=st.characters(blacklist_characters="\x00\r", blacklist_categories=("Cs",)), max_size=20)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(plain_cell, min_size=3, max_size=3), min_size=1, max_size=10))
def test_cells_written_by_csv_writer_read_back_verbatim(rows: list[list[str]]):
    # GIVEN rows written by the csv module under a fixed header
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(["x", "y", "z"])
    writer.writerows(rows)
    # WHEN read back with the delimiter given
    result = records(buffer.getvalue().encode(), ParseOptions(delimiter=","))
    # THEN every row that has a non-blank cell comes back unchanged
    expected = [dict(zip("xyz", row, strict=True)) for row in rows if any(cell.strip() for cell in row)]
    assert [record.fields for record in result] == expected


def test_rows_in_the_sniffing_sample_are_capped_one_by_one():
    # GIVEN 30 short rows that together exceed the row cap, and a file whose third row alone exceeds it
    limits = ParseLimits(max_line_chars=100)
    short_rows = b"a,b\n" + b"".join(b"%02d,ok\n" % n for n in range(30))
    long_row = b'a,b\n1,"' + b"y\n" * 60 + b'"\n'
    # WHEN parsed THEN only a row over the cap fails the file (the sample is not one row)
    assert len(records(short_rows, limits=limits)) == 30
    assert failure(long_row, limits=limits) == "limits.row_too_large"


def test_a_row_spanning_batches_is_capped_as_a_whole():
    # GIVEN batches of 64 bytes and a quoted cell running over many of them
    limits = ParseLimits(max_line_chars=1000, max_field_chars=600)
    cell = b'"' + b"y\n" * 250 + b'"'
    data = b"a,b,c\n" + b",".join([cell, cell, cell]) + b"\n"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(encoding, "BATCH_BYTES", 64)
        # THEN the row is refused as a whole, and one under the cap keeps its place
        assert failure(data, limits=limits) == "limits.row_too_large"
        assert [r.locator for r in records(b"a,b\n1," + cell + b"\n2,x\n", limits=limits)] == ["row 2", "row 253"]


@pytest.mark.parametrize(
    ("text", "delimiter", "possible"),
    [
        ("a,b\n1,2\n", ",", False),
        ("a,b\n1,=SUM(A1)\n", ",", True),
        ("a,b\n1,2024-01-05\n", ",", True),  # no real formula, but a '-': the rows are checked one by one
        ("a\tb\n1\t2\n", "\t", False),  # tabs that are delimiters start no cell
        ('a\tb\n1\t"\tx"\n', "\t", True),
        ("a,b\r\n1,2\r\n", ",", False),  # CRs that end lines start no cell
        ('a,b\r\n1,"\rx"\r\n', ",", True),
    ],
)
def test_the_formula_prefilter_only_ever_errs_towards_checking(text: str, delimiter: str, possible: bool):
    assert may_hold_formulas(text, delimiter) == possible


def test_line_batches_keep_the_text_they_were_cut_from():
    # GIVEN lines cut across reads of 8 bytes
    data = "id,name\r\n1,Zoë\r2,\u2028x\n3,\x85y\n".encode()
    batches, _ = open_line_batches(io.BytesIO(data), DEFAULT, LIMITS, batch_bytes=8)
    seen = list(batches)
    # THEN the lines are open_text's, and each batch's text holds every line of it but the first
    assert [line for lines, _ in seen for line in lines] == list(open_text(io.BytesIO(data), DEFAULT, newline="")[0])
    assert all(line in text for lines, text in seen for line in lines[1:])


lines_text = st.lists(
    st.sampled_from(["a", "é", "€", ",", '"', "\n", "\r", "\r\n", "\x85", "\u2028", "\v"]), max_size=80
)


@settings(max_examples=200, deadline=None)
@given(lines_text, st.integers(min_value=1, max_value=40), st.sampled_from([3, 7, 50, 8 << 20]), st.booleans())
def test_line_batches_cut_lines_as_open_text_does_for_any_batch_size(
    pieces: list[str], batch_bytes: int, max_line_chars: int, utf16: bool
):
    data = "".join(pieces).encode("utf-16" if utf16 else "utf-8")
    limits = ParseLimits(max_line_chars=max_line_chars)

    def outcome(lines: Iterator[str]) -> list[object]:
        seen: list[object] = []
        try:
            seen.extend(lines)
        except LineTooLongError as error:
            seen.append((error.line_number, error.partial))
        return seen

    batches, _ = open_line_batches(io.BytesIO(data), DEFAULT, limits, batch_bytes=batch_bytes)
    expected = outcome(open_text(io.BytesIO(data), DEFAULT, limits, newline="")[0])
    assert outcome(line for lines, _ in batches for line in lines) == expected


batch_cell = st.sampled_from(
    ["a", "b", "", " ", "1", "-1", "=SUM(A1)", "+A", "@x", "\tx", "\rx", "x\ny", "é€", "\x00", "z\n" * 40]
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(batch_cell, min_size=1, max_size=5), max_size=40),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from([1, 16, 200]),
    st.sampled_from([ParseLimits(), ParseLimits(max_line_chars=120, max_field_chars=40, max_fields=4)]),
)
def test_records_and_issues_do_not_depend_on_the_batch_size(
    rows: list[list[str]], newline: str, batch_bytes: int, limits: ParseLimits
):
    # GIVEN a file with odd cells (formulas, NULs, multi-line cells, ragged rows) and any line ends
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=newline).writerows(rows)
    data = buffer.getvalue().encode()

    def outcome() -> tuple[list[Record | ParseIssue], str | None]:
        items: list[Record | ParseIssue] = []
        try:
            items.extend(parse_delimited(io.BytesIO(data), DEFAULT, limits))
        except PermanentError as error:
            return items, error.reason_code
        return items, None

    # WHEN parsed in one batch and in batches of a few bytes
    whole = outcome()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(encoding, "BATCH_BYTES", batch_bytes)
        batched = outcome()
    # THEN the outcome is the same, and every formula cell is flagged whatever batch it came in
    assert batched == whole
    for item in whole[0]:
        if isinstance(item, Record):
            assert item.metadata.get("formula_cells", "") == ",".join(formula_columns(item.fields))


def test_records_built_in_the_row_loops_equal_ones_built_by_name():
    # GIVEN the same values built positionally in C and by keyword
    fast = row_record(("a: 1", "row 2", {"a": "1"}, NO_ENTRIES, (), ()))
    named = Record(text="a: 1", locator="row 2", fields={"a": "1"})
    # THEN they are the same kind of record with the same value in every field
    assert type(fast) is Record
    assert fast._asdict() == named._asdict()
