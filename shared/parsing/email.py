"""Email: one .eml (message/rfc822) or an mbox, each message's text bodies as records, attachments parsed in turn.

Per message: a record per text body (HTML converted to text; of a multipart/alternative only the plain text, else
its last, richest, part), carrying subject, date, message id, from/to/cc and the attachment names as metadata and
the people of From/To/Cc as Person mentions. Attachments and nested messages are parsed within the depth and count
caps; whatever fails in one of them is a ParseIssue, never the whole message. Locators: 'part 2.1' in an .eml,
'message 3 / part 2.1' in an mbox, 'part 2 / part 1' inside a nested message.
"""

import io
import re
import unicodedata
from collections.abc import Iterator
from email import policy
from email.errors import MessageError
from email.message import EmailMessage, Message
from email.parser import BytesParser
from typing import BinaryIO

from shared.domain import Mention, ParseIssue, PermanentError, Reason, Record, TributaryError
from shared.parsing.archive import attachment_refused, nested_limits, parse_embedded, sanitize_name
from shared.parsing.html import html_to_text, read_whole
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

MAX_HEADER_CHARS = 1000
MAX_LISTED_ATTACHMENTS = 100
_MBOX_LINE = 64 << 10  # read mbox lines in bounded pieces: a line may be as long as the file
_MBOXRD_QUOTED = re.compile(rb"^>+From ")
# The stdlib email package is lenient, but its header and MIME code still raises these on hostile input.
_EMAIL_ERRORS = (MessageError, ValueError, IndexError, KeyError, TypeError, AttributeError, LookupError, AssertionError)
_ADDRESS_HEADERS = ("from", "to", "cc")
# metadata key -> header name
_METADATA_HEADERS = (
    ("subject", "subject"),
    ("message_id", "message-id"),
    ("date", "date"),
    *((h, h) for h in _ADDRESS_HEADERS),
)

Items = Iterator[Record | ParseIssue]


def parse_eml(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Items:
    """Parse one RFC 822 message (.eml), read whole after a size check."""
    data = read_whole(stream, limits.max_document_bytes, Reason.PARSE_EMAIL_TOO_LARGE)
    yield from _message_items(_parse_bytes(data), "", limits)


def parse_mbox(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Items:
    """Parse an mbox message by message; a message that fails or breaks a cap is a ParseIssue, the rest go on."""
    for number, data in enumerate(_mbox_messages(stream, limits), start=1):
        prefix = f"message {number}"
        if data is None:
            yield ParseIssue(locator=prefix, reason_code=Reason.PARSE_EMAIL_TOO_LARGE, detail="message skipped")
            continue
        try:
            yield from _message_items(_parse_bytes(data), prefix, limits)
        except TributaryError as error:
            yield ParseIssue(locator=prefix, reason_code=error.reason_code, detail=error.detail)


def _parse_bytes(data: bytes) -> EmailMessage:
    try:
        message = BytesParser(policy=policy.default).parsebytes(data)
    except RecursionError as error:
        raise PermanentError(Reason.PARSE_EMAIL_TOO_DEEP, "MIME structure nests too deeply") from error
    except _EMAIL_ERRORS as error:
        raise PermanentError(Reason.PARSE_EMAIL_MALFORMED, str(error)[:500]) from error
    return message


def _mbox_messages(stream: BinaryIO, limits: ParseLimits) -> Iterator[bytes | None]:
    """Raw messages between 'From ' separator lines, streamed; None for one that exceeds the document cap."""
    lines: list[bytes] = []
    size = 0
    too_large = False
    started = False
    at_line_start = True
    while piece := stream.readline(_MBOX_LINE):
        is_separator = at_line_start and piece.startswith(b"From ")
        at_line_start = piece.endswith(b"\n")
        if is_separator:
            if started or any(line.strip() for line in lines):
                yield None if too_large else b"".join(lines)
            lines, size, too_large, started = [], 0, False, True
            continue
        size += len(piece)
        if size > limits.max_document_bytes:
            too_large, lines = True, []
        if not too_large:
            # mboxrd escaping: '>From ' in a body was written for 'From '.
            lines.append(piece[1:] if _MBOXRD_QUOTED.match(piece) else piece)
    if too_large or any(line.strip() for line in lines):
        yield None if too_large else b"".join(lines)


class _Parts:
    """A message's leaves, sorted by role, with IMAP-style part numbers."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str, Message]] = []
        self.attachments: list[tuple[str, str, Message]] = []  # number, sanitised name, part
        self.nested: list[tuple[str, Message]] = []
        self.defects: list[tuple[str, str]] = []


def _message_items(message: Message, prefix: str, limits: ParseLimits) -> Items:
    try:
        _check_part_count(message, limits)
        parts = _sort_parts(message)
        metadata, mentions, header_issues = _headers(message, parts)
    except RecursionError as error:
        raise PermanentError(Reason.PARSE_EMAIL_TOO_DEEP, "MIME structure nests too deeply") from error
    except _EMAIL_ERRORS as error:
        raise PermanentError(Reason.PARSE_EMAIL_MALFORMED, str(error)[:500]) from error
    for where, reason in header_issues:
        detail = f"{where}: {reason}"
        yield ParseIssue(locator=_at(prefix, "headers"), reason_code=Reason.PARSE_EMAIL_BAD_HEADER, detail=detail)
    for number, defect in parts.defects:
        yield ParseIssue(locator=_at(prefix, f"part {number}"), reason_code=Reason.PARSE_EMAIL_DEFECT, detail=defect)
    yield from _body_records(parts, prefix, metadata, mentions)
    yield from _embedded(parts, prefix, limits)


def _at(prefix: str, locator: str) -> str:
    return f"{prefix} / {locator}" if prefix else locator


def _check_part_count(message: Message, limits: ParseLimits) -> None:
    count = 0
    pending: list[Message] = [message]
    while pending:
        part = pending.pop()
        count += 1
        if count > limits.max_parts:
            raise PermanentError(Reason.LIMITS_TOO_MANY_PARTS, f"more than {limits.max_parts} MIME parts")
        children = _children(part)
        if children is not None:
            pending.extend(children)


def _sort_parts(message: Message) -> _Parts:
    """Walk the MIME tree without recursion; nested messages are kept whole for their own pass."""
    parts = _Parts()
    pending: list[tuple[str, Message]] = [("1", message)]
    while pending:
        number, part = pending.pop()
        parts.defects.extend((number, _describe(defect)) for defect in part.defects)
        content_type = part.get_content_type()
        children = _children(part)
        if content_type in ("message/rfc822", "message/global") and children:
            parts.nested.append((number, children[0]))
        elif children is not None:
            chosen = _chosen_children(content_type, children)
            base = "" if part is message else f"{number}."
            pending.extend((f"{base}{index}", child) for index, child in reversed(chosen))
        elif _is_body(part, content_type):
            parts.bodies.append((number, part))
        else:
            parts.attachments.append((number, _attachment_name(part, number), part))
    parts.bodies.sort(key=lambda item: _number_key(item[0]))
    return parts


def _children(part: Message) -> list[Message] | None:
    """The parts inside a multipart or message/* part; None for a leaf."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return None
    # The parser puts only messages in the list (a str there comes from set_payload by hand, never from parsing).
    return [child for child in payload if isinstance(child, Message)]


def _chosen_children(content_type: str, children: list[Message]) -> list[tuple[int, Message]]:
    numbered = list(enumerate(children, start=1))
    if content_type != "multipart/alternative" or not numbered:
        return numbered
    # Alternatives say the same thing twice: plain text when there is one, else the last (richest) one.
    plain = [item for item in numbered if item[1].get_content_type() == "text/plain"]
    return plain[:1] or numbered[-1:]


def _is_body(part: Message, content_type: str) -> bool:
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return False
    # A multipart without a usable boundary arrives as a string payload: read it as text.
    return content_type in ("text/plain", "text/html") or content_type.startswith("multipart/")


def _attachment_name(part: Message, number: str) -> str:
    raw = part.get_filename() or ""
    return sanitize_name(str(raw)) if raw else f"part-{number}"


def _number_key(number: str) -> list[int]:
    return [int(piece) for piece in number.split(".")]


def _describe(defect: object) -> str:
    return f"{type(defect).__name__}: {defect}"[:500]


def _headers(message: Message, parts: _Parts) -> tuple[dict[str, str], list[Mention], list[tuple[str, str]]]:
    metadata: dict[str, str] = {}
    mentions: list[Mention] = []
    issues: list[tuple[str, str]] = []
    for key, name in _METADATA_HEADERS:
        try:
            value = _header_value(message, name)
            if name in _ADDRESS_HEADERS:
                mentions.extend(_people(message, name))
        except _EMAIL_ERRORS as error:
            issues.append((name, str(error)[:200]))
            continue
        if value:
            metadata[key] = value
    names = [name for _, name, _ in parts.attachments]
    if names:
        # Listed even when not parsed (past the count cap), but the list itself stays bounded.
        shown = names[:MAX_LISTED_ATTACHMENTS]
        extra = [f"… and {len(names) - len(shown)} more"] if len(names) > len(shown) else []
        metadata["attachments"] = "\n".join(shown + extra)
    return metadata, _unique(mentions), issues


def _header_value(message: Message, name: str) -> str:
    header = message.get(name)
    if header is None:
        return ""
    moment = getattr(header, "datetime", None)
    return moment.isoformat() if moment is not None else _clean(str(header))


def _people(message: Message, name: str) -> list[Mention]:
    header = message.get(name)
    people = []
    for address in getattr(header, "addresses", ()):
        person = _clean(address.display_name) or _clean(address.username)
        if person:
            people.append(Mention(type="Person", name=person))
    return people


def _unique(mentions: list[Mention]) -> list[Mention]:
    return list(dict.fromkeys(mentions))


def _clean(value: str) -> str:
    """Header text fit for metadata: no control or bidi characters, single-spaced, capped."""
    visible = "".join(char for char in value if not unicodedata.category(char).startswith("C") or char == " ")
    return " ".join(visible.split())[:MAX_HEADER_CHARS]


def _body_records(parts: _Parts, prefix: str, metadata: dict[str, str], mentions: list[Mention]) -> Items:
    produced = False
    for number, part in parts.bodies:
        locator = _at(prefix, f"part {number}")
        try:
            text = _body_text(part)
        except TributaryError as error:
            yield ParseIssue(locator=locator, reason_code=error.reason_code, detail=error.detail)
            continue
        except _EMAIL_ERRORS as error:
            yield ParseIssue(locator=locator, reason_code=Reason.PARSE_EMAIL_MALFORMED, detail=str(error)[:500])
            continue
        if text:
            produced = True
            yield Record(text=text, locator=locator, metadata=metadata, mentions=mentions)
    if not produced and metadata.get("subject"):
        # No readable body: the headers alone still say who wrote to whom, and about what.
        yield Record(text=metadata["subject"], locator=_at(prefix, "headers"), metadata=metadata, mentions=mentions)


def _body_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        text = payload.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        text = payload.decode("utf-8", errors="replace")
    if part.get_content_type() == "text/html":
        text = html_to_text(text)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _embedded(parts: _Parts, prefix: str, limits: ParseLimits) -> Items:
    """Attachments and nested messages, in part order, within the depth and count caps."""
    items = [(number, name, part, False) for number, name, part in parts.attachments]
    items += [(number, "", message, True) for number, message in parts.nested]
    items.sort(key=lambda item: _number_key(item[0]))
    for count, (number, name, part, is_message) in enumerate(items, start=1):
        locator = _at(prefix, f"part {number}")
        if refused := attachment_refused(count, len(items), locator, limits):
            yield refused
            if refused.reason_code == Reason.LIMITS_TOO_MANY_ATTACHMENTS:
                return
            continue
        if is_message:
            yield from _nested_message(part, locator, limits)
        else:
            yield from _attachment(part, name, locator, limits)


def _nested_message(message: Message, locator: str, limits: ParseLimits) -> Items:
    try:
        yield from _message_items(message, locator, nested_limits(limits))
    except TributaryError as error:
        yield ParseIssue(locator=locator, reason_code=error.reason_code, detail=error.detail)


def _attachment(part: Message, name: str, locator: str, limits: ParseLimits) -> Items:
    try:
        payload = part.get_payload(decode=True)
    except _EMAIL_ERRORS as error:
        yield ParseIssue(locator=locator, reason_code=Reason.PARSE_EMAIL_MALFORMED, detail=str(error)[:500])
        return
    if isinstance(payload, bytes) and payload:
        yield from parse_embedded(io.BytesIO(payload), name, locator, nested_limits(limits), label="attachment")
