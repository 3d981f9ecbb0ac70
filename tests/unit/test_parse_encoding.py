"""Encoding detection and incremental decoding (shared/parsing/encoding.py)."""

import codecs
import io

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.domain import PermanentError, TributaryError
from shared.parsing.encoding import HEAD_BYTES, LineTooLongError, detect_encoding, open_text, open_utf8
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

DEFAULT = ParseOptions()


def decode(data: bytes, options: ParseOptions = DEFAULT, newline: str | None = "") -> tuple[str, list[str]]:
    lines, issues = open_text(io.BytesIO(data), options, newline=newline)
    return "".join(lines), [issue.reason_code for issue in issues]


class Trickle(io.RawIOBase):
    """A stream that hands out at most `step` bytes per read, like a slow network download."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._data, self._step = data, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        chunk, self._data = self._data[: min(self._step, len(buffer))], self._data[min(self._step, len(buffer)) :]
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_a_bom_picks_the_codec_and_is_not_part_of_the_text(bom: bytes, codec: str):
    # GIVEN text behind a byte-order mark
    data = bom + "name,city\nZoë,Zürich\n".encode(codec)
    # WHEN it is decoded
    text, issues = decode(data)
    # THEN the mark is gone and nothing is reported
    assert text == "name,city\nZoë,Zürich\n"
    assert issues == []


def test_a_utf16_le_mark_followed_by_text_that_is_not_utf32_stays_utf16():
    data = b"\xff\xfe" + "\x00a,b\n".encode("utf-16-le")
    assert detect_encoding(data, DEFAULT, at_eof=True).codec == "utf-16-le"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_bom_is_told_by_its_nul_pattern(codec: str):
    text = "id,name\n1,Łukasz\n2,Zoë\n"
    assert detect_encoding(text.encode(codec), DEFAULT).codec == codec
    assert decode(text.encode(codec)) == (text, [])


def test_valid_utf8_is_read_strictly_without_a_warning():
    assert decode("€ and 日本\n".encode()) == ("€ and 日本\n", [])


def test_non_utf8_head_falls_back_to_cp1252_with_one_file_level_warning():
    # GIVEN Windows-1252 bytes (€ is 0x80, curly quotes 0x93/0x94) and 0x81, which cp1252 leaves undefined
    data = b"caf\xe9 \x80 \x93quoted\x94 \x81\n"
    # WHEN decoded without a forced encoding
    lines, issues = open_text(io.BytesIO(data), DEFAULT)
    # THEN cp1252 applies, the undefined byte keeps its Latin-1 code point, and one warning says so
    assert "".join(lines) == "café € “quoted” \x81\n"
    assert [(issue.locator, issue.reason_code) for issue in issues] == [("file", "parse.encoding.latin1_fallback")]


def test_invalid_utf8_after_the_head_fails_with_its_absolute_byte_offset():
    # GIVEN a file valid as UTF-8 for longer than the detection head, then a Latin-1 byte
    prefix = b"a,b\n" * (HEAD_BYTES // 4 + 5000)
    data = prefix + b"caf\xe9\n"
    # WHEN decoded
    with pytest.raises(PermanentError) as raised:
        decode(data)
    # THEN the reason and the exact offset of the bad byte are given
    assert raised.value.reason_code == "parse.text.decode_error"
    assert f"at byte {len(prefix) + 3}" in raised.value.detail


def test_a_multibyte_character_cut_by_the_head_is_not_an_error():
    data = b"x" * (HEAD_BYTES - 1) + "é tail\n".encode()
    assert decode(data) == ("x" * (HEAD_BYTES - 1) + "é tail\n", [])


def test_a_small_latin1_file_ending_in_an_accent_falls_back_rather_than_waiting_for_more_bytes():
    # GIVEN a whole file shorter than the head whose last byte could start a UTF-8 sequence
    text, issues = decode(b"name\ncaf\xe9")
    # THEN it is not UTF-8 (nothing follows), so the fallback applies
    assert text == "name\ncafé"
    assert issues == ["parse.encoding.latin1_fallback"]


def test_a_forced_encoding_wins_over_detection():
    assert decode("Zoë\n".encode(), ParseOptions(encoding="latin-1")) == ("ZoÃ«\n", [])
    assert decode(b"\xff\xfea\x00", ParseOptions(encoding="cp1252"))[0] == "ÿþa\x00"


def test_a_forced_encoding_still_skips_its_own_bom():
    assert decode(codecs.BOM_UTF8 + b"a\n", ParseOptions(encoding="utf-8")) == ("a\n", [])


def test_a_forced_utf8_is_strict():
    with pytest.raises(PermanentError) as raised:
        decode(b"caf\xe9\n", ParseOptions(encoding="utf-8"))
    assert raised.value.reason_code == "parse.text.decode_error"


@pytest.mark.parametrize("name", ["klingon-8", "base64", "rot13"])
def test_an_unknown_or_non_text_forced_encoding_is_refused(name: str):
    with pytest.raises(PermanentError) as raised:
        decode(b"a\n", ParseOptions(encoding=name))
    assert raised.value.reason_code == "parse.encoding.unknown"


def test_newlines_are_kept_as_written_or_translated_on_request():
    data = b"a\r\nb\rc\nd"
    assert list(open_text(io.BytesIO(data), DEFAULT, newline="")[0]) == ["a\r\n", "b\r", "c\n", "d"]
    assert list(open_text(io.BytesIO(data), DEFAULT, newline=None)[0]) == ["a\n", "b\n", "c\n", "d"]


def test_a_line_over_the_cap_is_refused_before_it_is_held_whole():
    limits = ParseLimits(max_line_chars=10)
    lines, _ = open_text(io.BytesIO(b"short\n" + b"y" * 1000 + b"\n"), DEFAULT, limits)
    with pytest.raises(LineTooLongError) as raised:
        list(lines)
    assert raised.value.reason_code == "limits.line_too_long"
    assert raised.value.line_number == 2
    assert len(raised.value.partial) == 11


def test_the_callers_stream_stays_open_whether_or_not_the_lines_are_exhausted():
    stream = io.BytesIO(b"a\nb\nc\n")
    lines, _ = open_text(stream, DEFAULT)
    next(lines)
    lines.close()  # type: ignore[attr-defined]
    assert not stream.closed
    list(open_text(stream, DEFAULT)[0])
    assert not stream.closed


def test_short_reads_are_assembled_into_a_full_head():
    data = "€uro\n".encode("utf-16-le") * 50
    lines, issues = open_text(io.BufferedReader(Trickle(data)), DEFAULT)
    assert "".join(lines) == "€uro\n" * 50
    assert issues == []


def test_open_utf8_hands_utf8_through_and_reencodes_the_rest():
    assert open_utf8(io.BytesIO(codecs.BOM_UTF8 + b'{"a": 1}'), DEFAULT)[0].read() == b'{"a": 1}'
    reencoded, issues = open_utf8(io.BytesIO('{"a": "Zoë"}'.encode("utf-16")), DEFAULT)
    assert reencoded.read() == '{"a": "Zoë"}'.encode()
    assert issues == []
    latin, issues = open_utf8(io.BytesIO(b'["caf\xe9"]'), DEFAULT)
    assert latin.read() == '["café"]'.encode()
    assert [issue.reason_code for issue in issues] == ["parse.encoding.latin1_fallback"]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000), st.sampled_from([None, "utf-8", "utf-16", "cp1252"]))
def test_any_bytes_decode_or_fail_with_a_project_error(data: bytes, encoding: str | None):
    try:
        lines, _ = open_text(io.BytesIO(data), ParseOptions(encoding=encoding), ParseLimits(max_line_chars=500))
        for line in lines:
            assert len(line) <= 500
    except TributaryError:
        pass


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=500), st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]))
def test_text_written_in_a_detectable_encoding_reads_back_unchanged(text: str, codec: str):
    # A UTF-16 LE mark followed by a NUL is byte for byte a UTF-32 LE mark: inherently ambiguous, left out.
    assume(not text.startswith("\x00"))
    data = text.encode(codec, "surrogatepass")
    try:
        expected = data.decode(codec)
    except UnicodeDecodeError:  # lone surrogates do not survive any codec
        return
    assert decode(data)[0] == expected
