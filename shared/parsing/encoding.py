"""Text encodings: detect one from the head of a byte stream, then decode incrementally without holding the file.

Order of evidence: a forced `options.encoding`, a byte-order mark, strict UTF-8 over a head that is not all ASCII,
the NUL pattern of UTF-16 without a BOM, strict UTF-8 over an ASCII head, and last a Windows-1252 fallback (reported
as `parse.encoding.latin1_fallback`). The fallback is cp1252 rather than ISO-8859-1 because real non-UTF-8 files are
mostly Excel/Windows exports (curly quotes, €); the five bytes cp1252 leaves undefined decode to their Latin-1 code
points (as WHATWG's windows-1252 does), so it never fails.
"""

import codecs
import contextlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, TypeVar

from shared.domain import ParseIssue, PermanentError, Reason
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.streams import read_up_to

HEAD_BYTES = 64 * 1024
FALLBACK_ENCODING = "cp1252"
# Bytes read per batch of lines (unless a caller says): per-batch work is noise already, and a batch of tiny lines
# stays a few MB of objects.
BATCH_BYTES = 64 * 1024
_CHUNK_CHARS = 64 * 1024
# One line, cut after \n, \r or \r\n; or a last line without an end.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_T = TypeVar("_T", str, bytes)
_NOT_LINE_ENDS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # where str.splitlines cuts but a file's lines do not end
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


class Utf8Reader(Protocol):
    """What `open_utf8` hands out: UTF-8 bytes, and how far into the original file they reach."""

    @property
    def delivered(self) -> int:
        """Bytes of the original file consumed so far (for error positions)."""
        ...

    def read(self, size: int | None = -1, /) -> bytes: ...


class LineTooLongError(PermanentError):
    """A physical line longer than `limits.max_line_chars`; `partial` holds its first cap + 1 characters."""

    def __init__(self, line_number: int, limit: int, partial: str) -> None:
        super().__init__(Reason.LIMITS_LINE_TOO_LONG, f"line {line_number} exceeds {limit} characters")
        self.line_number = line_number
        self.partial = partial


def detect_encoding(head: bytes, options: ParseOptions, at_eof: bool = False) -> Encoding:
    """Choose the codec for a stream from its first bytes (`at_eof`: the head is the whole stream)."""
    if options.encoding:
        return _forced(head, options.encoding)
    for bom, codec in BOMS:
        if head.startswith(bom) and _fits(head[len(bom) :], codec, at_eof):
            return Encoding(codec, bom_length=len(bom))
    utf8 = _is_utf8(head, at_eof)
    # Multi-byte UTF-8 sequences that all decode are evidence no NUL pattern outweighs: in a short head, a few NULs
    # can look like UTF-16, and UTF-16 text seldom forms valid UTF-8 once it leaves ASCII.
    if utf8 and not head.isascii():
        return Encoding("utf-8")
    utf16 = utf16_without_bom(head)
    if utf16:
        return Encoding(utf16)
    if utf8:
        return Encoding("utf-8")
    warning = ParseIssue(
        locator="file",
        reason_code=Reason.PARSE_ENCODING_LATIN1_FALLBACK,
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


def open_utf8(stream: BinaryIO, options: ParseOptions) -> tuple[Utf8Reader, list[ParseIssue]]:
    """The stream as UTF-8 bytes without a BOM (re-encoded only when it is not UTF-8), and the encoding warnings."""
    reader, encoding = _open(stream, options)
    return _as_utf8(reader, encoding), list(encoding.issues)


def open_line_batches(
    stream: BinaryIO, options: ParseOptions, limits: ParseLimits, batch_bytes: int | None = None
) -> tuple[Iterator[tuple[list[str], str]], list[ParseIssue]]:
    """Decoded physical lines in lists of about `batch_bytes`, ends kept as written, and the encoding warnings.

    The lines are `open_text`'s with newline="" (cut after \\n, \\r or \\r\\n, untranslated), handed out a batch
    at a time so that a consumer whose per-line work is in C (csv) runs Python once per batch. Each list comes with
    the text read for it, to search without joining the lines: it holds every line of the list but the first, which
    may have begun in earlier reads (and it may end with the beginning of the next list). A line longer than
    `limits.max_line_chars` raises `LineTooLongError` after the lines before it, before it is held whole.
    """
    reader, encoding = _open(stream, options)
    batches = _text_batches(reader, encoding, limits.max_line_chars, batch_bytes or BATCH_BYTES)
    return batches, list(encoding.issues)


def open_utf8_line_batches(
    stream: BinaryIO, options: ParseOptions, limits: ParseLimits, batch_bytes: int | None = None
) -> tuple[Iterator[tuple[int, list[bytes]]], list[ParseIssue]]:
    """Physical lines as UTF-8 bytes in lists, each list with the file offset of its first line; encoding warnings.

    For decoders that take UTF-8 bytes (orjson): a UTF-8 file is handed through undecoded and *unchecked*, so the
    consumer must decode any line its decoder refuses, and report bad bytes with `utf8_decode_error`; other encodings
    are decoded and re-encoded (their decoding errors raise here). Lines are cut after \\n, \\r or \\r\\n, ends
    kept; the cap is `open_text`'s with newline=None: characters, a line end counting as one.
    """
    reader, encoding = _open(stream, options)
    source = _as_utf8(reader, encoding)
    batches = _batches(
        source.read,
        b"",
        _split_bytes,
        _utf8_chars,
        encoding.bom_length,
        limits.max_line_chars,
        batch_bytes or BATCH_BYTES,
    )
    return ((offset, lines) for offset, lines, _ in batches), list(encoding.issues)


def utf8_decode_error(error: UnicodeDecodeError, line_offset: int) -> PermanentError:
    """`parse.text.decode_error` for a line of `open_utf8_line_batches` that starts at byte `line_offset`."""
    return PermanentError(Reason.PARSE_TEXT_DECODE_ERROR, f"invalid utf-8 at byte {line_offset + error.start}")


def split_lines(text: str) -> list[str]:
    """`text` cut after each \\n, \\r or \\r\\n, ends kept.

    `str.splitlines` (C, fast) also cuts at \\v, \\f, \\x1c-\\x1e, \\x85, \\u2028 and \\u2029, which are data in
    CSV and JSON: when one of those is in the text, a regex cuts instead.
    """
    if any(separator in text for separator in _NOT_LINE_ENDS):
        return _LINE.findall(text)
    return text.splitlines(keepends=True)


def decode_error(error: UnicodeError, reader: "_HeadThenStream") -> PermanentError:
    """`parse.text.decode_error` with the absolute byte offset of the bad bytes."""
    if not isinstance(error, UnicodeDecodeError):
        return PermanentError(Reason.PARSE_TEXT_DECODE_ERROR, f"{error} (before byte {reader.delivered})")
    # The incremental decoder saw (its pending bytes + the last chunk) as error.object, and that chunk ends where the
    # reader has delivered up to, so the offset in the file is recoverable without re-reading.
    offset = reader.delivered - len(error.object) + error.start
    return PermanentError(Reason.PARSE_TEXT_DECODE_ERROR, f"invalid {error.encoding} at byte {offset}")


def _as_utf8(reader: "_HeadThenStream", encoding: Encoding) -> Utf8Reader:
    if codecs.lookup(encoding.codec).name == "utf-8" and encoding.errors == "strict":
        return reader  # already UTF-8: hand the bytes through untouched
    return _Utf8Reencoder(reader, encoding)


def _open(stream: BinaryIO, options: ParseOptions) -> tuple["_HeadThenStream", Encoding]:
    head = read_up_to(stream.read, HEAD_BYTES)  # a read may return less than asked before the end
    encoding = detect_encoding(head, options, at_eof=len(head) < HEAD_BYTES)
    return _HeadThenStream(head, stream, skip=encoding.bom_length), encoding


def _forced(head: bytes, name: str) -> Encoding:
    try:
        info = codecs.lookup(name)
    except LookupError as error:
        raise PermanentError(Reason.PARSE_ENCODING_UNKNOWN, f"unknown encoding {name!r}") from error
    if not getattr(info, "_is_text_encoding", True):  # base64, rot13, zlib…: codecs, but not text encodings
        raise PermanentError(Reason.PARSE_ENCODING_UNKNOWN, f"{name!r} is not a text encoding")
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


def _text_batches(
    reader: "_HeadThenStream", encoding: Encoding, max_chars: int, batch_bytes: int
) -> Iterator[tuple[list[str], str]]:
    decoder = codecs.getincrementaldecoder(encoding.codec)(encoding.errors)

    def read(size: int) -> str:
        while True:  # "" only at the end: a read may hold nothing but part of a character
            data = reader.read(size)
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeError as error:  # UTF-16/32 raise plain UnicodeError for a missing BOM
                raise decode_error(error, reader) from error
            if text or not data:
                return text

    for _, lines, text in _batches(read, "", split_lines, _chars, 0, max_chars, batch_bytes):
        yield lines, text


def _split_bytes(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)  # bytes.splitlines cuts at \n, \r and \r\n only


def _chars(pieces: list[str]) -> int:
    return sum(map(len, pieces))


def _utf8_chars(pieces: list[bytes]) -> int:
    # Only asked about a line already longer than the cap in bytes: exact, not fast. A \r\n counts as one.
    line = b"".join(pieces)
    return len(_utf8_text(line)) - line.endswith(b"\r\n")


def _utf8_text(data: bytes) -> str:
    # Not final: a character cut at the end of what is held so far is not counted (nor replaced) yet.
    return codecs.utf_8_decode(data, "replace", False)[0]


def _batches(
    read: Callable[[int], _T],
    empty: _T,
    split: Callable[[_T], list[_T]],
    chars: Callable[[list[_T]], int],
    offset: int,
    max_chars: int,
    batch_bytes: int,
) -> Iterator[tuple[int, list[_T], _T]]:
    """Whole lines of what `read` returns (str or bytes; empty at the end), a list per read, with its offset and the
    text read (see `open_line_batches`).

    `chars` counts the characters of a line given in pieces; it is asked only about lines whose length (in code
    units, never fewer than characters) exceeds `max_chars`.
    """
    newline, carriage_return = ("\n", "\r") if isinstance(empty, str) else (b"\n", b"\r")
    pending: list[_T] = []  # the unfinished last line, in pieces
    pending_size = 0
    number = 0  # lines handed out
    while True:
        chunk = read(batch_bytes)
        at_eof = not chunk
        if pending and (at_eof or pending[-1].endswith(carriage_return)):
            # At the end the unfinished line is whole; a final \r held back (it may begin a \r\n) is decided now.
            pending.append(chunk)
            chunk, pending, pending_size = empty.join(pending), [], 0
        if not chunk:
            return
        lines = split(chunk)
        if pending:
            if len(lines) == 1 and not lines[0].endswith((newline, carriage_return)):
                pending.append(chunk)  # still inside one long line: keep its pieces, join once
                pending_size += len(chunk)
                if pending_size > max_chars and chars(pending) > max_chars:
                    raise LineTooLongError(number + 1, max_chars, _partial(pending, max_chars))
                continue
            pending.append(lines[0])
            lines[0] = empty.join(pending)
        size = pending_size + len(chunk)
        pending, pending_size = [], 0
        if not at_eof and not lines[-1].endswith(newline):  # unfinished, or a \r that may begin a \r\n
            pending.append(lines.pop())
            pending_size = len(pending[0])
        if lines:
            whole = size - pending_size
            if whole > max_chars and max(map(len, lines)) > max_chars:
                too_long = next((i for i, line in enumerate(lines) if chars([line]) > max_chars), None)
                if too_long is not None:
                    if too_long:
                        yield offset, lines[:too_long], chunk
                    raise LineTooLongError(number + too_long + 1, max_chars, _partial([lines[too_long]], max_chars))
            yield offset, lines, chunk
            number += len(lines)
            offset += whole
        if pending_size > max_chars and chars(pending) > max_chars:
            raise LineTooLongError(number + 1, max_chars, _partial(pending, max_chars))
        if at_eof:
            return


def _partial(pieces: list[_T], max_chars: int) -> str:
    """The first `max_chars` + 1 characters of a line held in pieces, without joining all of it."""
    wanted = max_chars + 1 if isinstance(pieces[0], str) else 4 * (max_chars + 1)  # UTF-8: up to 4 bytes a character
    head: list[_T] = []
    size = 0
    for piece in pieces:
        head.append(piece[: wanted - size])
        size += len(head[-1])
        if size >= wanted:
            break
    if isinstance(pieces[0], str):
        return "".join(head)[: max_chars + 1]
    # As `open_text` with newline=None would have read it: line ends translated.
    return _utf8_text(b"".join(head)).replace("\r\n", "\n").replace("\r", "\n")[: max_chars + 1]


class _Read1Stream(io.BufferedIOBase):
    """A readable binary stream built on `read1`; `read(n)` loops because one `read1` may return less."""

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        raise NotImplementedError

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read1(_CHUNK_CHARS), b""))
        return read_up_to(self.read1, size)


class _HeadThenStream(_Read1Stream):
    """The head already read for detection, then the rest of the caller's stream; closing it leaves that open."""

    def __init__(self, head: bytes, stream: BinaryIO, skip: int = 0) -> None:
        super().__init__()
        self._head = head[skip:]
        self._stream = stream
        self.delivered = skip  # bytes of the file handed out so far, the skipped BOM included

    @property
    def name(self) -> Any:
        """The caller's stream's name, if it has one (`io.TextIOWrapper` reports it)."""
        return self._stream.name

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
