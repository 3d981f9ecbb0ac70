"""Office Open XML and OpenDocument packages: zips that are documents, never read as generic archives.

`identify` decides, from the package's own manifest ([Content_Types].xml's main part, or ODF's `mimetype` member),
which document a zip is; the extension plays no part. `parse_office` checks the whole package against the zip caps
(declared sizes: zipfile never inflates a member past its declared size, and a lie fails its CRC) and every XML
part's prolog for a DTD, then hands it to the format's parser, or refuses it with a code that names the format.
"""

import importlib
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, cast
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.ElementTree import fromstring

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

# What a library reading an Office package raises on a damaged or crafted one: most have no exception of their own.
LIBRARY_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    KeyError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    OSError,
    SyntaxError,  # xml.etree's ParseError and lxml's XMLSyntaxError
    AssertionError,
)

CONTENT_TYPES_PART = "[Content_Types].xml"
_MANIFEST_BYTES = 1 << 20  # [Content_Types].xml and ODF's mimetype are small; a larger one is crafted
_PROLOG_BYTES = 64 << 10  # an XML part's root element starts within this (an Office prolog is one line)
_ROOT_START = re.compile(rb"<[A-Za-z_]")
RATIO_FLOOR_BYTES = 1 << 20  # as for archives: tiny repetitive parts compress extremely well
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError)

OfficeParser = Callable[[BinaryIO, zipfile.ZipFile, ParseOptions, ParseLimits], Iterator[Record | ParseIssue]]

# Main part content type -> the format, and the (module, function) that reads it (imported on first use).
_EXCEL = ("Excel", "shared.parsing.xlsx", "parse_xlsx")
_WORD = ("Word", "shared.parsing.docx", "parse_docx")
_POWERPOINT = ("PowerPoint", "shared.parsing.pptx", "parse_pptx")
READERS: dict[str, tuple[str, str, str]] = {
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml": _POWERPOINT,
    "application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml": _POWERPOINT,
    "application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml": _POWERPOINT,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": _WORD,
    "application/vnd.ms-word.document.macroEnabled.main+xml": _WORD,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": _WORD,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": _EXCEL,
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": _EXCEL,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml": _EXCEL,
}
# Other Office packages (Visio, binary-part Excel .xlsb, Word/Excel templates with macros, …) are refused by name.
_OFFICE_PREFIXES = ("application/vnd.openxmlformats-officedocument.", "application/vnd.ms-")
_ODF_PREFIX = "application/vnd.oasis.opendocument."


@dataclass(frozen=True)
class Package:
    """What a zip is as a document: its main content type and, when read, the format's name and parser."""

    content_type: str
    format: str | None = None  # "Word", "Excel", "PowerPoint"; None when refused
    reader: tuple[str, str] | None = None


def identify(archive: zipfile.ZipFile) -> Package | None:
    """The Office or OpenDocument package the zip is, or None for a plain archive (a .nupkg has content types too)."""
    names = set(archive.namelist())
    if "mimetype" in names:
        mimetype = _read_small(archive, "mimetype").decode("ascii", errors="replace").strip()
        if mimetype.startswith(_ODF_PREFIX):
            return Package(mimetype)
    if CONTENT_TYPES_PART not in names:
        return None
    types = _content_types(_read_small(archive, CONTENT_TYPES_PART))
    for content_type in types:
        if content_type in READERS:
            name, module, function = READERS[content_type]
            return Package(content_type, name, (module, function))
    office = [content_type for content_type in types if content_type.startswith(_OFFICE_PREFIXES)]
    return Package(office[0]) if office else None


def parse_office(
    package: Package, source: BinaryIO, archive: zipfile.ZipFile, options: ParseOptions, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    """Records of an identified package, after the zip caps and the XML prolog check; or its refusal."""
    if package.reader is None:
        if package.content_type.startswith(_ODF_PREFIX):
            kind = package.content_type.removeprefix(_ODF_PREFIX)
            raise PermanentError(Reason.PARSE_OFFICE_OPENDOCUMENT, f"OpenDocument {kind} is not read yet")
        raise PermanentError(
            Reason.PARSE_OFFICE_UNSUPPORTED_PACKAGE, f"an Office package of type {package.content_type} is not read"
        )
    check_package(archive, limits)
    module, function = package.reader
    parser = cast(OfficeParser, getattr(importlib.import_module(module), function))
    yield from parser(source, archive, options, limits)


def check_package(archive: zipfile.ZipFile, limits: ParseLimits) -> None:
    """The zip-bomb caps over every part, encrypted parts, and a DTD in any XML part: each a PermanentError."""
    members = archive.infolist()
    if len(members) > limits.max_archive_members:
        raise PermanentError(Reason.LIMITS_TOO_MANY_MEMBERS, f"{len(members)} parts > {limits.max_archive_members}")
    total = 0
    for info in members:
        total += info.file_size
        if total > limits.max_decompressed_bytes:
            raise PermanentError(
                Reason.LIMITS_DECOMPRESSED_TOO_LARGE, f"parts inflate past {limits.max_decompressed_bytes} bytes"
            )
        if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_compression_ratio * max(
            info.compress_size, 1
        ):
            raise PermanentError(
                Reason.PARSE_ZIP_RATIO_EXCEEDED, f"{info.filename[:200]} inflates over {limits.max_compression_ratio}x"
            )
        if info.flag_bits & 0x1:
            raise PermanentError(Reason.PARSE_OFFICE_ENCRYPTED, f"{info.filename[:200]} is encrypted")
    for info in members:
        if info.filename.endswith((".xml", ".rels")):
            _check_prolog(archive, info)


def _check_prolog(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    """No Office part has a DOCTYPE: one that has is refused as XML is (entities first), before any parser reads it."""
    head = b""
    try:
        with archive.open(info) as part:
            while len(head) < _PROLOG_BYTES and not _ROOT_START.search(head):
                piece = part.read(4096)
                if not piece:
                    break
                head += piece
    except ZIP_ERRORS as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"{info.filename[:200]}: {error}"[:500]) from error
    prolog = head[: match.start()] if (match := _ROOT_START.search(head)) else head
    text = prolog.replace(b"\x00", b"")  # a UTF-16 part: its ASCII markup still reads with the NULs out
    if b"<!ENTITY" in text:
        raise PermanentError(Reason.PARSE_XML_ENTITIES_FORBIDDEN, f"{info.filename[:200]} declares entities")
    if b"<!DOCTYPE" in text:
        raise PermanentError(Reason.PARSE_XML_DTD_FORBIDDEN, f"{info.filename[:200]} declares a DTD")
    if match is None and len(head) >= _PROLOG_BYTES:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"{info.filename[:200]}: no root element in its prolog")


def _read_small(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = archive.getinfo(name)
        if info.file_size > _MANIFEST_BYTES:
            raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"{name} is {info.file_size} bytes")
        with archive.open(info) as part:
            return part.read(_MANIFEST_BYTES)
    except ZIP_ERRORS as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"{name}: {error}"[:500]) from error


def _content_types(data: bytes) -> list[str]:
    """ContentType of every Override (the parts), in order; a DTD or entity in the manifest is refused."""
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as error:
        reason = (
            Reason.PARSE_XML_ENTITIES_FORBIDDEN
            if isinstance(error, EntitiesForbidden)
            else Reason.PARSE_XML_DTD_FORBIDDEN
            if isinstance(error, DTDForbidden)
            else Reason.PARSE_XML_EXTERNAL_REFERENCE_FORBIDDEN
        )
        raise PermanentError(reason, f"{CONTENT_TYPES_PART}: {error}"[:500]) from error
    except (ParseError, ValueError) as error:
        raise PermanentError(Reason.PARSE_OFFICE_MALFORMED, f"{CONTENT_TYPES_PART}: {error}"[:500]) from error
    return [
        element.get("ContentType", "")
        for element in root.iter()
        if element.tag.rsplit("}", 1)[-1] == "Override" and element.get("ContentType")
    ]
