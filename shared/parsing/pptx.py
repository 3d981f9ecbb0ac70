"""PowerPoint .pptx / .pptm: one record per slide, in the presentation's order, located 'slide 3'.

Read with lxml straight from the package (python-pptx would add Pillow and XlsxWriter to the deployed app for a
reader this small): the slide order from presentation.xml, each slide's title placeholder, every other paragraph
of its shapes, tables and groups in document order, and its notes. Text is 'title', then the body, then the notes;
metadata has the slide's title. Not read: text in images and charts, SmartArt drawings, slide masters and layouts,
comments, hidden-slide flags (hidden slides are read). Images are skipped with one issue per presentation.
"""

import posixpath
import zipfile
from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
NOTES_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide"
_PRESENTATION = "ppt/presentation.xml"
_TITLES = frozenset({"title", "ctrTitle"})
_NOT_NOTES = frozenset({"sldImg", "sldNum", "hdr", "ftr", "dt"})  # placeholders of a notes page that are not notes
# No DTD reaches here (shared.parsing.package refuses it); this parser still never resolves or fetches anything.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def parse_pptx(
    source: BinaryIO, archive: zipfile.ZipFile, options: ParseOptions, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    """Title, body and notes of each slide."""
    package = _Package(archive, limits)
    images = 0
    for number, slide_part in enumerate(package.slides(), start=1):
        locator = f"slide {number}"
        slide = package.xml(slide_part)
        if slide is None:
            yield ParseIssue(locator=locator, reason_code=Reason.PARSE_OFFICE_MALFORMED, detail=f"{slide_part} missing")
            continue
        images += sum(1 for _ in slide.iter(f"{P}pic"))
        title, body = _slide_text(slide)
        notes_part = package.related(slide_part, NOTES_REL)
        notes_root = package.xml(notes_part) if notes_part else None
        notes = _notes_text(notes_root) if notes_root is not None else []
        text = "\n".join([*([title] if title else []), *body, *notes])
        if not text:
            continue
        if len(text) > limits.max_record_chars:
            detail = f"{len(text)} characters > {limits.max_record_chars}; slide skipped"
            yield ParseIssue(locator=locator, reason_code=Reason.LIMITS_RECORD_TOO_LARGE, detail=detail)
            continue
        yield Record(text=text, locator=locator, metadata={"slide_title": title} if title else {})
    if images:
        detail = f"{images} image(s) skipped: text in images is not read"
        yield ParseIssue(locator="presentation", reason_code=Reason.PARSE_OFFICE_IMAGE_SKIPPED, detail=detail)


class _Package:
    """Parts of the presentation by name, each parsed whole within the cap of formats read whole."""

    def __init__(self, archive: zipfile.ZipFile, limits: ParseLimits) -> None:
        self._archive = archive
        self._cap = limits.max_document_bytes
        self._names = set(archive.namelist())

    def xml(self, name: str) -> etree._Element | None:
        if name not in self._names:
            return None
        info = self._archive.getinfo(name)
        if info.file_size > self._cap:
            raise PermanentError(Reason.LIMITS_DECOMPRESSED_TOO_LARGE, f"{name}: {info.file_size} > {self._cap}")
        try:
            with self._archive.open(info) as part:
                return etree.fromstring(part.read(self._cap + 1), _PARSER)
        except (etree.XMLSyntaxError, zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"{name}: {error}"[:500]) from error

    def relationships(self, part: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, target part name) of a part."""
        folder, name = posixpath.split(part)
        root = self.xml(posixpath.join(folder, "_rels", f"{name}.rels"))
        if root is None:
            return {}
        found = {}
        for rel in root.iter(REL):
            target = rel.get("Target", "")
            if rel.get("TargetMode") == "External" or not target:
                continue
            resolved = (
                target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            )
            found[rel.get("Id", "")] = (rel.get("Type", ""), resolved)
        return found

    def related(self, part: str, kind: str) -> str | None:
        return next((target for rel_type, target in self.relationships(part).values() if rel_type == kind), None)

    def slides(self) -> list[str]:
        presentation = self.xml(_PRESENTATION)
        if presentation is None:
            raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"{_PRESENTATION} missing")
        targets = self.relationships(_PRESENTATION)
        ids = [slide.get(R_ID, "") for slide in presentation.iter(f"{P}sldId")]
        return [targets[rid][1] for rid in ids if rid in targets]


def _placeholder(shape: etree._Element) -> str | None:
    ph = shape.find(f"{P}nvSpPr/{P}nvPr/{P}ph")
    return None if ph is None else ph.get("type", "body")


def _paragraphs(element: etree._Element) -> list[str]:
    texts = []
    for paragraph in element.iter(f"{A}p"):
        text = " ".join("".join(run.text or "" for run in paragraph.iter(f"{A}t")).split())
        if text:
            texts.append(text)
    return texts


def _slide_text(slide: etree._Element) -> tuple[str, list[str]]:
    title: list[str] = []
    body: list[str] = []
    for shape in slide.iter(f"{P}sp", f"{P}graphicFrame"):
        if shape.tag == f"{P}sp" and _placeholder(shape) in _TITLES:
            title += _paragraphs(shape)
        else:
            body += _paragraphs(shape)
    return " ".join(title), body


def _notes_text(notes: etree._Element) -> list[str]:
    return [
        text for shape in notes.iter(f"{P}sp") if _placeholder(shape) not in _NOT_NOTES for text in _paragraphs(shape)
    ]
