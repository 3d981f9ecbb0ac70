"""XML: defusedxml streaming, record elements, element paths as locators, hostile documents refused by reason."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain import ParseIssue, PermanentError, Record, TributaryError
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.xml import parse_xml
from tests.support.hostile import HOSTILE, expected_outcomes

FIXTURES = HOSTILE / "xml"
LIMITS = ParseLimits()


def items(data: bytes, options: ParseOptions | None = None, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse_xml(io.BytesIO(data), options or ParseOptions(), limits))


def reason_of(data: bytes, options: ParseOptions | None = None, limits: ParseLimits = LIMITS) -> str:
    with pytest.raises(PermanentError) as raised:
        items(data, options, limits)
    return raised.value.reason_code


CATALOG = b"""<?xml version="1.0" encoding="UTF-8"?>
<catalog xmlns="urn:books" xmlns:x="urn:extra">
  <book id="b1" x:lang="pt"><title>Tides of Lisbon</title><author>Zo\xc3\xab Okafor</author>
    <author>Ada</author><meta><year>2024</year></meta></book>
  <note>Shelf <em>three</em> is full.</note>
  <book id="b2"><title>North Sea Notes</title></book>
</catalog>"""


def test_each_child_of_the_root_is_a_record_with_its_element_path():
    # GIVEN a catalog without a configured record element
    # WHEN it is parsed
    result = items(CATALOG)
    # THEN each direct child of the root is one record, located by path and 1-based index per name
    assert [r.locator for r in result] == ["/catalog/book[1]", "/catalog/note[1]", "/catalog/book[2]"]
    first = result[0]
    assert first.fields == {
        "@id": "b1",
        "@lang": "pt",
        "title": "Tides of Lisbon",
        "author": "Zoë Okafor; Ada",
        "meta/year": "2024",
    }
    assert first.text == "id: b1; lang: pt; title: Tides of Lisbon; author: Zoë Okafor; Ada; meta/year: 2024"
    # mixed content keeps its words in document order
    assert result[1].text == "Shelf is full.; em: three"


def test_configured_record_element_matches_local_names_at_any_depth():
    # GIVEN records nested under shelves, in a namespace, with the record element configured
    data = (
        b'<lib xmlns:n="urn:n"><shelf><n:item>a</n:item><n:item>b</n:item></shelf>'
        b"<shelf><n:item>c</n:item></shelf></lib>"
    )
    # WHEN parsed with record_element="item"
    result = items(data, ParseOptions(record_element="item"))
    # THEN every matching element is a record, wherever it sits
    assert [(r.locator, r.text) for r in result] == [
        ("/lib/shelf[1]/item[1]", "a"),
        ("/lib/shelf[1]/item[2]", "b"),
        ("/lib/shelf[2]/item[1]", "c"),
    ]


def test_a_nested_match_belongs_to_the_outer_record():
    data = b"<r><item><name>outer</name><item><name>inner</name></item></item></r>"
    result = items(data, ParseOptions(record_element="item"))
    assert [r.locator for r in result] == ["/r/item[1]"]
    assert result[0].fields == {"name": "outer", "item/name": "inner"}


def test_a_root_without_children_is_the_one_record_and_empty_records_are_skipped():
    assert [(r.text, r.locator) for r in items(b"<root> just   text </root>")] == [("just text", "/root")]
    assert items(b"<root><empty/><blank>  </blank></root>") == []


def test_records_stream_before_the_whole_file_is_read():
    # GIVEN a large document behind a stream that counts what is read
    body = b"<rows>" + b"<row><v>1</v></row>" * 200_000 + b"</rows>"
    stream = io.BytesIO(body)
    # WHEN only the first record is taken
    first = next(parse_xml(stream, ParseOptions(), LIMITS))
    # THEN it came out after reading a small part of the file
    assert first.locator == "/rows/row[1]"
    assert stream.tell() < len(body) // 10


def test_processed_elements_are_released_from_the_tree():
    # GIVEN many records WHEN all are parsed THEN each is cleared and detached as it is yielded (memory stays flat)
    parser = parse_xml(io.BytesIO(b"<r>" + b"<i>x</i>" * 1000 + b"</r>"), ParseOptions(), LIMITS)
    assert sum(1 for _ in parser) == 1000


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', "parse.xml.entities_forbidden"),
        (b'<!DOCTYPE a [<!ENTITY e SYSTEM "file:///etc/passwd">]><a>&e;</a>', "parse.xml.entities_forbidden"),
        (b'<!DOCTYPE a [<!ENTITY e SYSTEM "x" NDATA gif>]><a/>', "parse.xml.entities_forbidden"),
        (b'<!DOCTYPE a [<!ENTITY % p "x">]><a/>', "parse.xml.entities_forbidden"),
        (b'<!DOCTYPE a [<!ENTITY % p SYSTEM "http://example.com/p.dtd"> %p;]><a/>', "parse.xml.entities_forbidden"),
        (b'<!DOCTYPE a [<!ATTLIST a t CDATA "x">]><a>&lt;&#65;&undeclared;</a>', "parse.xml.malformed"),
        (b"<a>&undeclared;</a>", "parse.xml.malformed"),
        (b"<a><b></a>", "parse.xml.malformed"),
        (b"", "parse.xml.malformed"),
        (b"<a/><b/>", "parse.xml.malformed"),
        (b'<?xml version="1.0" encoding="no-such-codec"?><a/>', "parse.encoding.unknown"),
        (b"<a>\xff\xfe</a>", "parse.xml.malformed"),
    ],
)
def test_hostile_or_broken_documents_fail_with_a_specific_reason(data: bytes, reason: str):
    assert reason_of(data) == reason


@pytest.mark.parametrize(
    "data",
    [
        b"<!DOCTYPE spec><spec><title>T</title></spec>",
        b'<!DOCTYPE spec SYSTEM "http://example.com/spec.dtd"><spec><title>T</title></spec>',
        b'<!DOCTYPE spec PUBLIC "-//X//DTD Spec//EN" "spec.dtd"><spec><title>T</title></spec>',
        b"<!DOCTYPE spec [\n<!ELEMENT spec (title)>\n<!ELEMENT title (#PCDATA)>\n"
        b"<!ATTLIST title lang CDATA #IMPLIED>\n<!-- a comment --><?pi x?>\n]><spec><title>T</title></spec>",
    ],
)
def test_a_doctype_and_an_internal_subset_without_entities_parse(data: bytes):
    # GIVEN a document with a DOCTYPE (plain, naming an external DTD that is never fetched, or with element and
    # attribute declarations) WHEN parsed THEN it reads like the same document without one
    assert [(r.locator, r.text) for r in items(data)] == [("/spec/title[1]", "T")]


def test_attribute_defaults_of_the_dtd_never_reach_an_element():
    # GIVEN an ATTLIST default (an amplification vector: one declaration, copied onto every element)
    data = b'<!DOCTYPE r [<!ATTLIST i pad CDATA "' + b"x" * 1000 + b'">]><r><i a="1">v</i><i>w</i></r>'
    # WHEN parsed THEN only the attributes written in the document are read
    assert [dict(r.fields) for r in items(data)] == [{"@a": "1", "text": "v"}, {"text": "w"}]


def test_depth_record_and_field_caps_are_enforced():
    deep = b"<a>" * 11 + b"</a>" * 11
    assert reason_of(deep, limits=ParseLimits(max_xml_depth=10)) == "parse.xml.too_deep"
    assert items(b"<a>" * 10 + b"</a>" * 10, limits=ParseLimits(max_xml_depth=10)) == []
    big_record = b"<r><rec>" + b"<v>0123456789</v>" * 20 + b"</rec></r>"
    assert reason_of(big_record, limits=ParseLimits(max_record_chars=100)) == "limits.record_too_large"
    assert reason_of(b"<r><v>" + b"x" * 101 + b"</v></r>", limits=ParseLimits(max_field_chars=100)) == (
        "limits.field_too_large"
    )
    # empty elements count too: a record of a million <e/> cannot grow unseen
    assert reason_of(b"<r><rec>" + b"<e/>" * 200 + b"</rec></r>", limits=ParseLimits(max_record_chars=100)) == (
        "limits.record_too_large"
    )


@pytest.mark.parametrize("name", sorted(expected_outcomes("xml")))
def test_hostile_fixture_outcome_matches_expected(name: str):
    # GIVEN a crafted file and its promised outcome WHEN parsed directly THEN the outcome is exactly that
    expected = expected_outcomes("xml")[name]
    data = (FIXTURES / name).read_bytes()
    if "fails" in expected:
        assert reason_of(data) == expected["fails"]
    else:
        issues = {item.reason_code for item in items(data) if isinstance(item, ParseIssue)}
        assert issues == set(expected.get("issues") or [])


xml_text = st.recursive(
    st.text(alphabet="ab<>/&;\"'= !-?[]x", max_size=20),
    lambda inner: st.builds(lambda tag, body: f"<{tag}>{body}</{tag}>", st.sampled_from("abc"), inner),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), xml_text.map(str.encode)), st.sampled_from([None, "a", "b"]))
def test_property_only_project_errors_and_caps_hold(data: bytes, record_element: str | None):
    # GIVEN arbitrary bytes or XML-ish text WHEN parsed with a small depth cap
    limits = ParseLimits(max_xml_depth=4, max_record_chars=50)
    try:
        result = items(data, ParseOptions(record_element=record_element), limits)
    except TributaryError:
        return
    # THEN it either fails with a project error or yields records within the caps
    for record in result:
        assert isinstance(record, Record)
        assert record.locator.count("/") <= 4
