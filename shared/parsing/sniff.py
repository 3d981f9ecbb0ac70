"""Content type from the bytes themselves; the file name is only a hint for text flavours."""

import codecs
from pathlib import PurePosixPath

from shared.domain import PermanentError

SNIFF_BYTES = 8192

# Signatures of content we refuse outright: executables and binary containers we cannot parse yet.
_REFUSED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
    (b"\xcf\xfa\xed\xfe", "executable"),
    (b"\xfe\xed\xfa\xcf", "executable"),
    (b"\xca\xfe\xba\xbe", "executable"),
    (b"%PDF-", "pdf"),
    (b"PK\x03\x04", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF8", "image"),
)

_TEXT_HINTS = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
}


def sniff_content_type(head: bytes, name: str) -> str:
    """Return the content type of a file from its first bytes, or raise PermanentError with the reason."""
    if not head:
        raise PermanentError("validate.empty_file", "the file has no content")
    for signature, kind in _REFUSED_SIGNATURES:
        if head.startswith(signature):
            raise PermanentError("validate.refused_type", f"{kind} content is not ingested")
    if not _looks_like_utf8_text(head):
        raise PermanentError("validate.binary_content", "content is neither UTF-8 text nor a known format")
    return _TEXT_HINTS.get(PurePosixPath(name).suffix.lower(), "text/plain")


def _looks_like_utf8_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # final=False: a multi-byte character cut at the end of the sniffed window is not an error.
        decoder.decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True
