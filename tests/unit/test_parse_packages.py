"""Zips that are documents and OLE2 files: an Office or OpenDocument package is never read as a generic archive, a
compound file is an Outlook message or refused with a code naming its format."""

import io

import pytest

from shared.domain import ParseIssue, PermanentError, Record
from shared.parsing import ParseLimits, parse, sniff_content_type
from tests.support.cfb import build_cfb, build_msg
from tests.support.office import VISIO_MAIN, content_types, zip_parts

LIMITS = ParseLimits()


def parsed(data: bytes, name: str = "file", limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse(io.BytesIO(data), sniff_content_type(data[:8192], name), limits))


def reason_of(data: bytes, name: str = "file", limits: ParseLimits = LIMITS) -> str:
    with pytest.raises(PermanentError) as raised:
        parsed(data, name, limits)
    return raised.value.reason_code


def odf(kind: str) -> bytes:
    return zip_parts({"mimetype": f"application/vnd.oasis.opendocument.{kind}".encode(), "content.xml": b"<a/>"})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (odf("text"), "parse.office.opendocument"),
        (odf("spreadsheet"), "parse.office.opendocument"),
        (
            zip_parts({"[Content_Types].xml": content_types({"/visio/document.xml": VISIO_MAIN}), "x.xml": b"<a/>"}),
            "parse.office.unsupported_package",
        ),
    ],
)
def test_an_office_or_opendocument_package_it_cannot_read_is_refused_by_name_not_read_as_a_zip(
    data: bytes, reason: str
):
    # GIVEN a zip whose manifest says it is a document WHEN parsed under a plain .zip name THEN it is refused, and
    # none of its XML parts becomes a record
    assert reason_of(data, "bundle.zip") == reason


def test_a_zip_with_content_types_of_no_office_kind_is_still_an_archive():
    # GIVEN a NuGet-style package: [Content_Types].xml, but no Office part
    manifest = content_types({"/lib/readme.txt": "text/plain"})
    data = zip_parts({"[Content_Types].xml": manifest, "lib/readme.txt": b"Ada Lovelace works at Acme Labs."})
    # WHEN parsed THEN its members are read as an archive's
    texts = [item.text for item in parsed(data, "pkg.nupkg") if isinstance(item, Record)]
    assert "Ada Lovelace works at Acme Labs." in texts


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        ("WordDocument", "parse.office.legacy_doc"),
        ("Workbook", "parse.office.legacy_xls"),
        ("Book", "parse.office.legacy_xls"),
        ("PowerPoint Document", "parse.office.legacy_ppt"),
    ],
)
def test_legacy_binary_office_files_are_refused_with_a_code_naming_the_format(stream: str, reason: str):
    data = build_cfb({stream: b"\x00" * 600, "\x05SummaryInformation": b"\x00" * 100})
    assert reason_of(data, "old.bin") == reason


def test_a_password_protected_office_package_and_an_unknown_compound_file_are_refused():
    encrypted = build_cfb({"EncryptionInfo": b"\x04\x00" * 50, "EncryptedPackage": b"\x00" * 5000})
    assert reason_of(encrypted, "secret.docx") == "parse.office.encrypted"
    assert reason_of(build_cfb({"Thumbs": b"x" * 100}), "Thumbs.db") == "parse.ole.unknown"
    assert reason_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "cut.msg") == "parse.msg.malformed"


def sample_message(attachments: list | None = None) -> bytes:
    return build_cfb(
        build_msg(
            "Heron review",
            "Ada,\r\n\r\nthe Heron review moved to Thursday.\r\nGrace",
            ("Grace Hopper", "grace@example.org"),
            [("Ada Lovelace", "ada@example.org", 1), ("Alan Turing", "alan@example.org", 2)],
            attachments,
        )
    )


def test_an_outlook_message_gives_the_records_an_eml_gives():
    # GIVEN an Outlook .msg with a To and a Cc recipient
    result = parsed(sample_message(), "review.msg")
    # THEN one body record with the headers as metadata and the people as declared Person mentions
    (record,) = result
    assert isinstance(record, Record)
    assert record.locator == "body"
    assert record.text == "Ada,\nthe Heron review moved to Thursday.\nGrace"
    assert record.metadata == {
        "subject": "Heron review",
        "date": "2024-05-12T15:06:40+00:00",
        "from": "Grace Hopper <grace@example.org>",
        "to": "Ada Lovelace <ada@example.org>",
        "cc": "Alan Turing <alan@example.org>",
    }
    assert [(m.type, m.name) for m in record.mentions] == [
        ("Person", "Grace Hopper"),
        ("Person", "Ada Lovelace"),
        ("Person", "Alan Turing"),
    ]


def test_attachments_and_embedded_messages_are_parsed_within_the_depth_cap():
    inner = build_msg("Fwd: budget", "Kestrel budget approved.", ("Bob", "bob@example.org"), [], embedded=True)
    data = sample_message([("staff.csv", b"name,company\nAda,Acme\n"), ("fwd.msg", inner)])
    records = [item for item in parsed(data, "review.msg") if isinstance(item, Record)]
    assert [(r.locator, r.text) for r in records[1:]] == [
        ("attachment 1 / row 2", "name: Ada; company: Acme"),
        ("attachment 2 / body", "Kestrel budget approved."),
    ]
    assert records[0].metadata["attachments"] == "staff.csv\nfwd.msg"
    # an attachment one level past the depth cap is an issue, the message itself still a record
    shallow = parsed(data, "review.msg", ParseLimits(max_attachment_depth=0))
    assert [i.reason_code for i in shallow if isinstance(i, ParseIssue)] == ["limits.attachment_depth"] * 2


def test_an_attachment_past_the_count_cap_is_an_issue():
    data = sample_message([(f"n{i}.txt", b"note") for i in range(3)])
    result = parsed(data, "m.msg", ParseLimits(max_attachments=2))
    assert [i.reason_code for i in result if isinstance(i, ParseIssue)] == ["limits.too_many_attachments"]
