"""Markdown: one record per top-level block (paragraph, list, table, quote, code), under its heading path.

Headings are structure, not records: they become `metadata["section"]` ("Intro > Goals") of the blocks below
them. Code blocks are kept as records (`metadata["block"] = "code"`): they often hold the names and settings people
search for. YAML front matter is one record (`block = "front_matter"`), never parsed as YAML.
"""

import re
from collections.abc import Iterator
from typing import BinaryIO

from markdown_it import MarkdownIt
from markdown_it.token import Token

from shared.domain import PermanentError, Reason, Record
from shared.parsing.html import html_to_text, read_whole
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.MULTILINE)
_BLOCK_KINDS = {
    "paragraph_open": "paragraph",
    "bullet_list_open": "list",
    "ordered_list_open": "list",
    "table_open": "table",
    "blockquote_open": "quote",
}


def parse_markdown(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record]:
    """Yield each top-level block with its heading path in `metadata['section']` and its first line as locator."""
    source = _read(stream, options.encoding, limits)
    source, front_matter = _split_front_matter(source)
    if front_matter:
        yield Record(text=front_matter, locator="line 1", metadata={"block": "front_matter"})
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    sections: list[str] = []
    for first, kind, text, fields in _blocks(tokens, sections):
        if not text:
            continue
        if len(text) > limits.max_field_chars:
            detail = f"block at line {first} exceeds {limits.max_field_chars}"
            raise PermanentError(Reason.LIMITS_PARAGRAPH_TOO_LARGE, detail)
        metadata = {"block": kind} | ({"section": " > ".join(sections)} if sections else {})
        yield Record(text=text, locator=f"line {first}", fields=fields, metadata=metadata)


def _read(stream: BinaryIO, encoding: str | None, limits: ParseLimits) -> str:
    data = read_whole(stream, limits.max_document_bytes, Reason.PARSE_MARKDOWN_TOO_LARGE)
    try:
        return data.decode(encoding or "utf-8-sig")
    except UnicodeDecodeError as error:
        raise PermanentError(
            Reason.PARSE_TEXT_DECODE_ERROR, f"invalid {error.encoding} at byte {error.start}"
        ) from error
    except LookupError as error:
        raise PermanentError(Reason.PARSE_ENCODING_UNKNOWN, str(error)) from error


def _split_front_matter(source: str) -> tuple[str, str]:
    """Front matter text, and the source with its lines blanked so every later line number stays true."""
    if not source.startswith("---\n") and not source.startswith("---\r\n"):
        return source, ""
    end = _FRONT_MATTER_END.search(source, source.index("\n") + 1)
    if end is None:
        return source, ""
    inner = source[source.index("\n") + 1 : end.start()]
    consumed = source[: end.end()]
    return "\n" * consumed.count("\n") + source[end.end() :], inner.strip()


def _blocks(tokens: list[Token], sections: list[str]) -> Iterator[tuple[int, str, str, dict[str, str]]]:
    """(first line, kind, text, fields) per top-level block (per row for tables); `sections` follows headings."""
    index = 0
    while index < len(tokens):
        token = tokens[index]
        first = token.map[0] + 1 if token.map else 0
        if token.type == "heading_open" and index + 1 < len(tokens):
            _enter_section(sections, int(token.tag[1:]), _inline_text(tokens[index + 1]))
            index += 3
            continue
        if token.type in ("fence", "code_block"):
            yield first, "code", token.content.strip(), {}
        elif token.type == "html_block":
            yield first, "html", html_to_text(token.content), {}
        elif token.type == "table_open":
            end = _closing(tokens, index)
            yield from _table_rows(tokens[index:end])
            index = end
        elif token.type in _BLOCK_KINDS:
            end = _closing(tokens, index)
            yield first, _BLOCK_KINDS[token.type], _group_text(tokens[index:end]), {}
            index = end
        index += 1


def _enter_section(sections: list[str], level: int, title: str) -> None:
    del sections[level - 1 :]
    # A skipped level ('#' then '###') leaves no empty step in the path.
    sections.append(title or "(untitled)")


def _closing(tokens: list[Token], start: int) -> int:
    depth = 0
    for index in range(start, len(tokens)):
        depth += tokens[index].nesting
        if depth == 0:
            return index
    return len(tokens) - 1


def _table_rows(tokens: list[Token]) -> Iterator[tuple[int, str, str, dict[str, str]]]:
    """A table is data: one record per body row, its cells named by the header, as a CSV row would be."""
    header: list[str] = []
    for first, cells in _rows(tokens):
        if not header:
            header = [cell or f"column_{number}" for number, cell in enumerate(cells, start=1)]
            continue
        names = header + [f"column_{number}" for number in range(len(header) + 1, len(cells) + 1)]
        fields = dict(zip(names, cells, strict=False))
        text = "; ".join(f"{name}: {value}" for name, value in fields.items() if value)
        yield first, "table_row", text, fields


def _rows(tokens: list[Token]) -> Iterator[tuple[int, list[str]]]:
    first = 0
    row: list[str] | None = None
    for token in tokens:
        if token.type == "tr_open":
            first, row = (token.map[0] + 1 if token.map else 0), []
        elif token.type == "tr_close" and row is not None:
            yield first, row
            row = None
        elif token.type == "inline" and row is not None:
            row.append(_inline_text(token))


def _group_text(tokens: list[Token]) -> str:
    """Lines of a block: one per paragraph or list item."""
    lines: list[str] = []
    for token in tokens:
        if token.type == "inline":
            text = _inline_text(token)
            if text:
                lines.append(text)
        elif token.type in ("fence", "code_block") and token.content.strip():
            lines.append(token.content.strip())
    return "\n".join(lines)


def _inline_text(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "image"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())
