"""Zip archives, and what every container shares: safe member names and parsing embedded files by sniffed type.

Nothing from an archive ever touches the filesystem by its own name: members are read as streams, their names
are sanitised and used only in locators and metadata. Sizes are counted while inflating, never taken from headers.
"""

import io
import shutil
import stat
import tempfile
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator
from typing import IO, BinaryIO, Protocol

from shared.domain import ParseIssue, PermanentError, Reason, Record, TributaryError
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.package import Package, identify, parse_office

MAX_NAME_CHARS = 255
# Below this many inflated bytes a member's ratio is not judged: tiny, repetitive files compress extremely well.
RATIO_FLOOR_BYTES = 1 << 20
_READ_CHUNK = 64 << 10
_SPOOL_IN_MEMORY = 8 << 20
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


class Readable(Protocol):
    """An embedded file as it is read: `read(n)` returns up to n bytes, b"" at the end."""

    def read(self, size: int = -1, /) -> bytes: ...


def sanitize_name(name: str, keep_dirs: bool = False) -> str:
    """A display-safe name: no control, format or bidi-override characters, no '..', no drive or root, capped."""
    visible = "".join(char for char in name if not unicodedata.category(char).startswith("C"))
    parts = [part.strip() for part in visible.replace("\\", "/").split("/")]
    parts = [part for part in parts if part and part.strip(".") and not part.endswith(":")]
    if not keep_dirs:
        parts = parts[-1:]
    safe = "/".join(parts)
    return safe[-MAX_NAME_CHARS:] if safe else "unnamed"


def nested_limits(limits: ParseLimits, **overrides: int) -> ParseLimits:
    """The limits one container level down: one less level of depth left, plus any budget the caller passes on."""
    return limits.model_copy(update={"max_attachment_depth": limits.max_attachment_depth - 1, **overrides})


def attachment_refused(count: int, total: int, locator: str, limits: ParseLimits) -> ParseIssue | None:
    """Why attachment `count` (from 1) of `total` is not read, or None: past the count cap (then none after it is
    read either: `LIMITS_TOO_MANY_ATTACHMENTS`), or one level deeper than the depth cap allows."""
    if count > limits.max_attachments:
        detail = f"{total - limits.max_attachments} attachments past the cap of {limits.max_attachments}"
        return ParseIssue(locator=locator, reason_code=Reason.LIMITS_TOO_MANY_ATTACHMENTS, detail=detail)
    if limits.max_attachment_depth < 1:
        return ParseIssue(locator=locator, reason_code=Reason.LIMITS_ATTACHMENT_DEPTH, detail="nested too deeply")
    return None


def parse_embedded(
    stream: Readable, name: str, locator: str, limits: ParseLimits, label: str
) -> Iterator[Record | ParseIssue]:
    """Sniff and parse one embedded file (attachment, archive member); its failure becomes a ParseIssue.

    `limits` are the embedded file's own (see `nested_limits`); `label` is the metadata key that names it.
    """
    # Imported here: the registry in shared.parsing imports this module.
    from shared.parsing import SNIFF_BYTES, parse, sniff_content_type

    try:
        head = stream.read(SNIFF_BYTES)
        if not head:
            return
        content_type = sniff_content_type(head, name)
        # Buffered: a raw stream may return short reads, and whole-read parsers expect read(n) to mean n.
        records = parse(io.BufferedReader(_Chained(head, stream)), content_type, limits, ParseOptions())
        for item in records:
            if isinstance(item, Record):
                yield item._replace(locator=f"{locator} / {item.locator}", metadata={**item.metadata, label: name})
            else:
                yield item.model_copy(update={"locator": f"{locator} / {item.locator}"})
    except TributaryError as error:
        yield ParseIssue(locator=locator, reason_code=error.reason_code, detail=error.detail)


def parse_zip(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """Parse each member by its sniffed type; locators read 'member 2: docs/a.csv / row 5'.

    A zip that is an Office or OpenDocument package is that document, never an archive (shared.parsing.package).
    """
    source = seekable(stream, limits)
    archive = _open_zip(source)
    with archive:
        package = _identify(archive)
        if package is not None:
            yield from parse_office(package, source, archive, options, limits)
            return
        if limits.max_attachment_depth < 1:
            raise PermanentError(Reason.LIMITS_ATTACHMENT_DEPTH, "archive nested deeper than the attachment depth cap")
        members = archive.infolist()
        if len(members) > limits.max_archive_members:
            raise PermanentError(
                Reason.LIMITS_TOO_MANY_MEMBERS, f"{len(members)} members > {limits.max_archive_members}"
            )
        budget = _Budget(limits.max_decompressed_bytes)
        for index, info in enumerate(members, start=1):
            yield from _parse_member(archive, info, index, budget, limits)


class _Budget:
    def __init__(self, total: int) -> None:
        self.remaining = total


def _parse_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, index: int, budget: _Budget, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    name = sanitize_name(info.filename, keep_dirs=True)
    locator = f"member {index}: {name}"
    if info.filename.endswith("/"):  # ZipInfo.is_dir() fails on an empty name
        return
    if stat.S_ISLNK(info.external_attr >> 16):
        yield ParseIssue(
            locator=locator, reason_code=Reason.PARSE_ZIP_SYMLINK, detail="symbolic links are not followed"
        )
        return
    if info.flag_bits & 0x1:
        yield ParseIssue(locator=locator, reason_code=Reason.PARSE_ZIP_ENCRYPTED, detail="encrypted member skipped")
        return
    _check_declared(info, locator, budget, limits)
    try:
        raw = archive.open(info)
    except (*_ZIP_ERRORS, RuntimeError) as error:
        yield ParseIssue(locator=locator, reason_code=Reason.PARSE_ZIP_MALFORMED, detail=str(error)[:500])
        return
    with raw:
        reader = _CountingReader(raw, info, locator, budget, limits)
        member_limits = nested_limits(limits, max_decompressed_bytes=budget.remaining)
        for item in parse_embedded(reader, name, locator, member_limits, label="archive_member"):
            # A whole-archive cap breached inside the member's parse fails the archive, not just the member.
            if reader.breach is not None:
                raise reader.breach
            yield item
        if reader.breach is not None:
            raise reader.breach


def _check_declared(info: zipfile.ZipInfo, locator: str, budget: _Budget, limits: ParseLimits) -> None:
    # Headers can lie low, so these only refuse early what they admit to; the reader counts the real bytes.
    if info.file_size > budget.remaining:
        raise PermanentError(Reason.LIMITS_DECOMPRESSED_TOO_LARGE, f"{locator} declares {info.file_size} bytes")
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > limits.max_compression_ratio * max(
        info.compress_size, 1
    ):
        raise PermanentError(
            Reason.PARSE_ZIP_RATIO_EXCEEDED, f"{locator} declares a ratio over {limits.max_compression_ratio}"
        )


class _CountingReader(io.RawIOBase):
    """Inflates one member while counting real bytes against the archive's budget and the member's ratio."""

    def __init__(
        self, raw: IO[bytes], info: zipfile.ZipInfo, locator: str, budget: _Budget, limits: ParseLimits
    ) -> None:
        self._raw = raw
        self._compressed = max(info.compress_size, 1)
        self._locator = locator
        self._budget = budget
        self._ratio = limits.max_compression_ratio
        self._total = limits.max_decompressed_bytes
        self._read = 0
        self.breach: PermanentError | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        # RawIOBase.read returns None only when readinto does (a non-blocking source with nothing ready): never here.
        return super().read(size) or b""

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.breach is not None:
            raise self.breach
        try:
            data = self._raw.read(len(buffer))
        except _ZIP_ERRORS as error:
            raise PermanentError(Reason.PARSE_ZIP_MALFORMED, f"{self._locator}: {error}"[:500]) from error
        self._read += len(data)
        self._budget.remaining -= len(data)
        if self._budget.remaining < 0:
            self.breach = PermanentError(
                Reason.LIMITS_DECOMPRESSED_TOO_LARGE, f"archive inflates past {self._total} bytes"
            )
        elif self._read > RATIO_FLOOR_BYTES and self._read > self._ratio * self._compressed:
            self.breach = PermanentError(
                Reason.PARSE_ZIP_RATIO_EXCEEDED, f"{self._locator} inflates over {self._ratio}x"
            )
        if self.breach is not None:
            raise self.breach
        buffer[: len(data)] = data
        return len(data)


class _Chained(io.RawIOBase):
    """The sniffed head, then the rest of the stream, as one readable stream."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size] = self._head[:size]
            self._head = self._head[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def seekable(stream: BinaryIO, limits: ParseLimits) -> BinaryIO:
    """zipfile needs to seek to the central directory: spool a forward-only stream, within the file cap."""
    if stream.seekable():
        return stream
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - closed with the archive
    shutil.copyfileobj(_Capped(stream, limits.max_bytes), spool)
    spool.seek(0)
    return spool  # type: ignore[return-value]


class _Capped(io.RawIOBase):
    def __init__(self, raw: BinaryIO, cap: int) -> None:
        self._raw = raw
        self._left = cap

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read(_READ_CHUNK if size is None or size < 0 else size)
        self._left -= len(data)
        if self._left < 0:
            raise PermanentError(Reason.LIMITS_FILE_TOO_LARGE, "archive larger than the file size cap")
        return data


def _identify(archive: zipfile.ZipFile) -> Package | None:
    try:
        return identify(archive)
    except _ZIP_ERRORS as error:
        raise PermanentError(Reason.PARSE_ZIP_MALFORMED, str(error)[:500]) from error


def _open_zip(stream: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(stream)
    except _ZIP_ERRORS as error:
        raise PermanentError(Reason.PARSE_ZIP_MALFORMED, str(error)[:500]) from error
