"""A chunk's locator: the range of records it covers, named as a reader would (`rows 12–48`, `lines 3–40`,
`/catalog/book[3–9]`, `§ Install > Linux, lines 3–40`)."""

import re

_COUNTED = re.compile(r"^(?P<prefix>.*?\b)(?P<kind>row|line|part|block|message) (?P<number>\d+)(?: \(id=.*\))?$")
_INDEXED = re.compile(r"^(?P<prefix>.*)\[(?P<number>\d+)\]$")
RANGE_DASH = "–"  # an en dash, as in print
_DIGITS = "0123456789"


def without_position(locator: str) -> str:
    """The locator less the record's own position: what all records of one table, file or array share."""
    head = locator.rstrip(_DIGITS)
    if head.endswith(" ") and head != locator:  # 'row 12', 'a.zip / line 3': the common case, without a regex
        return head[:-1]
    if match := _COUNTED.match(locator):
        return f"{match['prefix']}{match['kind']}"
    if match := _INDEXED.match(locator):
        return match["prefix"]
    return locator


def span(first: str, last: str, section: str = "") -> str:
    """The locator of a chunk whose first record is at `first` and last at `last`, under heading path `section`."""
    where = first if first == last else _range(first, last)
    return f"§ {section}, {where}" if section else where


def _range(first: str, last: str) -> str:
    start, end = _COUNTED.match(first), _COUNTED.match(last)
    if start and end and (start["prefix"], start["kind"]) == (end["prefix"], end["kind"]):
        return f"{start['prefix']}{start['kind']}s {start['number']}{RANGE_DASH}{end['number']}"
    start, end = _INDEXED.match(first), _INDEXED.match(last)
    if start and end and start["prefix"] == end["prefix"]:
        return f"{start['prefix']}[{start['number']}{RANGE_DASH}{end['number']}]"
    return f"{first} {RANGE_DASH} {last}"
