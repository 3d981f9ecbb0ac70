"""PowerPoint: a record per slide in the presentation's order, title then body then notes; crafted parts refused."""

import io

import pytest

from shared.domain import ParseIssue, PermanentError, Record
from shared.parsing import ParseLimits, parse
from tests.support.office import pptx

LIMITS = ParseLimits()
DECK = pptx(
    [
        ("Project Heron", ["Ada Lovelace leads", "Launch in Lisbon"], "Mention the Acme Labs budget."),
        ("", [], ""),
        ("Risks", ["Supplier delay"], ""),
    ]
)


def parsed(data: bytes, limits: ParseLimits = LIMITS) -> list[Record | ParseIssue]:
    return list(parse(io.BytesIO(data), "application/zip", limits))


def test_each_slide_with_text_is_a_record_of_title_body_and_notes():
    result = parsed(DECK)
    assert [(r.locator, r.text, dict(r.metadata)) for r in result if isinstance(r, Record)] == [
        (
            "slide 1",
            "Project Heron\nAda Lovelace leads\nLaunch in Lisbon\nMention the Acme Labs budget.",
            {"slide_title": "Project Heron"},
        ),
        ("slide 3", "Risks\nSupplier delay", {"slide_title": "Risks"}),
    ]


def test_an_entity_in_a_slide_is_refused_before_any_slide_is_read():
    entity = b'<!DOCTYPE p:sld [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    with pytest.raises(PermanentError) as raised:
        parsed(pptx([("T", ["&xxe;"], "")], entity=entity))
    assert raised.value.reason_code == "parse.xml.entities_forbidden"


def test_a_slide_part_past_the_whole_read_cap_is_refused():
    with pytest.raises(PermanentError) as raised:
        parsed(DECK, ParseLimits(max_document_bytes=200))
    assert raised.value.reason_code == "limits.decompressed_too_large"
