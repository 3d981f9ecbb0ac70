"""Content type from the bytes themselves; the file name is only a hint, to tell text flavours apart.

Order of checks: empty → refused signatures (executables, binary formats we do not parse) → zip → decode the head
as text (UTF-8, UTF-16/32 with or without BOM, Latin-1-looking bytes) or refuse it as an unknown binary → structure
(XML/HTML, JSON/NDJSON, email, mbox) → text flavour by the extension. A hint that disagrees with the content is
reported (`Sniffed.hint_mismatch`), never obeyed.
"""

import codecs
import json
import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from shared.domain import PermanentError, Reason
from shared.parsing.encoding import BOMS, utf16_without_bom

SNIFF_BYTES = 8192

EXTENSION_MISMATCH = Reason.VALIDATE_EXTENSION_MISMATCH  # alias: shared.pipeline.ingest imports it

ZIP = "application/zip"
XML = "application/xml"
HTML = "text/html"
JSON = "application/json"
NDJSON = "application/x-ndjson"
EMAIL = "message/rfc822"
MBOX = "application/mbox"
CSV = "text/csv"
TSV = "text/tab-separated-values"
MARKDOWN = "text/markdown"
TEXT = "text/plain"
PDF = "application/pdf"
PARQUET = "application/vnd.apache.parquet"
# Compound File Binary (OLE2): Outlook .msg, or legacy .doc/.xls/.ppt, told apart by its directory (shared.parsing.ole).
OLE = "application/x-ole-storage"

# What an extension suggests. Only text flavours (CSV, TSV, Markdown, plain) are decided by it; for the rest it is
# checked against the content.
EXTENSION_TYPES: dict[str, str] = {
    ".csv": CSV,
    ".tsv": TSV,
    ".tab": TSV,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": TEXT,
    ".text": TEXT,
    ".jsonl": NDJSON,
    ".ndjson": NDJSON,
    ".json": JSON,
    ".xml": XML,
    ".html": HTML,
    ".htm": HTML,
    ".eml": EMAIL,
    ".mbox": MBOX,
    ".zip": ZIP,
    ".pdf": PDF,
    ".parquet": PARQUET,
    ".msg": OLE,
}
# Flavours of plain text that only the name can tell apart (a CSV looks like any other text to a sniffer).
_TEXT_FLAVOURS = frozenset({CSV, TSV, MARKDOWN, TEXT})
# Types close enough that a hint naming one while the content is the other is not a mismatch.
_COMPATIBLE = [frozenset({JSON, NDJSON}), frozenset({XML, HTML}), frozenset({EMAIL, MBOX})]


@dataclass(frozen=True)
class Sniffed:
    """The content type found in the bytes, and why the file name disagrees with it (None when it does not)."""

    content_type: str
    hint_mismatch: str | None = None


# --- refused content ---------------------------------------------------------------------------------------

_Signature = tuple[bytes, str]

_EXECUTABLES: tuple[_Signature, ...] = (
    (b"\x7fELF", "an ELF executable"),
    (b"\xfe\xed\xfa\xce", "a Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "a Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O universal binary"),
    (b"\x00asm", "a WebAssembly module"),
    (b"dex\n", "an Android DEX executable"),
)
_UNSUPPORTED_BINARIES: tuple[_Signature, ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x00\x00\x01\x00", "an icon"),
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"(\xb5/\xfd", "zstd"),
    (b"7z\xbc\xaf'\x1c", "7-Zip"),
    (b"Rar!\x1a\x07", "RAR"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"OggS\x00", "Ogg media"),
    (b"fLaC", "FLAC audio"),
    (b"\x1aE\xdf\xa3", "Matroska/WebM media"),
)
# Signatures made of printable letters get a longer check, so a text file that merely starts with them passes.
_SHEBANG = re.compile(rb"^#![ \t]*/")
_BZIP2 = re.compile(rb"^BZh[1-9]1AY&SY", re.DOTALL)
_RIFF = re.compile(rb"^RIFF.{4}(WEBP|WAVE|AVI )", re.DOTALL)
_ID3 = re.compile(rb"^ID3[\x02-\x04]\x00", re.DOTALL)
_MP4 = re.compile(rb"^.{4}ftyp", re.DOTALL)
_TAR_MAGIC_OFFSET = 257


def _refusal(head: bytes) -> PermanentError | None:
    """Why the head is content we refuse outright, or None."""
    for signature, kind in _EXECUTABLES:
        if head.startswith(signature):
            return PermanentError(Reason.VALIDATE_REFUSED_TYPE, f"executable content ({kind}) is never ingested")
    # "MZ" alone is too common a text start; a DOS/PE header always has NUL bytes right behind it.
    if head.startswith(b"MZ") and b"\x00" in head[:64]:
        return PermanentError(
            Reason.VALIDATE_REFUSED_TYPE, "executable content (a Windows PE/DOS executable) is never ingested"
        )
    if _SHEBANG.match(head):
        return PermanentError(
            Reason.VALIDATE_REFUSED_TYPE, "executable content (a script with a #! line) is never ingested"
        )
    for signature, kind in _UNSUPPORTED_BINARIES:
        if head.startswith(signature):
            return PermanentError(Reason.VALIDATE_REFUSED_TYPE, f"{kind} content is not ingested")
    for pattern, kind in ((_BZIP2, "bzip2"), (_RIFF, "RIFF media"), (_ID3, "MP3 audio"), (_MP4, "MP4 media")):
        if pattern.match(head):
            return PermanentError(Reason.VALIDATE_REFUSED_TYPE, f"{kind} content is not ingested")
    if head[_TAR_MAGIC_OFFSET : _TAR_MAGIC_OFFSET + 5] == b"ustar":
        return PermanentError(Reason.VALIDATE_REFUSED_TYPE, "tar content is not ingested")
    return None


# Binary formats we read.
_BINARY_STARTS: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"PK\x03\x04", b"PK\x05\x06"), ZIP),  # Office and OpenDocument packages too: see shared.parsing.package
    ((b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",), OLE),
)


def _binary_type(head: bytes) -> str | None:
    for starts, content_type in _BINARY_STARTS:
        if head.startswith(starts):
            return content_type
    if head.startswith(b"%PDF-"):
        return PDF
    # "PAR1" alone could open a text file; a Parquet file's page headers that follow it are binary.
    return PARQUET if head.startswith(b"PAR1") and _decode_head(head) is None else None


# --- text decoding -----------------------------------------------------------------------------------------

_CONTROL_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B} | {0x7F}
_MAX_CONTROL_SHARE = 0.01
_MAX_HIGH_SHARE = 0.3


def _decode_head(head: bytes) -> str | None:
    """The head as text, or None when it does not look like text in any encoding we read."""
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return _decode(head[len(bom) :], encoding)
    utf16 = utf16_without_bom(head)
    if utf16:
        return _decode(head, utf16)
    if b"\x00" in head:
        return None
    text = _decode(head, "utf-8")
    if text is not None:
        return text
    # Not UTF-8 but free of NULs and control bytes: a legacy 8-bit encoding, which the text parsers fall back to.
    return head.decode("latin-1") if _looks_like_8bit_text(head) else None


def _decode(data: bytes, encoding: str) -> str | None:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        # final=False: a character cut at the end of the sniffed window is not an error.
        text = decoder.decode(data, final=False)
    except UnicodeDecodeError:
        return None
    return text if _mostly_printable(text) else None


def _mostly_printable(text: str) -> bool:
    if not text:
        return True
    controls = sum(1 for char in text if ord(char) in _CONTROL_BYTES or char == "\x00")
    return controls / len(text) <= _MAX_CONTROL_SHARE


def _looks_like_8bit_text(head: bytes) -> bool:
    controls = sum(1 for byte in head if byte in _CONTROL_BYTES)
    high = sum(1 for byte in head if byte >= 0x80)
    return controls / len(head) <= _MAX_CONTROL_SHARE and high / len(head) <= _MAX_HIGH_SHARE


# --- structure ---------------------------------------------------------------------------------------------

_HTML_START = re.compile(
    r"^(<\?xml[^>]*\?>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>/]|head[\s>]|body[\s>])", re.IGNORECASE | re.DOTALL
)
# An HTML fragment (a mail body or a snippet saved as text) opens with an HTML element, not <html>; such a file named
# .xml stays XML (see _settle_with_hint).
_HTML_FRAGMENT = re.compile(
    r"^(<!--.*?-->\s*)*<(div|p|span|table|tr|td|br|hr|a|img|ul|ol|li|dl|h[1-6]|b|i|u|em|strong|font|center|section"
    r"|article|header|footer|nav|main|aside|form|blockquote|pre|code|style|script|meta|link|title)[\s>/]",
    re.IGNORECASE | re.DOTALL,
)
_XML_START = re.compile(r"^<(\?xml[\s?]|!--|!doctype\s|[A-Za-z_:][\w.:-]*[\s/>])", re.IGNORECASE)
_JSON_AFTER_BRACE = re.compile(r'^\{\s*("|\}|$)')
_JSON_AFTER_BRACKET = re.compile(r'^\[\s*([{\["\]\d-]|true|false|null|$)')
_HEADER_LINE = re.compile(r"^[!-9;-~]+:")  # RFC 5322 field name: printable ASCII except ':'
_KEY_HEADERS = frozenset({"from", "received", "message-id", "mime-version", "return-path", "delivered-to"})
_MBOX_FROM_LINE = re.compile(r"^From \S+ ")
_ANY_TAG = re.compile(r"<[A-Za-z!/]")


def _structured_type(text: str) -> str | None:
    """The type the text's structure shows (XML, HTML, JSON, NDJSON, email, mbox), or None for plain text."""
    start = text.lstrip()
    if start.startswith("<"):
        if _HTML_START.match(start) or _HTML_FRAGMENT.match(start):
            return HTML
        return XML if _XML_START.match(start) else None
    if start.startswith("{") and _JSON_AFTER_BRACE.match(start):
        return NDJSON if _is_ndjson(start) else JSON
    if start.startswith("[") and _JSON_AFTER_BRACKET.match(start):
        return NDJSON if _is_ndjson(start) else JSON
    lines = text.splitlines()
    if lines and _MBOX_FROM_LINE.match(lines[0]) and _is_header_block(lines[1:]):
        return MBOX
    if _is_header_block(lines):
        return EMAIL
    return None


def _is_ndjson(text: str) -> bool:
    """A first line that is a whole JSON value, followed by another line that starts one."""
    first, newline, rest = text.partition("\n")
    if not newline:
        return False
    try:
        json.loads(first)
    except ValueError:
        return False
    following = rest.lstrip()
    return following.startswith(("{", "["))


def _is_header_block(lines: list[str]) -> bool:
    """RFC 822 header fields (with folded continuations) up to the first blank line, one of them a key header."""
    names: set[str] = set()
    for index, line in enumerate(lines):
        if not line.strip():
            break
        if line[:1] in (" ", "\t") and index > 0:
            continue  # a folded continuation of the previous field
        if not _HEADER_LINE.match(line):
            return False
        names.add(line.split(":", 1)[0].casefold())
    return bool(names & _KEY_HEADERS)


# --- the API -----------------------------------------------------------------------------------------------


def sniff(head: bytes, name: str) -> Sniffed:
    """The content type of a file from its first bytes, or PermanentError with the reason it is refused."""
    if not head:
        raise PermanentError(Reason.VALIDATE_EMPTY_FILE, "the file has no content")
    refusal = _refusal(head)
    if refusal is not None:
        raise refusal
    suffix = PurePosixPath(name).suffix.lower()
    hint = EXTENSION_TYPES.get(suffix)
    binary = _binary_type(head)
    if binary is not None:
        return _with_hint(binary, hint, suffix)
    text = _decode_head(head)
    if text is None:
        raise PermanentError(Reason.VALIDATE_BINARY_CONTENT, "content is neither text nor a format Tributary reads")
    structured = _structured_type(text.lstrip("\ufeff"))
    return _with_hint(_settle_with_hint(structured, hint, text), hint, suffix)


def _settle_with_hint(structured: str | None, hint: str | None, text: str) -> str:
    """Where the content allows more than one reading, the extension picks; it never overrides structure."""
    if structured == HTML and hint == XML and not _HTML_START.match(text.lstrip("\ufeff").lstrip()):
        return XML  # an XML vocabulary may name its root <table> or <title>: the .xml name settles it
    if structured in (XML, HTML) and hint in (HTML, MARKDOWN):
        return hint  # HTML fragments, and Markdown opening with a tag, are still what their names say
    if structured == JSON and hint == NDJSON:
        return NDJSON  # one value per line: a broken first line must not fail the whole file
    if structured is None and hint == HTML and _ANY_TAG.search(text):
        return HTML
    if structured is None:
        return hint if hint in _TEXT_FLAVOURS else TEXT
    return structured


def sniff_content_type(head: bytes, name: str) -> str:
    """The sniffed content type alone (see `sniff`)."""
    return sniff(head, name).content_type


def _with_hint(content_type: str, hint: str | None, suffix: str) -> Sniffed:
    if hint is None or hint == content_type or any({hint, content_type} <= group for group in _COMPATIBLE):
        return Sniffed(content_type)
    return Sniffed(content_type, f"named {suffix} (suggests {hint}) but the content is {content_type}")
