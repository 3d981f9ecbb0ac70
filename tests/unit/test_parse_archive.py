"""Zip archives: members parsed by sniffed type, sizes counted while inflating, names only ever metadata."""

import io
import stat
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain import ParseIssue, PermanentError, Record, TributaryError
from shared.parsing import archive
from shared.parsing.archive import parse_zip, sanitize_name
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from tests.support.hostile import HOSTILE, expected_outcomes

FIXTURES = HOSTILE / "archive"
LIMITS = ParseLimits()


def zipped(*members: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in members:
            out.writestr(info, data)
    return buffer.getvalue()


def items(data: bytes, limits: ParseLimits = LIMITS, stream: io.RawIOBase | None = None) -> list[Record | ParseIssue]:
    return list(parse_zip(stream or io.BytesIO(data), ParseOptions(), limits))


def reason_of(data: bytes, limits: ParseLimits = LIMITS) -> str:
    with pytest.raises(PermanentError) as raised:
        items(data, limits)
    return raised.value.reason_code


def issues(result: list[Record | ParseIssue]) -> list[tuple[str, str]]:
    return [(item.locator, item.reason_code) for item in result if isinstance(item, ParseIssue)]


@pytest.mark.parametrize(
    ("raw", "keep_dirs", "safe"),
    [
        ("../../etc/passwd", False, "passwd"),
        ("../../etc/passwd", True, "etc/passwd"),
        ("/abs/notes.txt", True, "abs/notes.txt"),
        ("C:\\win\\x.txt", True, "win/x.txt"),
        ("invoice\u202efdp.exe", False, "invoicefdp.exe"),
        ("a\u2066b\u2069c\x00\x1b[31m.txt", False, "abc[31m.txt"),
        ("..", False, "unnamed"),
        ("", False, "unnamed"),
        ("x" * 400, False, "x" * 255),
    ],
)
def test_names_are_sanitised_for_display_only(raw: str, keep_dirs: bool, safe: str):
    assert sanitize_name(raw, keep_dirs=keep_dirs) == safe


def test_members_are_parsed_by_sniffed_type_with_member_locators():
    # GIVEN an archive with a directory, a text file under a traversal name and an empty file
    data = zipped(("docs/", b""), ("../../docs/a.txt", b"Alpha.\n\nBeta.\n"), ("empty.txt", b""))
    # WHEN parsed
    result = items(data)
    # THEN directories and empty files are skipped, text members yield records located inside the member
    assert [(r.locator, r.text, r.metadata) for r in result] == [
        ("member 2: docs/a.txt / line 1", "Alpha.", {"archive_member": "docs/a.txt"}),
        ("member 2: docs/a.txt / line 3", "Beta.", {"archive_member": "docs/a.txt"}),
    ]


def test_symlinks_and_encrypted_members_are_skipped_as_issues():
    link = zipfile.ZipInfo("link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = bytearray(zipped((link, b"/etc/passwd"), ("locked.txt", b"secret"), ("ok.txt", b"fine")))
    # zipfile cannot write encrypted members: set the 'encrypted' flag of the second entry in its central header
    second = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 1)
    data[second + 8] |= 0x1
    result = items(bytes(data))
    assert [r.text for r in result if isinstance(r, Record)] == ["fine"]
    assert issues(result) == [("member 1: link", "parse.zip.symlink"), ("member 2: locked.txt", "parse.zip.encrypted")]


# Bytes that are not UTF-8 past the 64 KB the encoding is chosen from: text that then breaks fails.
_BROKEN_TEXT = b"fine start\n\n" + b"line\n" * 15_000 + b"\xff\xfe broken"


def test_a_failing_member_is_an_issue_and_the_others_still_parse():
    data = zipped(("bad.txt", _BROKEN_TEXT), ("tool", b"\x7fELF\x02\x01"), ("good.txt", b"good"))
    result = items(data)
    assert [r.text for r in result if isinstance(r, Record)][-1:] == ["good"]
    assert issues(result) == [
        ("member 1: bad.txt", "parse.text.decode_error"),
        ("member 2: tool", "validate.refused_type"),
    ]


def test_a_corrupted_member_is_an_issue():
    data = bytearray(zipped(("a.txt", b"some text worth compressing " * 50)))
    start = 30 + len("a.txt")  # local header, then the deflate stream
    data[start + 5 : start + 15] = b"\xff" * 10
    result = items(bytes(data))
    assert issues(result) == [("member 1: a.txt", "parse.zip.malformed")]


def test_declared_sizes_are_checked_before_inflating():
    bomb = zipped(("zeros.txt", b"0" * 5_000_000))
    assert reason_of(bomb) == "parse.zip.ratio_exceeded"
    assert reason_of(zipped(("a.txt", b"abc" * 1000)), ParseLimits(max_decompressed_bytes=100)) == (
        "limits.decompressed_too_large"
    )
    many = zipped(*[(f"{index}.txt", b"x") for index in range(11)])
    assert reason_of(many, ParseLimits(max_archive_members=10)) == "limits.too_many_members"


def test_lying_headers_are_caught_while_inflating(monkeypatch: pytest.MonkeyPatch):
    # GIVEN headers that pass the early checks (as if they lied) WHEN members are read
    monkeypatch.setattr(archive, "_check_declared", lambda *args: None)
    # THEN the bytes actually inflated trip the ratio and the archive-wide budget
    assert reason_of(zipped(("zeros.txt", b"0" * 5_000_000))) == "parse.zip.ratio_exceeded"
    text = b"".join(b"line %d\n" % index for index in range(20_000))
    two = zipped(("a.txt", text), ("b.txt", text))
    assert reason_of(two, ParseLimits(max_decompressed_bytes=len(text) + 10)) == "limits.decompressed_too_large"


def test_a_forward_only_stream_is_spooled_within_the_file_cap():
    class ForwardOnly(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return self._inner.readinto(buffer)

    data = zipped(("a.txt", b"spooled"))
    assert [r.text for r in items(b"", stream=ForwardOnly(data))] == ["spooled"]
    with pytest.raises(PermanentError) as raised:
        items(b"", ParseLimits(max_bytes=50), stream=ForwardOnly(data))
    assert raised.value.reason_code == "limits.file_too_large"


def test_whole_read_members_are_not_cut_at_the_first_short_read():
    # GIVEN an email and an HTML page bigger than one inflate chunk (needs the full registry)
    email = b"From: a@example.com\nSubject: big\n\n" + b"word " * 5000
    page = b"<html><body><p>" + b"x " * 9000 + b"</p><p>END</p></body></html>"
    # WHEN parsed as archive members
    result = items(zipped(("m.eml", email), ("p.html", page)))
    # THEN each is read to its end
    assert [(r.locator, len(r.text)) for r in result if isinstance(r, Record)] == [
        ("member 1: m.eml / part 1", 24_999),
        ("member 2: p.html / block 1", 17_999),
        ("member 2: p.html / block 2", 3),
    ]


def test_zip_in_zip_is_parsed_and_nesting_counts_against_the_depth_cap():
    # Needs the full registry (application/zip sniffed and dispatched by shared.parsing.parse).
    inner = zipped(("deep.txt", b"deep text"))
    data = zipped(("inner.zip", inner), ("top.txt", b"top"))
    assert [(r.locator, r.text) for r in items(data) if isinstance(r, Record)] == [
        ("member 1: inner.zip / member 1: deep.txt / line 1", "deep text"),
        ("member 2: top.txt / line 1", "top"),
    ]
    result = items(data, ParseLimits(max_attachment_depth=1))
    assert issues(result) == [("member 1: inner.zip", "limits.attachment_depth")]
    assert reason_of(data, ParseLimits(max_attachment_depth=0)) == "limits.attachment_depth"


@pytest.mark.parametrize("name", sorted(expected_outcomes("archive")))
def test_hostile_fixture_outcome_matches_expected(name: str):
    expected = expected_outcomes("archive")[name]
    data = (FIXTURES / name).read_bytes()
    if "fails" in expected:
        assert reason_of(data) == expected["fails"]
    else:
        assert {reason for _, reason in issues(items(data))} == set(expected.get("issues") or [])


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    def mutate(edits: list[tuple[int, int]]) -> bytes:
        buffer = bytearray(data)
        for position, value in edits:
            buffer[position % len(buffer)] = value
        return bytes(buffer)

    return st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=6).map(mutate)


SEED = zipped(("a.txt", b"hello world " * 20), ("b.csv", b"name,city\nAda,Lisbon\n"), ("c/", b""))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200).map(lambda raw: b"PK\x03\x04" + raw), _mutations(SEED)))
def test_property_only_project_errors_and_caps_hold(data: bytes):
    limits = ParseLimits(max_decompressed_bytes=500, max_archive_members=5)
    try:
        result = items(data, limits)
    except TributaryError:
        return
    assert sum(len(r.text) for r in result if isinstance(r, Record)) <= 500
