"""Word .docx / .docm: python-docx over the main document part, in reading order.

A paragraph is a record under its heading path (`metadata["section"]`, "Intro > Goals", as for Markdown); headings
are structure, not records. A table is one record per row with the first row's cells as field names (like a CSV).
Title and author from the document properties go into every record's metadata. Not read: comments, tracked
insertions and deletions (the text reads as before the changes), headers and footers, footnotes, text boxes, and
images (skipped, one issue per document saying how many).
"""

import zipfile
from collections.abc import Iterator
from typing import BinaryIO

import docx
from docx.document import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.delimited import unique_names
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.package import LIBRARY_ERRORS

_MAIN_PART = "word/document.xml"
_ERRORS: tuple[type[BaseException], ...] = (PackageNotFoundError, *LIBRARY_ERRORS)
_IMAGES = ".//{http://schemas.openxmlformats.org/wordprocessingml/2006/main}drawing"
_PICTURES = ".//{http://schemas.openxmlformats.org/wordprocessingml/2006/main}pict"


def parse_docx(
    source: BinaryIO, archive: zipfile.ZipFile, options: ParseOptions, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    """Paragraphs under their headings and table rows of the document body, in order."""
    _check_main_part(archive, limits)
    try:
        document = docx.Document(source)
        yield from _body(document, limits)
    except RecursionError as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, "the document nests too deeply") from error
    except _ERRORS as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"document: {error}"[:500]) from error


def _check_main_part(archive: zipfile.ZipFile, limits: ParseLimits) -> None:
    """python-docx holds the whole body as a tree: its part is held to the cap of formats read whole."""
    names = {info.filename: info for info in archive.infolist()}
    main = names.get(_MAIN_PART)
    if main is not None and main.file_size > limits.max_document_bytes:
        raise PermanentError(
            Reason.LIMITS_DECOMPRESSED_TOO_LARGE,
            f"{_MAIN_PART} is {main.file_size} bytes > {limits.max_document_bytes}",
        )


def _body(document: Document, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    properties = document.core_properties
    base = {key: value for key, value in (("title", properties.title), ("author", properties.author)) if value}
    # Style id -> name, once: python-docx's paragraph.style looks the default style up again for every paragraph.
    style_names = {style.style_id: style.name or "" for style in document.styles}
    sections: list[tuple[int, str]] = []  # (level, heading text)
    paragraphs = tables = images = 0
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            tables += 1
            metadata = base | ({"section": _path(sections)} if sections else {})
            yield from _table_rows(block, tables, metadata, limits)
            continue
        paragraphs += 1
        images += len(block._p.findall(_IMAGES)) + len(block._p.findall(_PICTURES))
        text = _clean(block.text)
        if not text:
            continue
        level = _heading_level(block, style_names)
        if level is not None:
            sections = [(lvl, title) for lvl, title in sections if lvl < level] + [(level, text)]
            continue
        if len(text) > limits.max_field_chars:
            detail = f"{len(text)} characters > {limits.max_field_chars}"
            yield ParseIssue(
                locator=f"paragraph {paragraphs}", reason_code=Reason.LIMITS_PARAGRAPH_TOO_LARGE, detail=detail
            )
            continue
        metadata = base | ({"section": _path(sections)} if sections else {})
        yield Record(text=text, locator=f"paragraph {paragraphs}", metadata=metadata)
    if images:
        detail = f"{images} image(s) skipped: text in images is not read"
        yield ParseIssue(locator="document", reason_code=Reason.PARSE_OFFICE_IMAGE_SKIPPED, detail=detail)


def _heading_level(paragraph: Paragraph, style_names: dict[str, str]) -> int | None:
    """0 for 'Title', N for 'Heading N'; None for a body paragraph."""
    properties = paragraph._p.pPr
    style_id = properties.style if properties is not None else None
    name = style_names.get(style_id, "") if style_id else ""
    if name == "Title":
        return 0
    if name.startswith("Heading ") and name[8:].isdigit():
        return int(name[8:])
    return None


def _table_rows(
    table: Table, number: int, metadata: dict[str, str], limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    names: list[str] | None = None
    for index, row in enumerate(table.rows, start=1):
        locator = f"table {number} / row {index}"
        cells = [_clean(cell.text) for cell in row.cells][: limits.max_fields]
        if not any(cells):
            continue
        if any(len(cell) > limits.max_field_chars for cell in cells):
            yield ParseIssue(locator=locator, reason_code=Reason.LIMITS_FIELD_TOO_LARGE, detail="row skipped")
            continue
        if names is None:
            names, _ = unique_names(cells)
            continue
        if len(cells) > len(names):
            names = names + [f"column_{i}" for i in range(len(names) + 1, len(cells) + 1)]
        fields = dict(zip(names, cells, strict=False))
        text = "; ".join(f"{name}: {value}" for name, value in fields.items() if value)
        yield Record(text=text, locator=locator, fields=fields, metadata=metadata | {"block": "table"})


def _path(sections: list[tuple[int, str]]) -> str:
    return " > ".join(title for _, title in sections)


def _clean(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
