"""Text encodings: detect one from the head of a byte stream, then decode incrementally without holding the file.

Order of evidence: a forced `options.encoding`, a byte-order mark, the NUL pattern of UTF-16 without a BOM, strict
UTF-8 over the head, and last a Windows-1252 fallback (reported as `parse.encoding.latin1_fallback`). The fallback is
cp1252 rather than ISO-8859-1 because real non-UTF-8 files are mostly Excel/Windows exports (curly quotes, €); the five
bytes cp1252 leaves undefined decode to their Latin-1 code points (as WHATWG's windows-1252 does), so it never fails.
"""

import codecs
import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from shared.domain import ParseIssue, PermanentError
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

HEAD_BYTES = 64 * 1024
FALLBACK_ENCODING = "cp1252"
_CHUNK_CHARS = 64 * 1024
_FALLBACK_ERRORS = "tributary.cp1252_as_latin1"

# UTF-32 first: the UTF-32 LE mark begins with the UTF-16 LE one.
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _undefined_cp1252_as_latin1(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error(_FALLBACK_ERRORS, _undefined_cp1252_as_latin1)


@dataclass(frozen=True)
class Encoding:
    """What `detect_encoding` decided: the codec, the BOM bytes to skip, and any warning to report."""

    codec: str
    bom_length: int = 0
    errors: str = "strict"
    issues: tuple[ParseIssue, ...] = ()


class LineTooLongError(PermanentError):
    """A physical line longer than `limits.max_line_chars`; `partial` holds its first cap + 1 characters."""

    def __init__(self, line_number: int, limit: int, partial: str) -> None:
        super().__init__("limits.line_too_long", f"line {line_number} exceeds {limit} characters")
        self.line_number = line_number
        self.partial = partial


def detect_encoding(head: bytes, options: ParseOptions, at_eof: bool = False) -> Encoding:
    """Choose the codec for a stream from its first bytes (`at_eof`: the head is the whole stream)."""
    if options.encoding:
        return _forced(head, options.encoding)
    for bom, codec in BOMS:
        if head.startswith(bom) and _fits(head[len(bom) :], codec, at_eof):
            return Encoding(codec, bom_length=len(bom))
    utf16 = utf16_without_bom(head)
    if utf16:
        return Encoding(utf16)
    if _is_utf8(head, at_eof):
        return Encoding("utf-8")
    warning = ParseIssue(
        locator="file",
        reason_code="parse.encoding.latin1_fallback",
        detail=f"not UTF-8; decoded as {FALLBACK_ENCODING} (Windows Latin-1)",
    )
    return Encoding(FALLBACK_ENCODING, errors=_FALLBACK_ERRORS, issues=(warning,))


def open_text(
    stream: BinaryIO, options: ParseOptions, limits: ParseLimits | None = None, newline: str | None = ""
) -> tuple[Iterator[str], list[ParseIssue]]:
    """Decoded lines of the stream (ends kept) and the encoding warnings; the caller's stream stays open.

    `newline` is `io.TextIOWrapper`'s: "" splits on \\n, \\r and \\r\\n untranslated (what `csv` wants).
    With `limits`, a line longer than `max_line_chars` raises `LineTooLongError` before it is held whole.
    """
    reader, encoding = _open(stream, options)
    max_chars = limits.max_line_chars if limits else None
    return _lines(reader, encoding, newline, max_chars), list(encoding.issues)


def open_utf8(stream: BinaryIO, options: ParseOptions) -> tuple[BinaryIO, list[ParseIssue]]:
    """The stream as UTF-8 bytes without a BOM (re-encoded only when it is not UTF-8), and the encoding warnings."""
    reader, encoding = _open(stream, options)
    if codecs.lookup(encoding.codec).name == "utf-8" and encoding.errors == "strict":
        return reader, list(encoding.issues)  # already UTF-8: hand the bytes through untouched
    return _Utf8Reencoder(reader, encoding), list(encoding.issues)


def decode_error(error: UnicodeError, reader: "_HeadThenStream") -> PermanentError:
    """`parse.text.decode_error` with the absolute byte offset of the bad bytes."""
    if not isinstance(error, UnicodeDecodeError):
        return PermanentError("parse.text.decode_error", f"{error} (before byte {reader.delivered})")
    # The incremental decoder saw (its pending bytes + the last chunk) as error.object, and that chunk ends where the
    # reader has delivered up to, so the offset in the file is recoverable without re-reading.
    offset = reader.delivered - len(error.object) + error.start
    return PermanentError("parse.text.decode_error", f"invalid {error.encoding} at byte {offset}")


def _open(stream: BinaryIO, options: ParseOptions) -> tuple["_HeadThenStream", Encoding]:
    head = _read_head(stream)
    encoding = detect_encoding(head, options, at_eof=len(head) < HEAD_BYTES)
    return _HeadThenStream(head, stream, skip=encoding.bom_length), encoding


def _read_head(stream: BinaryIO) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < HEAD_BYTES:  # a read may return less than asked before the end (sockets, blob downloads)
        part = stream.read(HEAD_BYTES - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _forced(head: bytes, name: str) -> Encoding:
    try:
        info = codecs.lookup(name)
    except LookupError as error:
        raise PermanentError("parse.encoding.unknown", f"unknown encoding {name!r}") from error
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13, zlib…: codecs, but not text encodings
        raise PermanentError("parse.encoding.unknown", f"{name!r} is not a text encoding")
    codec = info.name
    for bom, bom_codec in BOMS:
        # A mark of the forced encoding itself is still a mark, not text.
        if head.startswith(bom) and codecs.lookup(bom_codec).name == codec:
            return Encoding(codec, bom_length=len(bom))
    return Encoding(codec)


def _fits(data: bytes, codec: str, at_eof: bool) -> bool:
    # FF FE 00 00 is the UTF-32 LE mark, or the UTF-16 LE mark and a NUL: only decoding tells them apart.
    if not codec.startswith("utf-32"):
        return True
    try:
        codecs.getincrementaldecoder(codec)().decode(data, final=at_eof)
    except UnicodeDecodeError:
        return False
    return True


def utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' when the head is UTF-16 text without a byte-order mark, else None."""
    sample = head[: 4096 & ~1]
    sample = sample[: len(sample) & ~1]
    pairs = len(sample) // 2
    if pairs < 2:
        return None
    even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
    # Mostly-ASCII UTF-16 has a NUL in every other byte: the high byte, second in LE, first in BE.
    if odd_nuls >= pairs * 0.3 and even_nuls <= pairs * 0.05:
        candidate = "utf-16-le"
    elif even_nuls >= pairs * 0.3 and odd_nuls <= pairs * 0.05:
        candidate = "utf-16-be"
    else:
        return None
    try:
        codecs.getincrementaldecoder(candidate)().decode(sample, final=False)
    except UnicodeDecodeError:
        return None
    return candidate


def _is_utf8(head: bytes, at_eof: bool) -> bool:
    try:
        # Not final unless the head is the whole stream: a character cut by the head's end is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=at_eof)
    except UnicodeDecodeError:
        return False
    return True


def _lines(reader: "_HeadThenStream", encoding: Encoding, newline: str | None, max_chars: int | None) -> Iterator[str]:
    text = io.TextIOWrapper(reader, encoding=encoding.codec, errors=encoding.errors, newline=newline)
    text._CHUNK_SIZE = _CHUNK_CHARS  # type: ignore[attr-defined]  # fewer, larger decode calls
    try:
        if max_chars is None:
            for line in text:  # not `yield from`: it would close the wrapper on GeneratorExit before the detach
                yield line
            return
        for number, line in enumerate(iter(lambda: text.readline(max_chars + 1), ""), start=1):
            if len(line) > max_chars:
                raise LineTooLongError(number, max_chars, line)
            yield line
    except UnicodeError as error:  # UTF-16/32 raise plain UnicodeError for a missing BOM
        raise decode_error(error, reader) from error
    finally:
        # Closing the wrapper must never close the caller's stream. Collected in a cycle, the wrapper may already be
        # finalised (closed, which never reaches the caller's stream either): nothing left to detach then.
        with contextlib.suppress(ValueError):
            text.detach()


class _Read1Stream(io.BufferedIOBase):
    """A readable binary stream built on `read1`; `read(n)` loops because one `read1` may return less."""

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        raise NotImplementedError

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read1(_CHUNK_CHARS), b""))
        parts: list[bytes] = []
        while size > 0:
            part = self.read1(size)
            if not part:
                break
            parts.append(part)
            size -= len(part)
        return b"".join(parts)


class _HeadThenStream(_Read1Stream):
    """The head already read for detection, then the rest of the caller's stream; closing it leaves that open."""

    def __init__(self, head: bytes, stream: BinaryIO, skip: int = 0) -> None:
        super().__init__()
        self._head = head[skip:]
        self._stream = stream
        self.delivered = skip  # bytes of the file handed out so far, the skipped BOM included

    def read1(self, size: int = -1) -> bytes:
        if self._head:
            data = self._head if size < 0 else self._head[:size]
            self._head = self._head[len(data) :]
        else:
            data = self._stream.read(_CHUNK_CHARS if size < 0 else size)
        self.delivered += len(data)
        return data


class _Utf8Reencoder(_Read1Stream):
    """Decoded text handed out again as UTF-8 bytes, for byte-oriented parsers (ijson) fed a non-UTF-8 file."""

    def __init__(self, reader: _HeadThenStream, encoding: Encoding) -> None:
        super().__init__()
        self._reader = reader
        self._text = io.TextIOWrapper(reader, encoding=encoding.codec, errors=encoding.errors, newline="")
        self._pending = b""

    @property
    def delivered(self) -> int:
        """Bytes of the original file decoded so far (for error positions)."""
        return self._reader.delivered

    def read1(self, size: int = -1) -> bytes:
        size = _CHUNK_CHARS if size is None or size < 0 else size
        if not self._pending:
            try:
                self._pending = self._text.read(_CHUNK_CHARS).encode("utf-8")
            except UnicodeError as error:
                raise decode_error(error, self._reader) from error
        data, self._pending = self._pending[:size], self._pending[size:]
        return data

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(ValueError):  # see `_lines`: the wrapper may be finalised already
                self._text.detach()
        super().close()
