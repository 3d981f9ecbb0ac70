"""Sentences of a chunk's text for the rule extractor: Markdown structure and blank lines end a block, then
sentence ends (not after an abbreviation) split it."""

import re
import unicodedata
from collections.abc import Iterator

_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+")
# Whether a text holds a sentence end at all: the same test on one mark, twice as fast to run as the above.
_ANY_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s")
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_MARKDOWN_BLOCK_START = re.compile(r"^(?:#{1,6}\s|[-*+>]\s|\d+[.)]\s|\|)")
_HEADER_LINE = re.compile(r"^(?:\*\*|__)?(\w+(?: \w+){0,2}):(?:\*\*|__)?\s")
_MARKDOWN_LINE_MARKER = re.compile(r"^(?:#{1,6}|[-*+>]|\d+[.)])\s+")
# The text parser joins a paragraph's lines with spaces, so list items and table cells arrive inline.
_INLINE_BREAK = re.compile(r"\s+[-*+]\s+(?=\S)|\s*\|\s*")
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKDOWN_EMPHASIS = re.compile(r"\*\*|__|`")
_SPACES = re.compile(r"\s+")
_LIST_MARK = re.compile(r"[-*+]\s")  # what the first alternative of _INLINE_BREAK needs
_LINE_BREAK = re.compile("[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")  # what str.splitlines splits on
_ODD_SPACE = re.compile(r"\s\s|[^\S ]")  # two spaces or a space other than " "


def split_sentences(text: str, abbreviations: frozenset[str] = frozenset()) -> list[str]:
    """Sentences of a text: blank lines and Markdown structure end a block, then sentence ends split it."""
    sentences: list[str] = []
    if not text.isascii():  # ASCII is NFC already, and str knows whether it is ASCII without a scan
        text = unicodedata.normalize("NFC", text)
    if _is_plain(text):
        return _sentences_in(text.strip(), abbreviations)
    for block in _blocks(text) if _LINE_BREAK.search(text) else _one_line_block(text):
        # The inline-break regex is tried at every position: look for the characters it needs first.
        pieces = _INLINE_BREAK.split(block) if "|" in block or _LIST_MARK.search(block) else (block,)
        for piece in pieces:
            sentences.extend(_sentences_in(_clean_markdown(piece), abbreviations))
    return sentences


def _is_plain(text: str) -> bool:
    """A one-line text with nothing for the Markdown steps to do: the usual chunk of prose, a cell, a sentence.

    Printable: no line break, and no space but " " (so a list mark is "- ", "* " or "+ "). A few substring tests
    cost less than the scans they spare.
    """
    if not text.isprintable():
        return False
    if "|" in text or "*" in text or "_" in text or "`" in text or "](" in text or "- " in text or "+ " in text:
        return False
    line = text.lstrip()
    return "  " not in text and not (line and (line[0] in "#>" or line[0].isdigit()))


def _blocks(text: str) -> Iterator[str]:
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if lines and (not line or _starts_block(line)):
            yield " ".join(lines)
            lines = []
        if line:
            lines.append(_MARKDOWN_LINE_MARKER.sub("", line, count=1))
        # Headings and table rows stand alone; a hard-wrapped paragraph line does not.
        if lines and (line.startswith(("#", "|"))):
            yield " ".join(lines)
            lines = []
    if lines:
        yield " ".join(lines)


def _one_line_block(text: str) -> list[str]:
    """`_blocks` of a text without line breaks (a record, a cell, a sentence), without the line loop."""
    line = text.strip()
    if not line:
        return []
    # The marker regex only where a marker can start: "#", a list bullet, a quote or a number.
    return [_MARKDOWN_LINE_MARKER.sub("", line, count=1) if line[0] in "#-*+>" or line[0].isdigit() else line]


def _starts_block(line: str) -> bool:
    # Markdown headings, list items, quotes and table rows; and memo headers ("From: …", "**Attendees:** …"),
    # whose capital keeps a hard-wrapped line such as "the calibration work: Kaito …" in its paragraph.
    header = _HEADER_LINE.match(line)
    return bool(_MARKDOWN_BLOCK_START.match(line) or (header and header.group(1)[:1].isupper()))


def _clean_markdown(block: str) -> str:
    if "](" in block:
        block = _MARKDOWN_LINK.sub(r"\1", block)
    if "*" in block or "_" in block or "`" in block:
        block = _MARKDOWN_EMPHASIS.sub("", block)
    # Only a space is printable among the spaces: a block without two in a row nor any other is clean.
    if "  " in block or not block.isprintable():
        return _SPACES.sub(" ", block).strip() if _ODD_SPACE.search(block) else block.strip()
    return block.strip()


def _sentences_in(block: str, abbreviations: frozenset[str]) -> list[str]:
    if not _ANY_SENTENCE_END.search(block):
        return [block] if block else []  # one sentence (blocks come stripped)
    sentences, start = [], 0
    for end in _SENTENCE_END.finditer(block):
        if _is_sentence_boundary(block, end, abbreviations):
            sentences.append(block[start : end.end()].strip())
            start = end.end()
    if block[start:].strip():
        sentences.append(block[start:].strip())
    return sentences


def _is_sentence_boundary(block: str, end: re.Match[str], abbreviations: frozenset[str]) -> bool:
    following = block[end.end() : end.end() + 1]
    starts_sentence = following.isupper() or following.isdigit() or following in "\"“'‘("
    before = _WORD_BEFORE.search(block[max(0, end.start() - 40) : end.start()])
    word = before.group(1) if before else ""
    is_abbreviation = word.casefold() in abbreviations or (len(word) == 1 and word.isupper())
    return bool(following) and starts_sentence and not is_abbreviation
