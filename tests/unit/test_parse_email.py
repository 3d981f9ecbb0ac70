"""Email: .eml and mbox, bodies and headers as records, people as mentions, attachments parsed within caps."""

import io
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain import Mention, ParseIssue, PermanentError, Record, TributaryError
from shared.parsing.email import parse_eml, parse_mbox
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from tests.support.hostile import HOSTILE, expected_outcomes

FIXTURES = HOSTILE / "email"
LIMITS = ParseLimits()


def eml(data: bytes, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse_eml(io.BytesIO(data), ParseOptions(), limits))


def mbox(data: bytes, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse_mbox(io.BytesIO(data), ParseOptions(), limits))


def records(result: list[Record | ParseIssue]) -> list[Record]:
    return [item for item in result if isinstance(item, Record)]


def issues(result: list[Record | ParseIssue]) -> list[tuple[str, str]]:
    return [(item.locator, item.reason_code) for item in result if isinstance(item, ParseIssue)]


def message(subject: str = "Launch", body: str = "Hello team.") -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Zoë Okafor <zoe@example.com>"
    m["To"] = 'bob@example.com, "Tomás Ferreira" <tomas@example.com>'
    m["Cc"] = "Zoë Okafor <zoe@example.com>"
    m["Subject"] = subject
    m["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    m["Message-ID"] = "<launch@example.com>"
    m.set_content(body)
    return m


def test_body_becomes_a_record_with_headers_as_metadata_and_people_as_mentions():
    # GIVEN a plain message WHEN parsed
    (record,) = records(eml(bytes(message())))
    # THEN its body is the record, its headers the metadata, and From/To/Cc people the mentions (deduplicated)
    assert record.text == "Hello team."
    assert record.locator == "part 1"
    assert record.metadata == {
        "subject": "Launch",
        "message_id": "<launch@example.com>",
        "date": "2026-11-23T10:00:00+00:00",
        "from": "Zoë Okafor <zoe@example.com>",
        "to": "bob@example.com, Tomás Ferreira <tomas@example.com>",
        "cc": "Zoë Okafor <zoe@example.com>",
    }
    # a bare address is named by its local part
    assert record.mentions == [
        Mention(type="Person", name="Zoë Okafor"),
        Mention(type="Person", name="bob"),
        Mention(type="Person", name="Tomás Ferreira"),
    ]
    assert not record.links


def test_alternatives_keep_the_plain_text_and_html_only_bodies_become_text():
    m = message(body="Plain version.")
    m.add_alternative("<p>HTML <b>version</b></p><script>evil()</script>", subtype="html")
    assert [r.text for r in records(eml(bytes(m)))] == ["Plain version."]
    html_only = message()
    html_only.set_content("<h1>Title</h1><p>Para <i>one</i></p><style>p{}</style>", subtype="html")
    assert [r.text for r in records(eml(bytes(html_only)))] == ["Title\nPara one"]


def test_attachments_are_parsed_by_sniffed_type_with_sanitised_names():
    # GIVEN text attachments with a traversal name and an RTL-override name, and an ELF binary
    m = message()
    m.add_attachment(b"First paragraph.\n\nSecond.\n", maintype="text", subtype="plain", filename="../../etc/notes.txt")
    m.add_attachment(b"Total 12 EUR\n", maintype="application", subtype="octet-stream", filename="invoice\u202efdp.exe")
    m.add_attachment(b"\x7fELF\x02\x01\x01" + b"\0" * 64, maintype="application", subtype="octet-stream", filename="a")
    # WHEN parsed
    result = eml(bytes(m))
    # THEN names are cleaned, text attachments yield records located inside their part, the binary is an issue
    body, *attached = records(result)
    assert body.metadata["attachments"] == "notes.txt\ninvoicefdp.exe\na"
    assert [(r.locator, r.text, r.metadata) for r in attached] == [
        ("part 2 / line 1", "First paragraph.", {"attachment": "notes.txt"}),
        ("part 2 / line 3", "Second.", {"attachment": "notes.txt"}),
        ("part 3 / line 1", "Total 12 EUR", {"attachment": "invoicefdp.exe"}),
    ]
    assert issues(result) == [("part 4", "validate.refused_type")]


def test_attachment_count_and_depth_caps_turn_into_issues_not_failures():
    m = message()
    for index in range(3):
        m.add_attachment(f"note {index}".encode(), maintype="text", subtype="plain", filename=f"n{index}.txt")
    result = eml(bytes(m), ParseLimits(max_attachments=2))
    assert [r.locator for r in records(result)] == ["part 1", "part 2 / line 1", "part 3 / line 1"]
    assert issues(result) == [("part 4", "limits.too_many_attachments")]
    shallow = eml(bytes(m), ParseLimits(max_attachment_depth=0))
    assert [r.locator for r in records(shallow)] == ["part 1"]
    assert {reason for _, reason in issues(shallow)} == {"limits.attachment_depth"}


def test_nested_messages_are_parsed_as_emails_and_count_as_depth():
    # GIVEN three messages, each attached to the one above
    innermost = message("level 3", "deepest")
    middle = message("level 2", "middle")
    middle.add_attachment(innermost)
    outer = message("level 1", "top")
    outer.add_attachment(middle)
    # WHEN parsed with room for one level only
    result = eml(bytes(outer), ParseLimits(max_attachment_depth=1))
    # THEN the first nested message is read with its own headers, the one below it is past the cap
    assert [(r.locator, r.text, r.metadata["subject"]) for r in records(result)] == [
        ("part 1", "top", "level 1"),
        ("part 2 / part 1", "middle", "level 2"),
    ]
    assert issues(result) == [("part 2 / part 2", "limits.attachment_depth")]


def test_mime_defects_are_issues_and_the_body_is_still_read():
    data = b"From: a@example.com\r\nSubject: s\r\nContent-Type: multipart/mixed\r\n\r\nplain words\r\n"
    result = eml(data)
    assert [r.text for r in records(result)] == ["plain words"]
    assert ("part 1", "parse.email.defect") in issues(result)


def test_a_message_without_a_body_still_yields_its_subject_and_people():
    data = b"From: Ada <ada@example.com>\r\nTo: bob@example.com\r\nSubject: Heads up\r\n\r\n"
    (record,) = records(eml(data))
    assert (record.text, record.locator) == ("Heads up", "headers")
    assert [m.name for m in record.mentions] == ["Ada", "bob"]


def test_unknown_charsets_and_control_characters_do_not_break_parsing():
    data = (
        b"From: =?utf-8?q?Eve=E2=80=AE_Evil?= <eve@example.com>\r\nSubject: caf\xe9\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nbody \xff bytes\r\n"
    )
    (record,) = records(eml(data))
    assert record.text.startswith("body")
    assert record.mentions == [Mention(type="Person", name="Eve Evil")]


@pytest.mark.parametrize(
    ("limits", "data", "reason"),
    [
        (ParseLimits(max_document_bytes=100), bytes(message(body="x" * 200)), "parse.email.too_large"),
        (
            ParseLimits(max_parts=10),
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 20 + b"--b--\r\n",
            "limits.too_many_parts",
        ),
        (LIMITS, b"Content-Type: message/rfc822\r\n\r\n" * 3000 + b"Subject: deep\r\n\r\nx", "parse.email.too_deep"),
    ],
)
def test_whole_message_caps_fail_the_eml(limits: ParseLimits, data: bytes, reason: str):
    with pytest.raises(PermanentError) as raised:
        eml(data, limits)
    assert raised.value.reason_code == reason


def test_mbox_yields_each_message_with_its_number_and_unescapes_from_lines():
    data = (
        b"From someone Mon Nov 23 10:00:00 2026\n" + bytes(message("one", "first")) + b"\n"
        b"From other Mon Nov 23 10:00:00 2026\nFrom: b@example.com\nSubject: two\n\n"
        b">From the start\nFrom: not a header\n"
    )
    result = mbox(data)
    assert [(r.locator, r.text) for r in records(result)] == [
        ("message 1 / part 1", "first"),
        ("message 2 / part 1", "From the start\nFrom: not a header"),
    ]


def test_mbox_confines_a_failing_message_to_an_issue():
    # GIVEN an mbox whose second message is over the document cap and third has too many parts
    parts = b"Content-Type: multipart/mixed; boundary=b\n\n" + b"--b\n\nx\n" * 20 + b"--b--\n"
    data = (
        b"From a\nSubject: ok\n\nfine\n"
        + b"From b\nSubject: big\n\n"
        + b"y" * 5000
        + b"\nFrom c\n"
        + parts
        + b"From d\nSubject: last\n\nstill here\n"
    )
    # WHEN parsed with small caps
    result = mbox(data, ParseLimits(max_document_bytes=1000, max_parts=10))
    # THEN the others are read and each failure is one issue at its message
    assert [r.locator for r in records(result)] == ["message 1 / part 1", "message 4 / part 1"]
    assert issues(result) == [("message 2", "parse.email.too_large"), ("message 3", "limits.too_many_parts")]


def test_mbox_streams_message_by_message():
    one = b"From x\nSubject: s\n\nbody\n"
    data = one * 20_000
    stream = io.BytesIO(data)
    first = next(parse_mbox(stream, ParseOptions(), LIMITS))
    assert first.locator == "message 1 / part 1"
    assert stream.tell() < len(data) // 100


@pytest.mark.parametrize("name", sorted(expected_outcomes("email")))
def test_hostile_fixture_outcome_matches_expected(name: str):
    expected = expected_outcomes("email")[name]
    data = (FIXTURES / name).read_bytes()
    parse = mbox if name.endswith(".mbox") else eml
    if "fails" in expected:
        with pytest.raises(PermanentError) as raised:
            parse(data)
        assert raised.value.reason_code == expected["fails"]
    else:
        assert {reason for _, reason in issues(parse(data))} == set(expected.get("issues") or [])


header_line = st.sampled_from(
    ["From: ", "To: ", "Cc: ", "Subject: ", "Date: ", "Content-Type: ", "Content-Transfer-Encoding: ", "From x\n"]
)
email_text = st.lists(
    st.tuples(header_line, st.text(alphabet='ab<>@,;:"=\\()/ \r\n-\u202e\x00é', max_size=30)), max_size=8
).map(lambda lines: "".join(name + value + "\n" for name, value in lines).encode("utf-8", "surrogatepass"))
mime_values = st.sampled_from(
    [
        b"multipart/mixed; boundary=b",
        b"multipart/alternative; boundary=",
        b"message/rfc822",
        b"text/html; charset=utf-7",
        b"text/plain; charset=bogus",
        b'application/octet-stream; name="../x"',
    ]
)
mime_bodies = st.builds(
    lambda kind, body: b"Content-Type: " + kind + b"\nContent-Transfer-Encoding: base64\n\n" + body,
    mime_values,
    st.binary(max_size=120).map(lambda raw: raw.replace(b"\x00", b"--b\n")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), email_text, mime_bodies), st.booleans())
def test_property_only_project_errors_and_caps_hold(data: bytes, as_mbox: bool):
    limits = ParseLimits(max_parts=5, max_attachments=2, max_attachment_depth=1)
    try:
        result = mbox(data, limits) if as_mbox else eml(data, limits)
    except TributaryError:
        return
    for item in result:
        assert isinstance(item, Record | ParseIssue)
        # at most one level of nesting: "[message n / ]part x / part y" never goes further than the cap allows
        assert item.locator.count("part ") <= 2
