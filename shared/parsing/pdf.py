"""PDF: pypdfium2 (PDFium, the reader in Chrome), one record per page with text, located 'page 3'.

Chosen by measurement over pypdf and pdfminer.six (perf/README.md, "PDF libraries"): 4-6x faster, the least memory,
the same text, Apache-2.0/BSD-3. Per page: PDFium's text in its reading order, lines ending in a hyphen joined to
the next (PDFium marks them U+FFFE), and lines repeated at the top or bottom of most pages (running headers, page
numbers) dropped — learned from the first pages, then applied to all. Title, author, subject and dates of the
document information go into every record's metadata.

An encrypted PDF is opened with the empty user password (most "protected" PDFs only restrict printing or copying);
one that needs a real password fails `parse.pdf.encrypted`. A PDF whose pages hold no text at all (a scan) fails
`parse.pdf.no_text` (ingest then asks OCR, `Ports.ocr`, when it is configured). Not read: text in images, annotations
and form fields, attachments.
PDFium is not thread-safe: every call into it holds one process-wide lock (released between pages).
"""

import io
import mmap
import os
import re
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO

import pypdfium2
import pypdfium2.raw as pdfium_c

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.archive import seekable
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

_LOCK = threading.Lock()
_LEARN_PAGES = 12  # pages whose first and last lines decide what repeats
_EDGE_LINES = 2  # lines at the top and at the bottom of a page that may be a running header or footer
_REPEATED_SHARE = 0.6
_DIGITS = re.compile(r"\d+")
# A word broken at a line end: PDFium joins the lines and marks the hyphen U+FFFE ("im\ufffeplemented"); a plain
# '-' ending a line before a lowercase continuation is one too. Before a capital ("Acme-Labs") the hyphen stays.
_HYPHEN_BREAK = re.compile(r"\ufffe[ \t]*\n?\s*(?=[a-z])|(?<=[a-z])-[ \t]*\n\s*(?=[a-z])")
_PDF_DATE = re.compile(r"^D:(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?")
_METADATA = (("title", "Title"), ("author", "Author"), ("subject", "Subject"))
_DATES = (("created", "CreationDate"), ("modified", "ModDate"))
_DATE_DEFAULTS = ("", "01", "01", "00", "00", "00")
# Inflation check: PDFium inflates a whole stream in memory, so a small file could hold a bomb.
_STREAM = re.compile(rb"(?<!end)stream\r?\n")
_DICT_BYTES = 4096  # a stream's dictionary is just before its 'stream' keyword
_IMAGE = re.compile(rb"/Subtype\s*/Image")
_IN, _OUT = 64 << 10, 1 << 20
NO_TEXT_HINT = "no page has a text layer (a scanned document?) and OCR is not configured"


def parse_pdf(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """One record per page that has text, with the document's metadata; see the module docstring."""
    source = seekable(stream, limits)
    check_inflation(source, limits)
    document = _open(source)
    try:
        with _LOCK:
            count = len(document)
            metadata = _metadata(document)
            learned = [_page_lines(document, index) for index in range(min(count, _LEARN_PAGES))]
        repeated = _repeated_edges([lines for lines in learned if lines is not None])
        found_text = False
        for index in range(count):
            locator = f"page {index + 1}"
            if index < len(learned):
                lines = learned[index]
            else:
                with _LOCK:
                    lines = _page_lines(document, index)
            if lines is None:
                yield ParseIssue(locator=locator, reason_code=Reason.PARSE_PDF_PAGE_FAILED, detail="page skipped")
                continue
            text = "\n".join(_without_edges(lines, repeated))
            if not text:
                continue
            found_text = True
            if len(text) > limits.max_record_chars:
                detail = f"{len(text)} characters > {limits.max_record_chars}; page skipped"
                yield ParseIssue(locator=locator, reason_code=Reason.LIMITS_RECORD_TOO_LARGE, detail=detail)
                continue
            yield Record(text=text, locator=locator, metadata=metadata)
        if not found_text:
            raise PermanentError(Reason.PARSE_PDF_NO_TEXT, f"{count} page(s): {NO_TEXT_HINT}")
    finally:
        with _LOCK:
            document.close()


def check_inflation(source: BinaryIO, limits: ParseLimits) -> None:
    """Every Flate stream but images (text extraction never decodes those) inflated once, counting: one past
    `max_document_bytes`, or all together past `max_decompressed_bytes`, fails the file before PDFium reads it.

    A stream with a filter chain before Flate (ASCII85 then Flate) is not inflated here: PDFium's own limits apply.
    """
    try:
        fileno = source.fileno()
    except (OSError, AttributeError, io.UnsupportedOperation):
        fileno = None
    if fileno is not None and os.fstat(fileno).st_size > 0:
        with mmap.mmap(fileno, 0, access=mmap.ACCESS_READ) as mapped:
            _check_streams(mapped, limits)
        return
    source.seek(0)
    data = source.read()
    source.seek(0)
    _check_streams(data, limits)


def _check_streams(data: bytes | mmap.mmap, limits: ParseLimits) -> None:
    total = 0
    for match in _STREAM.finditer(data):
        head = data[max(0, match.start() - _DICT_BYTES) : match.start()]
        if _IMAGE.search(head[head.rfind(b" obj") :]):
            continue
        produced = _inflated_size(data, match.end(), limits.max_document_bytes)
        total += produced
        if produced > limits.max_document_bytes:
            raise PermanentError(
                Reason.LIMITS_DECOMPRESSED_TOO_LARGE, f"a stream inflates past {limits.max_document_bytes} bytes"
            )
        if total > limits.max_decompressed_bytes:
            raise PermanentError(
                Reason.LIMITS_DECOMPRESSED_TOO_LARGE, f"streams inflate past {limits.max_decompressed_bytes} bytes"
            )


def _inflated_size(data: bytes | mmap.mmap, position: int, cap: int) -> int:
    """Bytes the Flate data at `position` inflates to (stopping just past `cap`); 0 when it is not Flate."""
    inflater = zlib.decompressobj()
    produced = 0
    try:
        while not inflater.eof and position < len(data) and produced <= cap:
            piece = data[position : position + _IN]
            position += len(piece)
            out = inflater.decompress(piece, _OUT)
            produced += len(out)
            while inflater.unconsumed_tail and produced <= cap and out and not inflater.eof:
                out = inflater.decompress(inflater.unconsumed_tail, _OUT)
                produced += len(out)
            if not out and not inflater.eof and piece and inflater.unconsumed_tail:
                break  # no progress on this input: damaged data, never a spin
    except zlib.error:
        pass  # not Flate, or damaged: PDFium decides what it makes of it
    return produced


def _open(source: BinaryIO) -> pypdfium2.PdfDocument:
    try:
        with _LOCK:
            # password=None: PDFium tries the empty user password itself.
            return pypdfium2.PdfDocument(source)
    except pypdfium2.PdfiumError as error:
        if error.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            detail = "the PDF needs a password; the empty one failed"
            raise PermanentError(Reason.PARSE_PDF_ENCRYPTED, detail) from error
        raise PermanentError(Reason.PARSE_PDF_MALFORMED, str(error)[:500]) from error


def _page_lines(document: pypdfium2.PdfDocument, index: int) -> list[str] | None:
    """The page's text lines (stripped, blank ones dropped), or None when PDFium cannot read the page."""
    try:
        page = document[index]
        try:
            textpage = page.get_textpage()
            try:
                text = textpage.get_text_range()
            finally:
                textpage.close()
        finally:
            page.close()
    except pypdfium2.PdfiumError:
        return None
    text = _HYPHEN_BREAK.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return [" ".join(line.split()) for line in text.replace("\ufffe", "-").split("\n") if line.strip()]


def _shape(line: str) -> str:
    """A line with its numbers blanked: 'Page 3 of 9' and 'Page 4 of 9' are the same footer."""
    return _DIGITS.sub("#", line)


def _repeated_edges(pages: list[list[str]]) -> frozenset[str]:
    """Shapes of the lines that open or close most of the learned pages (only with three pages or more)."""
    if len(pages) < 3:
        return frozenset()
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_shape(line) for line in lines[:_EDGE_LINES] + lines[-_EDGE_LINES:]})
    return frozenset(shape for shape, seen in counts.items() if seen >= _REPEATED_SHARE * len(pages))


def _without_edges(lines: list[str], repeated: frozenset[str]) -> list[str]:
    if not repeated:
        return lines
    start, end = 0, len(lines)
    while start < min(_EDGE_LINES, end) and _shape(lines[start]) in repeated:
        start += 1
    while end > max(start, len(lines) - _EDGE_LINES) and _shape(lines[end - 1]) in repeated:
        end -= 1
    return lines[start:end]


def _metadata(document: pypdfium2.PdfDocument) -> dict[str, str]:
    try:
        info = document.get_metadata_dict(skip_empty=True)
    except pypdfium2.PdfiumError:
        return {}
    metadata = {key: " ".join(str(info[name]).split())[:1000] for key, name in _METADATA if info.get(name)}
    for key, name in _DATES:
        match = _PDF_DATE.match(str(info.get(name, "")))
        if match:
            parts = [part or default for part, default in zip(match.groups(), _DATE_DEFAULTS, strict=True)]
            metadata[key] = "{}-{}-{}T{}:{}:{}".format(*parts)
    return metadata
