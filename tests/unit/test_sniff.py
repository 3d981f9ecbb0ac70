"""Sniffing: the type comes from the bytes; the name only picks a text flavour, and a disagreeing name is reported."""

import codecs
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import PermanentError
from shared.parsing import CONTENT_TYPES, Sniffed, sniff, sniff_content_type


def refusal(head: bytes, name: str = "file.csv") -> tuple[str, str]:
    with pytest.raises(PermanentError) as raised:
        sniff(head, name)
    return raised.value.reason_code, raised.value.detail


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        pytest.param(b"\x7fELF\x02\x01\x01" + bytes(40), "ELF", id="elf"),
        pytest.param(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "PE", id="pe"),
        pytest.param(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", "Mach-O", id="mach-o-64"),
        pytest.param(b"\xce\xfa\xed\xfe\x07\x00\x00\x00", "Mach-O", id="mach-o-32"),
        pytest.param(b"\xca\xfe\xba\xbe\x00\x00\x00\x34", "Java class", id="java-class"),
        pytest.param(b"\x00asm\x01\x00\x00\x00", "WebAssembly", id="wasm"),
        pytest.param(b"#!/bin/sh\nrm -rf /\n", "#!", id="shell-script"),
        pytest.param(b"#! /usr/bin/env python3\nprint(1)\n", "#!", id="env-script"),
    ],
)
def test_executables_are_refused_whatever_their_name(head: bytes, kind: str):
    for name in ("data.csv", "notes.txt", "x"):
        code, detail = refusal(head, name)
        assert code == "validate.refused_type"
        assert "executable" in detail
        assert kind in detail


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        (b"GIF89a\x01\x00\x01\x00", "GIF"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip"),
        (b"BZh91AY&SY\x00\x00", "bzip2"),
        (b"\xfd7zXZ\x00\x00", "xz"),
        (b"7z\xbc\xaf'\x1c\x00\x04", "7-Zip"),
        (b"Rar!\x1a\x07\x01\x00", "RAR"),
        (b"SQLite format 3\x00\x10\x00", "SQLite"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "RIFF"),
        (b"\x00\x00\x00\x18ftypmp42", "MP4"),
        (bytes(257) + b"ustar\x0000" + bytes(50), "tar"),
    ],
)
def test_known_binaries_we_do_not_parse_are_refused_with_their_kind(head: bytes, kind: str):
    assert refusal(head) == ("validate.refused_type", refusal(head)[1])
    assert kind in refusal(head)[1]


def test_an_empty_file_is_refused():
    assert refusal(b"")[0] == "validate.empty_file"


def test_random_bytes_are_an_unknown_binary():
    noise = random.Random(7).randbytes(4096)
    assert refusal(noise, "data.csv")[0] == "validate.binary_content"
    assert refusal(b"name,age\n\x00\x00\x01", "x.csv")[0] == "validate.binary_content"


def test_text_that_merely_starts_like_a_signature_is_still_text():
    # "MZ" and "RIFF" are ordinary words at the start of a line; only the full signatures are refused
    assert sniff(b"MZ Holdings,Lisbon\n", "firms.csv") == Sniffed("text/csv")
    assert sniff(b"RIFF raff and other words", "a.txt") == Sniffed("text/plain")
    assert sniff(b"#!important note\n", "a.txt") == Sniffed("text/plain")  # not "#!/": no interpreter path


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00", "bundle.zip", "application/zip"),
        (b'<?xml version="1.0"?>\n<catalog/>', "c.xml", "application/xml"),
        (b"\n  <catalog><book/></catalog>", "c.xml", "application/xml"),
        (b"<!-- generated --><root a='1'/>", "c.xml", "application/xml"),
        (b"<!DOCTYPE html>\n<html><body>x</body></html>", "p.html", "text/html"),
        (b"<html lang='en'><p>x</p></html>", "p.htm", "text/html"),
        (b'<?xml version="1.0"?>\n<!DOCTYPE html><html/>', "p.xhtml", "text/html"),
        (b"<p>just a fragment</p>", "frag.html", "text/html"),
        (b'{"a": 1, "b": [1, 2]}', "d.json", "application/json"),
        (b'{\n  "a": 1\n}\n', "d.json", "application/json"),
        (b"[1, 2, 3]", "d.json", "application/json"),
        (b'{"a": 1}\n{"a": 2}\n', "d.jsonl", "application/x-ndjson"),
        (b'{"a": 1}\n{"a": 2}\n', "d.json", "application/x-ndjson"),
        (b'{"a": 1}', "one.jsonl", "application/x-ndjson"),
        (b"From: Ada <ada@example.org>\nTo: b@example.org\nSubject: hi\n\nBody\n", "m.eml", "message/rfc822"),
        (b"Received: from x\n\tby y\nMIME-Version: 1.0\n\nBody", "m.eml", "message/rfc822"),
        (b"From ada@example.org Sat Jan  3 01:05:34 1996\nFrom: ada@example.org\n\nhi\n", "a.mbox", "application/mbox"),
        (b"name,company\nAda,Acme\n", "people.csv", "text/csv"),
        (b"name\tcompany\nAda\tAcme\n", "people.tsv", "text/tab-separated-values"),
        (b"name\tcompany\n", "people.tab", "text/tab-separated-values"),
        (b"# Title\n\nText", "notes.md", "text/markdown"),
        (b"# Title\n\nText", "notes.markdown", "text/markdown"),
        (b'<p align="center">logo</p>\n# Title', "README.md", "text/markdown"),
        (b"Just words.", "notes.txt", "text/plain"),
        (b"Just words.", "no-extension", "text/plain"),
        (b"From the beginning, it rained.\n", "story.txt", "text/plain"),
        (b"[link](http://example.org) and more", "a.md", "text/markdown"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "report.pdf", "application/pdf"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(8), "mail.msg", "application/x-ole-storage"),
        (b"PAR1\x15\x04\x15\x10\x15\x14L\x15\x02", "t.parquet", "application/vnd.apache.parquet"),
        (b"PAR1 results: all green\n", "notes.txt", "text/plain"),
    ],
)
def test_structure_decides_and_the_name_only_picks_a_text_flavour(head: bytes, name: str, expected: str):
    found = sniff(head, name)
    assert found.content_type == expected
    assert found.hint_mismatch is None
    assert sniff_content_type(head, name) == expected


@pytest.mark.parametrize(
    ("head", "name", "expected"),
    [
        (b'<?xml version="1.0"?><rows/>', "data.csv", "application/xml"),
        (b'[{"name": "Ada"}]', "data.csv", "application/json"),
        (b"From: a@example.org\nSubject: x\n\nbody", "notes.txt", "message/rfc822"),
        (b"<!DOCTYPE html><html></html>", "page.txt", "text/html"),
        (b"plain words", "data.json", "text/plain"),
        (b"plain words", "data.xml", "text/plain"),
        (b"PK\x03\x04\x14\x00", "report.csv", "application/zip"),
        (b"%PDF-1.4\n", "scan.txt", "application/pdf"),
    ],
)
def test_a_name_that_disagrees_with_the_content_is_reported_not_obeyed(head: bytes, name: str, expected: str):
    found = sniff(head, name)
    assert found.content_type == expected
    assert found.hint_mismatch is not None
    assert name.rsplit(".", 1)[1] in found.hint_mismatch
    assert expected in found.hint_mismatch


@pytest.mark.parametrize(
    "encoded",
    [
        codecs.BOM_UTF8 + "name,city\nZoë,Kraków\n".encode(),
        "name,city\nZoë,Kraków\n".encode("utf-16"),  # with BOM
        "name,city\nZoë,Kraków\n".encode("utf-32"),
        "name,city\nZoë,Kraków\n".encode("utf-16-le"),  # no BOM: the NUL pattern gives it away
        "name,city\nZoë,Kraków\n".encode("utf-16-be"),
        "name,city\nZoë,Kraków\n".encode("latin-1", errors="replace"),  # not UTF-8, but plainly text
        "name,city\nZoë,Łódź\n".encode("cp1250"),
    ],
)
def test_text_in_any_encoding_we_read_is_text(encoded: bytes):
    assert sniff(encoded, "people.csv") == Sniffed("text/csv")


def test_structure_is_found_in_utf16_too():
    assert sniff('<?xml version="1.0"?><a/>'.encode("utf-16"), "a.xml") == Sniffed("application/xml")
    assert sniff('{"a": 1}'.encode("utf-16-le"), "a.json") == Sniffed("application/json")


def test_a_character_cut_by_the_sniff_window_is_still_text():
    assert sniff("Zoë".encode()[:3], "a.txt") == Sniffed("text/plain")


def test_every_sniffed_type_has_a_registered_parser():
    heads = [
        (b"PK\x03\x04", "a.zip"),
        (b"<a/>", "a.xml"),
        (b"<html>", "a.html"),
        (b"{}", "a.json"),
        (b"{}\n{}\n", "a.jsonl"),
        (b"From: a\n\n", "a.eml"),
        (b"From a b\nFrom: a\n\n", "a.mbox"),
        (b"a", "a.csv"),
        (b"a", "a.tsv"),
        (b"a", "a.md"),
        (b"a", "a.txt"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a.msg"),
        (b"%PDF-1.7", "a.pdf"),
        (b"PAR1\x15\x04\x15\x00", "a.parquet"),
    ]
    assert {sniff(head, name).content_type for head, name in heads} == set(CONTENT_TYPES)


@given(st.binary(max_size=600), st.sampled_from(["a.csv", "a.txt", "a.json", "a.xml", "a.eml", "a", "a.md"]))
def test_sniff_answers_a_known_type_or_refuses_with_a_validate_code(head: bytes, name: str):
    try:
        found = sniff(head, name)
    except PermanentError as error:
        reason = error.reason_code
    else:
        reason = found.content_type
    assert reason in {"validate.empty_file", "validate.refused_type", "validate.binary_content", *CONTENT_TYPES}


@pytest.mark.parametrize(
    ("head", "name"),
    [
        (b"<div>Hello<br>world</div>", "message.eml"),
        (b"<p>Dear Ada,</p><p>see you", "note.txt"),
        (b"\n  <!-- saved --><span class='x'>hi</span>", "snippet"),
        (b"<table><tr><td>1</td></tr></table>", "t.txt"),
    ],
)
def test_an_html_fragment_is_html_whatever_text_name_it_has(head: bytes, name: str):
    # GIVEN an HTML fragment (no <html>) saved under a mail or text name WHEN sniffed THEN it is HTML, not XML
    assert sniff_content_type(head, name) == "text/html"


def test_a_file_named_xml_whose_root_is_an_html_element_name_stays_xml():
    assert sniff_content_type(b"<table><row/></table>", "schema.xml") == "application/xml"
