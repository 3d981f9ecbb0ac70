"""JSON and JSON Lines parsing (shared/parsing/jsonish.py)."""

import contextlib
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain import ParseIssue, PermanentError, Record, TributaryError
from shared.parsing import encoding, jsonish, parse
from shared.parsing.jsonish import parse_json, parse_jsonl
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

LIMITS = ParseLimits()
DEFAULT = ParseOptions()


def run(data: bytes, options: ParseOptions = DEFAULT, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse_json(io.BytesIO(data), options, limits))


def run_lines(data: bytes, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse_jsonl(io.BytesIO(data), DEFAULT, limits))


def failure(data: bytes, options: ParseOptions = DEFAULT, limits: ParseLimits = LIMITS) -> PermanentError:
    with pytest.raises(PermanentError) as raised:
        run(data, options, limits)
    return raised.value


def summary(items: list[Record | ParseIssue]) -> list[tuple[str, object]]:
    return [(i.locator, i.fields if isinstance(i, Record) else i.reason_code) for i in items]


class Counting(io.RawIOBase):
    """A stream that remembers how many bytes have been read from it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.read_so_far = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        count = self._data.readinto(buffer)
        self.read_so_far += count
        return count


# --- JSON documents ---------------------------------------------------------------------------------------------


def test_each_item_of_a_top_level_array_is_a_record_with_flattened_leaves():
    # GIVEN an array of nested objects
    data = b'[{"id": 1, "name": "Ada", "address": {"city": "Paris"}, "tags": ["a", "b"], "ok": true, "n": null}]'
    # WHEN parsed
    [record] = run(data)
    # THEN leaves become dotted fields as text, and the text lists the non-empty ones
    assert isinstance(record, Record)
    assert record.locator == "$[0]"
    assert record.fields == {
        "id": "1",
        "name": "Ada",
        "address.city": "Paris",
        "tags.0": "a",
        "tags.1": "b",
        "ok": "true",
        "n": "",
    }
    assert record.text == "id: 1; name: Ada; address.city: Paris; tags.0: a; tags.1: b; ok: true"


def test_scalar_items_are_records_of_one_value_and_empty_items_are_skipped():
    assert summary(run(b'[5, "s", {}, [], null, [1, [2]]]')) == [
        ("$[0]", {"value": "5"}),
        ("$[1]", {"value": "s"}),
        ("$[5]", {"0": "1", "1.0": "2"}),
    ]


def test_a_top_level_object_is_one_record():
    assert summary(run(b'{"title": "Report", "meta": {"pages": 3}}')) == [("$", {"title": "Report", "meta.pages": "3"})]


def test_a_top_level_scalar_is_one_record():
    assert summary(run(b'"just text"')) == [("$", {"value": "just text"})]


def test_record_path_picks_the_items_of_a_nested_array():
    # GIVEN records under "items", and another "items" deeper that must not match
    data = b'{"meta": {"items": [0]}, "items": [{"a": 1}, {"a": 2}], "tail": 1}'
    # WHEN parsed with the ijson prefix of the records
    result = run(data, ParseOptions(record_path="items.item"))
    # THEN only those items are records, located by their JSON path
    assert summary(result) == [("$.items[0]", {"a": "1"}), ("$.items[1]", {"a": "2"})]


def test_record_path_through_several_arrays_locates_each_item_exactly():
    data = b'{"groups": [{"rows": [{"v": 1}]}, {"rows": [{"v": 2}, {"v": 3}]}]}'
    result = run(data, ParseOptions(record_path="groups.item.rows.item"))
    assert [r.locator for r in result] == ["$.groups[0].rows[0]", "$.groups[1].rows[0]", "$.groups[1].rows[1]"]


def test_a_record_path_matching_nothing_is_reported():
    assert summary(run(b'{"x": 1}', ParseOptions(record_path="items.item"))) == [
        ("file", "parse.json.record_path_not_found")
    ]


def test_numbers_keep_their_digits_and_strings_their_text():
    [record] = run(b'[{"price": 2.50, "big": 12345678901234567890, "e": 1e5, "s": "2.50"}]')
    assert isinstance(record, Record)
    assert record.fields == {"price": "2.50", "big": "12345678901234567890", "e": "1E+5", "s": "2.50"}


def test_keys_that_are_not_identifiers_are_quoted_in_the_locator():
    [record] = run(b'{"odd key": [{"x": 1}]}', ParseOptions(record_path="odd key.item"))
    assert record.locator == '$["odd key"][0]'


def test_items_are_streamed_without_reading_the_whole_array():
    # GIVEN a 4 MB array
    stream = Counting(b"[" + b",".join(b'{"n": %d, "pad": "%s"}' % (n, b"x" * 100) for n in range(35_000)) + b"]")
    # WHEN only the first record is taken
    first = next(parse_json(io.BufferedReader(stream), DEFAULT, LIMITS))
    # THEN it came out after a small part of the file was read
    assert isinstance(first, Record)
    assert stream.read_so_far < 300_000


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"[" * 65 + b"]" * 65, "parse.json.too_deep"),
        (b"[" * 10_000 + b"]" * 10_000, "parse.json.too_deep"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "parse.json.too_deep"),
        (b"[1, " + b"9" * 5000 + b"]", "limits.number_too_long"),
        (b"[1." + b"1" * 100 + b"]", "limits.number_too_long"),
        (b'[{"x": NaN}]', "parse.json.invalid"),
        (b'{"x": Infinity}', "parse.json.invalid"),
        (b'{"x": -Infinity}', "parse.json.invalid"),
        (b"[1, 2", "parse.json.invalid"),
        (b"[1] [2]", "parse.json.invalid"),
        (b"{'single': 1}", "parse.json.invalid"),
        (b'[{"a": 1,}]', "parse.json.invalid"),
        (b"", "parse.json.invalid"),
        (b'["' + b"x" * 70_000 + b'caf\xc3"]', "parse.text.decode_error"),  # bad UTF-8 after the detection head
    ],
)
def test_a_broken_or_hostile_document_fails_with_its_reason(data: bytes, reason: str):
    assert failure(data).reason_code == reason


def test_exactly_the_depth_cap_is_allowed():
    assert summary(run(b"[" * 64 + b"1" + b"]" * 64)) == [("$[0]", {"0." * 62 + "0": "1"})]


def test_a_number_of_exactly_max_digits_is_allowed():
    [record] = run(b"[" + b"7" * 100 + b"]")
    assert isinstance(record, Record)
    assert record.fields == {"value": "7" * 100}


def test_depth_is_refused_while_streaming_after_the_good_items_before_it():
    items = parse_json(io.BytesIO(b'[{"a": 1}, ' + b"[" * 100 + b"]" * 100 + b"]"), DEFAULT, LIMITS)
    assert isinstance(next(items), Record)
    with pytest.raises(PermanentError) as raised:
        next(items)
    assert raised.value.reason_code == "parse.json.too_deep"


def test_invalid_json_reports_the_position_reached():
    error = failure(b'[{"id": 1}, {"id": 2, "na')
    assert error.reason_code == "parse.json.invalid"
    assert "premature EOF" in error.detail
    assert "before byte 25" in error.detail


def test_errors_in_a_reencoded_document_report_a_position_in_the_original_file():
    error = failure('[{"a": 1}, {"b": '.encode("utf-16"))
    assert error.reason_code == "parse.json.invalid"
    assert "before byte 36" in error.detail  # the whole 36-byte file (BOM included) was read


def test_a_string_over_the_field_cap_fails_the_document():
    assert failure(b'[{"a": "' + b"x" * 101 + b'"}]', limits=ParseLimits(max_field_chars=100)).reason_code == (
        "limits.field_too_large"
    )


def test_leaves_past_the_field_count_cap_are_dropped_and_reported():
    result = run(b'[{"a": 1, "b": 2, "c": 3, "d": 4}]', limits=ParseLimits(max_fields=2))
    assert summary(result) == [("$[0]", "limits.too_many_fields"), ("$[0]", {"a": "1", "b": "2"})]


@pytest.mark.parametrize(
    ("data", "issues"),
    [
        (b'\xef\xbb\xbf[{"name": "Zo\xc3\xab"}]', []),
        ('[{"name": "Zoë"}]'.encode("utf-16"), []),
        ('[{"name": "Zoë"}]'.encode("utf-16-le"), []),
        (b'[{"name": "Zo\xeb"}]', ["parse.encoding.latin1_fallback"]),
    ],
)
def test_boms_utf16_and_latin1_are_decoded(data: bytes, issues: list[str]):
    result = run(data)
    assert [i.reason_code for i in result if isinstance(i, ParseIssue)] == issues
    assert [r.fields for r in result if isinstance(r, Record)] == [{"name": "Zoë"}]


def test_an_empty_array_yields_nothing():
    assert run(b"[]") == []
    assert run(b"  [ ]  \n") == []


def test_the_record_cap_applies_through_parse():
    with pytest.raises(PermanentError) as raised:
        list(parse(io.BytesIO(b"[1, 2, 3, 4, 5]"), "application/json", ParseLimits(max_records=3)))
    assert raised.value.reason_code == "limits.too_many_records"


# --- JSON Lines -------------------------------------------------------------------------------------------------


def test_each_line_is_a_record_and_each_bad_line_an_issue_with_its_line_number():
    # GIVEN good lines, a blank line, and lines broken in different ways
    data = (
        b'{"id": 1, "name": "Ada"}\n'
        b'{"id": 2, name: Bob}\n'
        b"\n"
        b'{"id": 3, "x": NaN}\n'
        b'{"id": 4, "tags": ["x"]}\r\n'
        + (b'{"n": ' + b"9" * 101 + b"}\n")
        + (b"[" * 5000 + b"]" * 5000 + b"\n")
        + (b'{"deep": ' + b"[" * 64 + b"]" * 64 + b"}\n")
        + b'{"id": 5}'
    )
    # WHEN parsed
    result = run_lines(data)
    # THEN the file goes on past every bad line, each reported where it is
    assert summary(result) == [
        ("line 1", {"id": "1", "name": "Ada"}),
        ("line 2", "parse.jsonl.bad_line"),
        ("line 4", "parse.jsonl.bad_line"),
        ("line 5", {"id": "4", "tags.0": "x"}),
        ("line 6", "limits.number_too_long"),
        ("line 7", "parse.json.too_deep"),
        ("line 8", "parse.json.too_deep"),
        ("line 9", {"id": "5"}),
    ]


def test_jsonl_numbers_keep_their_text():
    [record] = run_lines(b'{"a": 2.50, "b": 1e5, "c": -0, "d": 10000000000000000000001}\n')
    assert isinstance(record, Record)
    assert record.fields == {"a": "2.50", "b": "1e5", "c": "-0", "d": "10000000000000000000001"}


def test_a_line_over_the_line_cap_fails_the_file():
    with pytest.raises(PermanentError) as raised:
        run_lines(b'{"a": 1}\n{"b": "' + b"x" * 200 + b'"}\n', ParseLimits(max_line_chars=100))
    assert raised.value.reason_code == "limits.line_too_long"


def test_a_value_over_the_field_cap_skips_only_its_line():
    result = run_lines(b'{"a": "' + b"x" * 101 + b'"}\n{"b": 1}\n', ParseLimits(max_field_chars=100))
    assert summary(result) == [("line 1", "limits.field_too_large"), ("line 2", {"b": "1"})]


def test_a_lone_surrogate_is_replaced_and_reported():
    result = run_lines(b'{"name": "\\udc00 broken"}\n{"ok": "\\ud83d\\ude00"}\n')
    assert summary(result) == [
        ("line 1", "parse.json.lone_surrogate"),
        ("line 1", {"name": "\ufffd broken"}),
        ("line 2", {"ok": "\U0001f600"}),
    ]


def test_jsonl_with_a_bom_and_in_utf16_is_decoded():
    assert summary(run_lines(b'\xef\xbb\xbf{"a": 1}\n')) == [("line 1", {"a": "1"})]
    assert summary(run_lines('{"a": "é"}\n'.encode("utf-16"))) == [("line 1", {"a": "é"})]


def test_jsonl_record_cap_applies_through_parse():
    with pytest.raises(PermanentError) as raised:
        list(parse(io.BytesIO(b"1\n2\n3\n4\n"), "application/x-ndjson", ParseLimits(max_records=2)))
    assert raised.value.reason_code == "limits.too_many_records"


# --- properties -------------------------------------------------------------------------------------------------

SMALL = ParseLimits(max_depth=6, max_fields=10, max_field_chars=50, max_number_digits=12, max_line_chars=400)
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=60)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner))


def check_caps(items: list[Record | ParseIssue], limits: ParseLimits) -> None:
    for item in items:
        if isinstance(item, Record):
            assert len(item.fields) <= limits.max_fields
            assert all(
                len(value) <= max(limits.max_field_chars, limits.max_number_digits) for value in item.fields.values()
            )
            item.text.encode("utf-8")  # storable downstream


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=1500), st.booleans())
def test_arbitrary_bytes_raise_only_project_errors(data: bytes, lines: bool):
    parser = parse_jsonl if lines else parse_json
    with contextlib.suppress(TributaryError):
        check_caps(list(parser(io.BytesIO(data), DEFAULT, SMALL)), SMALL)


@settings(max_examples=60, deadline=None)
@given(values)
def test_generated_documents_raise_only_project_errors_and_respect_caps(value: object):
    with contextlib.suppress(TributaryError):
        check_caps(run(json.dumps(value).encode(), limits=SMALL), SMALL)


@settings(max_examples=40, deadline=None)
@given(st.lists(values | st.sampled_from(["{", "NaN", "[1,", "\x00", '{"a":1}{"b":2}', "", "   "]), max_size=12))
def test_every_non_blank_jsonl_line_is_either_a_record_an_issue_or_skipped_as_empty(lines: list[object]):
    # GIVEN lines that are JSON values or garbage
    texts = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    data = "\n".join(text.replace("\n", " ") for text in texts).encode()
    # WHEN parsed
    try:
        result = run_lines(data, SMALL)
    except TributaryError:
        return
    # THEN nothing is located on a blank line and the caps hold
    blank = {f"line {n}" for n, text in enumerate(data.decode().split("\n"), start=1) if not text.strip()}
    assert not {item.locator for item in result} & blank
    check_caps(result, SMALL)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), st.text(min_size=1, max_size=20)), max_size=8
    )
)
def test_flat_string_objects_read_back_unchanged(items: list[dict[str, str]]):
    result = run(json.dumps(items).encode())
    expected = [(f"$[{n}]", item) for n, item in enumerate(items) if any(item.values())]
    assert [(r.locator, r.fields) for r in result if isinstance(r, Record)] == expected


# --- JSON Lines: the orjson fast path ----------------------------------------------------------------------------

special_lines = st.sampled_from(
    [
        b'{"n": -0, "d": "2024-01-05"}',
        b'{"n": [-0, 0], "m": 0}',
        b'{"f": 2.50, "e": 1E+5, "g": -0.0}',
        b'{"big": 123456789012345678901234567890, "max": 18446744073709551615, "min": -9223372036854775808}',
        b'{"a": 1, "a": "twice", "": "blank key", "value": "clash"}',
        b'{"s": "\\udc00 lone", "p": "\\ud83d\\ude00"}',
        b'{"raw": "caf\xc3\xa9 \xe2\x80\xa8 \xc2\x85"}',
        b"[1, [2, [3]], {}]",
        b'"just a string"',
        b"null",
        b"  ",
        b"NaN",
        b'{"a": 1}{"b": 2}',
        b'{"x": ' + b"9" * 30 + b"}",
        b"\xef\xbb\xbf{}",
    ]
)
jsonl_line = st.one_of(values.map(lambda value: json.dumps(value).encode()), special_lines)


def outcome(data: bytes, limits: ParseLimits) -> list[object]:
    seen: list[object] = []
    try:
        seen.extend(run_lines(data, limits))
    except PermanentError as error:
        seen.append((error.reason_code, error.detail))
    return seen


@settings(max_examples=200, deadline=None)
@given(
    st.lists(jsonl_line, max_size=12),
    st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=12, max_size=12),
    st.sampled_from([LIMITS, SMALL, ParseLimits(max_fields=2), ParseLimits(max_number_digits=5)]),
)
def test_the_orjson_fast_path_gives_exactly_what_the_stdlib_decoder_gives(
    lines: list[bytes], ends: list[bytes], limits: ParseLimits
):
    # GIVEN lines of every kind: nested, floats, -0, huge integers, duplicate and blank keys, surrogates, garbage
    data = b"".join(line + end for line, end in zip(lines, ends, strict=False))
    # WHEN parsed as usual, and with every line sent to the exact (stdlib) decoder
    fast = outcome(data, limits)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsonish, "_fast_fields", lambda *_: None)
        exact = outcome(data, limits)
    # THEN records, issues and failures are identical, down to which record fields were set
    assert fast == exact


@settings(max_examples=100, deadline=None)
@given(st.lists(jsonl_line, max_size=12), st.sampled_from([1, 7, 64]))
def test_jsonl_records_do_not_depend_on_the_batch_size(lines: list[bytes], batch_bytes: int):
    data = b"\r\n".join(lines)
    whole = outcome(data, LIMITS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(encoding, "BATCH_BYTES", batch_bytes)
        assert outcome(data, LIMITS) == whole


def test_a_negative_zero_keeps_its_sign_on_the_fast_path():
    [record] = run_lines(b'{"n": -0, "m": 0, "d": "2024-01-05", "i": [-0]}\n')
    assert isinstance(record, Record)
    assert record.fields == {"n": "-0", "m": "0", "d": "2024-01-05", "i.0": "-0"}


def test_lines_with_floats_keep_their_literals_and_later_lines_are_still_exact():
    # GIVEN float lines (read by the exact decoder for a while after the first) and then integer lines
    data = b"".join(b'{"price": 2.50, "n": %d}\n' % n for n in range(40)) + b'{"n": -0, "m": 7}\n{"m": 8}\n'
    result = run_lines(data)
    # THEN every literal is kept as written
    assert [r.fields for r in result[:2]] == [{"price": "2.50", "n": "0"}, {"price": "2.50", "n": "1"}]
    assert [r.fields for r in result[-2:]] == [{"n": "-0", "m": "7"}, {"m": "8"}]


def test_invalid_utf8_in_a_later_line_fails_the_file_with_its_absolute_byte_offset():
    # GIVEN valid lines past the detection head and the first batch, then a Latin-1 byte
    prefix = b'{"a": 1}\n' * 150_000
    with pytest.raises(PermanentError) as raised:
        run_lines(prefix + b'{"b": "caf\xe9"}\n')
    assert raised.value.reason_code == "parse.text.decode_error"
    assert f"at byte {len(prefix) + 10}" in raised.value.detail
