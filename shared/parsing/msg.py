"""Outlook .msg (MS-OXMSG): the same records as an .eml — the body with subject, date, from/to/cc and attachment
names as metadata, the people of From/To/Cc as Person mentions — and attachments parsed in turn, embedded messages
included, within the depth and count caps. Locators: 'body', 'attachment 2', 'attachment 2 / body'.

Properties are streams named `__substg1.0_<id><type>` (strings, binaries) or rows of a `__properties_version1.0`
stream (fixed-size values: the date, the recipient kind, the attachment method).
"""

import datetime
import io
import struct
from collections.abc import Iterator

import olefile

from shared.domain import Mention, ParseIssue, PermanentError, Reason, Record, TributaryError
from shared.parsing.archive import attachment_refused, nested_limits, parse_embedded, sanitize_name
from shared.parsing.email import MAX_HEADER_CHARS, MAX_LISTED_ATTACHMENTS
from shared.parsing.html import html_to_text
from shared.parsing.limits import ParseLimits
from shared.parsing.ole import MSG_PROPERTIES, OLE_ERRORS

Items = Iterator[Record | ParseIssue]
Path = list[str]

SUBJECT, BODY, HTML_BODY, MESSAGE_ID = 0x0037, 0x1000, 0x1013, 0x1035
SENDER_NAME, SENDER_ADDRESS, SENDER_SMTP = 0x0C1A, 0x0C1F, 0x5D01
SUBMIT_TIME, DELIVERY_TIME = 0x0039, 0x0E06
DISPLAY_NAME, SMTP_ADDRESS, EMAIL_ADDRESS, RECIPIENT_KIND = 0x3001, 0x39FE, 0x3003, 0x0C15
LONG_FILENAME, FILENAME, ATTACHMENT_DATA, ATTACHMENT_METHOD = 0x3707, 0x3704, 0x3701, 0x3705
TO, CC = 1, 2
EMBEDDED_MESSAGE = 5
_FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.UTC)
# Header sizes of a __properties_version1.0 stream: top-level message, embedded message, recipient or attachment.
_TOP_HEADER, _EMBEDDED_HEADER, _SUB_HEADER = 32, 24, 8


def parse_message(ole: olefile.OleFileIO, path: Path, prefix: str, limits: ParseLimits) -> Items:
    """Records of the message stored at `path` (the root for a .msg file, a storage for an embedded message)."""
    reader = _Reader(ole, limits)
    try:
        metadata, mentions = _headers(reader, path)
        text = _body(reader, path)
        attachments = _attachments(reader, path)
    except RecursionError as error:
        raise PermanentError(Reason.PARSE_MSG_MALFORMED, "the directory tree nests too deeply") from error
    except OLE_ERRORS as error:
        raise PermanentError(Reason.PARSE_MSG_MALFORMED, str(error)[:500]) from error
    names = [name for _, name, _ in attachments]
    if names:
        shown = names[:MAX_LISTED_ATTACHMENTS]
        extra = [f"… and {len(names) - len(shown)} more"] if len(names) > len(shown) else []
        metadata["attachments"] = "\n".join(shown + extra)
    if text or metadata.get("subject"):
        body = text or metadata["subject"]  # no readable body: the headers still say who wrote to whom, and about what
        yield Record(text=body, locator=_at(prefix, "body"), metadata=metadata, mentions=mentions)
    yield from _embedded(reader, attachments, prefix, limits)


class _Reader:
    """Property values of one compound file, each stream held to the document cap."""

    def __init__(self, ole: olefile.OleFileIO, limits: ParseLimits) -> None:
        self.ole = ole
        self.cap = limits.max_document_bytes

    def stream(self, path: Path, name: str) -> bytes | None:
        full = [*path, name]
        if not self.ole.exists("/".join(full)):
            return None
        size = self.ole.get_size("/".join(full))
        if size > self.cap:
            raise PermanentError(Reason.PARSE_EMAIL_TOO_LARGE, f"{'/'.join(full)[:200]} is {size} bytes")
        return bytes(self.ole.openstream(full).read(self.cap + 1))

    def string(self, path: Path, prop: int) -> str:
        unicode = self.stream(path, f"__substg1.0_{prop:04X}001F")
        if unicode is not None:
            return unicode.decode("utf-16-le", errors="replace").rstrip("\x00")
        eight_bit = self.stream(path, f"__substg1.0_{prop:04X}001E")
        if eight_bit is None:
            return ""
        try:
            return eight_bit.decode("utf-8").rstrip("\x00")
        except UnicodeDecodeError:
            return eight_bit.decode("cp1252", errors="replace").rstrip("\x00")

    def fixed(self, path: Path, header: int) -> dict[int, bytes]:
        """Property id -> its 8 value bytes, from the storage's fixed-size property rows."""
        data = self.stream(path, MSG_PROPERTIES) or b""
        values: dict[int, bytes] = {}
        for offset in range(header, len(data) - 15, 16):
            tag = struct.unpack_from("<I", data, offset)[0]
            values[tag >> 16] = data[offset + 8 : offset + 16]
        return values

    def storages(self, path: Path, prefix: str) -> list[str]:
        entry = self.ole.root if not path else self.ole.direntries[self.ole._find(path)]
        return sorted(kid.name for kid in entry.kids if kid.name.startswith(prefix) and kid.entry_type == 1)


def _headers(reader: _Reader, path: Path) -> tuple[dict[str, str], list[Mention]]:
    metadata: dict[str, str] = {}
    fields = {
        "subject": reader.string(path, SUBJECT),
        "message_id": reader.string(path, MESSAGE_ID),
        "date": _date(reader.fixed(path, _TOP_HEADER if not path else _EMBEDDED_HEADER)),
    }
    sender_name = reader.string(path, SENDER_NAME)
    sender_address = reader.string(path, SENDER_SMTP) or reader.string(path, SENDER_ADDRESS)
    fields["from"] = _address(sender_name, sender_address)
    people = [sender_name or sender_address.partition("@")[0]]
    recipients: dict[int, list[str]] = {TO: [], CC: []}
    for storage in reader.storages(path, "__recip_version1.0_#"):
        where = [*path, storage]
        name = reader.string(where, DISPLAY_NAME)
        address = reader.string(where, SMTP_ADDRESS) or reader.string(where, EMAIL_ADDRESS)
        kind = reader.fixed(where, _SUB_HEADER).get(RECIPIENT_KIND, b"\x01")[0]
        if kind in recipients:
            recipients[kind].append(_address(name, address))
            people.append(name or address.partition("@")[0])
    fields["to"] = ", ".join(recipients[TO])
    fields["cc"] = ", ".join(recipients[CC])
    for key, value in fields.items():
        if clean := _clean(value):
            metadata[key] = clean
    mentions = list(dict.fromkeys(Mention(type="Person", name=name) for p in people if (name := _clean(p))))
    return metadata, mentions


def _body(reader: _Reader, path: Path) -> str:
    text = reader.string(path, BODY)
    if not text.strip():
        markup = reader.stream(path, f"__substg1.0_{HTML_BODY:04X}0102")
        text = html_to_text(markup.decode("utf-8", errors="replace")) if markup else ""
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _attachments(reader: _Reader, path: Path) -> list[tuple[Path, str, bool]]:
    """(storage path, sanitised name, is an embedded message) of each attachment, in order."""
    found = []
    for number, storage in enumerate(reader.storages(path, "__attach_version1.0_#"), start=1):
        where = [*path, storage]
        raw = reader.string(where, LONG_FILENAME) or reader.string(where, FILENAME)
        method = reader.fixed(where, _SUB_HEADER).get(ATTACHMENT_METHOD, b"\x01")[0]
        embedded = method == EMBEDDED_MESSAGE or reader.ole.exists("/".join([*where, "__substg1.0_3701000D"]))
        found.append((where, sanitize_name(raw) if raw else f"attachment-{number}", embedded))
    return found


def _embedded(reader: _Reader, attachments: list[tuple[Path, str, bool]], prefix: str, limits: ParseLimits) -> Items:
    for number, (where, name, is_message) in enumerate(attachments, start=1):
        locator = _at(prefix, f"attachment {number}")
        if refused := attachment_refused(number, len(attachments), locator, limits):
            yield refused
            if refused.reason_code == Reason.LIMITS_TOO_MANY_ATTACHMENTS:
                return
            continue
        try:
            if is_message:
                yield from parse_message(reader.ole, [*where, "__substg1.0_3701000D"], locator, nested_limits(limits))
                continue
            data = reader.stream(where, f"__substg1.0_{ATTACHMENT_DATA:04X}0102")
        except TributaryError as error:
            yield ParseIssue(locator=locator, reason_code=error.reason_code, detail=error.detail)
            continue
        except OLE_ERRORS as error:
            yield ParseIssue(locator=locator, reason_code=Reason.PARSE_MSG_MALFORMED, detail=str(error)[:500])
            continue
        if data:
            yield from parse_embedded(io.BytesIO(data), name, locator, nested_limits(limits), label="attachment")


def _date(values: dict[int, bytes]) -> str:
    raw = values.get(SUBMIT_TIME) or values.get(DELIVERY_TIME)
    if not raw:
        return ""
    ticks = struct.unpack("<Q", raw)[0]
    try:
        return (_FILETIME_EPOCH + datetime.timedelta(microseconds=ticks // 10)).isoformat()
    except OverflowError:
        return ""


def _address(name: str, address: str) -> str:
    return f"{name} <{address}>" if name and address else name or address


def _at(prefix: str, locator: str) -> str:
    return f"{prefix} / {locator}" if prefix else locator


def _clean(value: str) -> str:
    visible = "".join(char for char in value if char.isprintable() or char == " ")
    return " ".join(visible.split())[:MAX_HEADER_CHARS]
