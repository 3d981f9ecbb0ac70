"""HTML (visible text by block, title, links never fetched) and Markdown (blocks under their heading path)."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain import PermanentError, Record, TributaryError
from shared.parsing.html import html_to_text, parse_html
from shared.parsing.limits import ParseLimits
from shared.parsing.markdown import parse_markdown
from shared.parsing.options import ParseOptions
from tests.support.hostile import HOSTILE, expected_outcomes

FIXTURES = HOSTILE / "html"
LIMITS = ParseLimits()


def html(data: bytes, limits: ParseLimits = LIMITS, encoding: str | None = None) -> list[Record]:
    return list(parse_html(io.BytesIO(data), ParseOptions(encoding=encoding), limits))


def markdown(data: bytes, limits: ParseLimits = LIMITS) -> list[Record]:
    return list(parse_markdown(io.BytesIO(data), ParseOptions(), limits))


PAGE = b"""<!doctype html><html><head><title> Quarterly   notes </title><style>p{color:red}</style>
<script>document.write("<p>injected</p>")</script></head>
<body><nav><a href="/home">Home</a> <a href="javascript:alert(1)">Run</a> <a href="#top">Top</a></nav>
<div>Intro <p>Zo\xc3\xab leads <a href="https://example.com/heron">Heron</a>.</p> outro</div>
<table><tr><td>Lisbon</td><td>12</td></tr></table>
<div hidden>secret</div><span style="display: none">also secret</span><noscript>enable js</noscript>
<template><p>template</p></template><!-- a comment --><ul><li>one</li><li>two</li></ul></body></html>"""


def test_visible_text_becomes_block_records_with_title_and_safe_links():
    # GIVEN a page with scripts, styles, hidden elements and links
    # WHEN parsed
    result = html(PAGE)
    # THEN only visible text remains, one record per block, in document order
    assert [(r.locator, r.text) for r in result] == [
        ("block 1", "Home Run Top"),
        ("block 2", "Intro"),
        ("block 3", "Zoë leads Heron ."),
        ("block 4", "outro"),
        ("block 5", "Lisbon 12"),
        ("block 6", "one"),
        ("block 7", "two"),
    ]
    assert all(r.metadata["title"] == "Quarterly notes" for r in result)
    # AND links are kept per block, never javascript: or fragment links
    assert result[0].metadata["links"] == "/home"
    assert result[2].metadata["links"] == "https://example.com/heron"
    assert "links" not in result[1].metadata


def test_links_per_block_are_capped():
    page = b"<p>" + b"".join(b'<a href="https://e.com/%d">l</a>' % i for i in range(10)) + b"</p>"
    (record,) = html(page, ParseLimits(max_links=3))
    assert record.metadata["links"].splitlines() == ["https://e.com/0", "https://e.com/1", "https://e.com/2"]


@pytest.mark.parametrize(
    ("data", "encoding", "text"),
    [
        (b'<meta charset="iso-8859-1"><p>caf\xe9</p>', None, "café"),
        (b"\xef\xbb\xbf<p>caf\xc3\xa9</p>", None, "café"),
        ("<p>café</p>".encode("utf-16"), None, "café"),
        (b"<p>caf\xe9 \x81</p>", None, "café \ufffd"),
        (b"<p>caf\xe9</p>", "latin-1", "café"),
    ],
)
def test_encodings_are_detected_without_guessing_libraries(data: bytes, encoding: str | None, text: str):
    assert [r.text for r in html(data, encoding=encoding)] == [text]


def test_empty_or_comment_only_documents_yield_nothing():
    assert html(b"") == []
    assert html(b"   <!-- nothing -->  ") == []


def test_size_and_depth_caps_fail_the_document():
    with pytest.raises(PermanentError) as raised:
        html(b"<p>" + b"x" * 200, ParseLimits(max_document_bytes=100))
    assert raised.value.reason_code == "parse.html.too_large"
    with pytest.raises(PermanentError) as raised:
        html(b"<div>" * 5000 + b"lost text")
    assert raised.value.reason_code == "parse.html.too_deep"


def test_html_to_text_is_one_line_per_block():
    assert html_to_text("<p>Hi <b>there</b></p><script>x()</script><p>bye</p>") == "Hi there\nbye"
    assert html_to_text("") == ""


def test_hostile_markup_stays_linear():
    # html.parser is quadratic on these; lxml reads them in milliseconds
    assert html(b"<a " * 50_000) == []
    assert len(html(b"<p>x" * 50_000)) == 50_000


@pytest.mark.parametrize("name", sorted(expected_outcomes("html")))
def test_hostile_html_fixture_outcome_matches_expected(name: str):
    expected = expected_outcomes("html")[name]
    data = (FIXTURES / name).read_bytes()
    if "fails" in expected:
        with pytest.raises(PermanentError) as raised:
            html(data)
        assert raised.value.reason_code == expected["fails"]
    else:
        result = html(data)
        assert all("not text" not in r.text and "injected" not in r.text for r in result)


NOTES = b"""---
title: Notes
owner: Zo\xc3\xab
---
# Intro

First paragraph
continues here.

## Goals

- ship *it*
- test `code`

| city | staff |
|------|-------|
| Lisbon | 12 |

```python
print("kept")
```

### Risks
> quoted
> words

<div>raw <b>html</b><script>x()</script></div>

# Later
Last words.
"""


def test_markdown_blocks_carry_their_section_path_and_first_line():
    # GIVEN a document with front matter, nested headings, a list, a table, code, a quote and raw HTML
    # WHEN parsed
    result = markdown(NOTES)
    table_row = next(r for r in result if r.metadata["block"] == "table_row")
    assert table_row.fields == {"city": "Lisbon", "staff": "12"}
    # THEN each top-level block is one record (a table one per body row, as data), under its heading path,
    # located by its first line
    assert [(r.locator, r.metadata, r.text) for r in result] == [
        ("line 1", {"block": "front_matter"}, "title: Notes\nowner: Zoë"),
        ("line 7", {"block": "paragraph", "section": "Intro"}, "First paragraph continues here."),
        ("line 12", {"block": "list", "section": "Intro > Goals"}, "ship it\ntest code"),
        ("line 17", {"block": "table_row", "section": "Intro > Goals"}, "city: Lisbon; staff: 12"),
        ("line 19", {"block": "code", "section": "Intro > Goals"}, 'print("kept")'),
        ("line 24", {"block": "quote", "section": "Intro > Goals > Risks"}, "quoted words"),
        ("line 27", {"block": "html", "section": "Intro > Goals > Risks"}, "raw html"),
        ("line 30", {"block": "paragraph", "section": "Later"}, "Last words."),
    ]


def test_markdown_without_front_matter_and_with_a_skipped_heading_level():
    result = markdown(b"---\nnot closed\n\n# A\n### C\ntext\n")
    assert [(r.locator, r.metadata.get("section"), r.text) for r in result][-1] == ("line 6", "A > C", "text")


@pytest.mark.parametrize(
    ("data", "limits", "reason"),
    [
        (b"# x\n" + b"y" * 200, ParseLimits(max_document_bytes=100), "parse.markdown.too_large"),
        (b"para " * 100, ParseLimits(max_field_chars=100), "limits.paragraph_too_large"),
        (b"ok\n\n\xff\xfe", LIMITS, "parse.text.decode_error"),
    ],
)
def test_markdown_caps_and_decoding_fail_with_a_reason(data: bytes, limits: ParseLimits, reason: str):
    with pytest.raises(PermanentError) as raised:
        markdown(data, limits)
    assert raised.value.reason_code == reason


html_text = st.lists(
    st.one_of(
        st.sampled_from(["<p>", "</p>", "<div>", "<script>", "</script>", "<a href='", "<!--", "-->", "<![CDATA["]),
        st.sampled_from(["<title>", "<br>", "<li>", "<table><tr><td>", "hidden ", "style='display:none'>", "&#0;"]),
        st.text(max_size=10),
    ),
    max_size=40,
).map("".join)
markdown_text = st.lists(
    st.one_of(
        st.sampled_from(
            ["# ", "## ", "- ", "1. ", "> ", "```", "---", "| a | b |", "|---|---|", "\n", "    ", "<div>"]
        ),
        st.text(max_size=10),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), html_text.map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_property_html_only_project_errors_and_caps_hold(data: bytes):
    limits = ParseLimits(max_links=2, max_document_bytes=250)
    try:
        result = html(data, limits)
    except TributaryError:
        return
    for record in result:
        assert record.text.strip()
        assert len(record.metadata.get("links", "").splitlines()) <= 2
        assert record.locator.startswith("block ")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=300), markdown_text.map(lambda s: s.encode("utf-8", "surrogatepass"))))
def test_property_markdown_only_project_errors_and_caps_hold(data: bytes):
    limits = ParseLimits(max_field_chars=40, max_document_bytes=250)
    try:
        result = markdown(data, limits)
    except TributaryError:
        return
    for record in result:
        assert 0 < len(record.text) <= 40
        assert record.locator.startswith("line ")


@pytest.mark.parametrize("name", ["no-such-codec", "base64"])
def test_markdown_with_an_unknown_or_non_text_encoding_fails_with_the_one_unknown_encoding_code(name):
    # GIVEN an ingestion config forcing an encoding Python has no text codec for
    options = ParseOptions(encoding=name)
    # WHEN the Markdown is read
    with pytest.raises(PermanentError) as raised:
        list(parse_markdown(io.BytesIO(b"# Title\n"), options, LIMITS))
    # THEN it fails with the same code as every other parser (never parse.text.unknown_encoding)
    assert raised.value.reason_code == "parse.encoding.unknown"
