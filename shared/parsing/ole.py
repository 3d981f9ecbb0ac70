"""OLE2 compound files: an Outlook .msg is read (shared.parsing.msg); legacy binary Office files and password-protected
Office packages are refused with a code naming the format. Which one a file is comes from its directory, never its
name.
"""

import struct
from collections.abc import Iterator
from typing import BinaryIO

import olefile

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.archive import seekable
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions

# What olefile raises on a damaged or crafted directory, FAT or sector chain.
OLE_ERRORS = (OSError, ValueError, IndexError, KeyError, TypeError, AttributeError, EOFError, struct.error)

# A root-level stream name -> why the file is refused (the legacy formats and an encrypted OOXML package).
_REFUSED: tuple[tuple[frozenset[str], str, str], ...] = (
    (frozenset({"encryptioninfo", "encryptedpackage"}), Reason.PARSE_OFFICE_ENCRYPTED, "password-protected Office"),
    (frozenset({"worddocument"}), Reason.PARSE_OFFICE_LEGACY_DOC, "legacy binary Word (.doc)"),
    (frozenset({"workbook"}), Reason.PARSE_OFFICE_LEGACY_XLS, "legacy binary Excel (.xls)"),
    (frozenset({"book"}), Reason.PARSE_OFFICE_LEGACY_XLS, "legacy binary Excel 5/95 (.xls)"),
    (frozenset({"powerpoint document"}), Reason.PARSE_OFFICE_LEGACY_PPT, "legacy binary PowerPoint (.ppt)"),
)
MSG_PROPERTIES = "__properties_version1.0"


def parse_ole(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """Records of an Outlook .msg; any other compound file is refused with the reason naming what it is."""
    ole = open_ole(seekable(stream, limits), limits)
    with ole:
        kind = _kind(ole)
        if kind is not None:
            reason, name = kind
            raise PermanentError(reason, f"{name} content is not read; save it in the current format")
        # Imported here: shared.parsing.msg imports this module for open_ole and OLE_ERRORS.
        from shared.parsing.msg import parse_message

        yield from parse_message(ole, [], "", limits)


def open_ole(source: BinaryIO, limits: ParseLimits) -> olefile.OleFileIO:
    """The parsed compound file; its mini stream (read whole by olefile) is held to the document cap."""
    try:
        ole = olefile.OleFileIO(source)
        if ole.root is not None and ole.root.size > limits.max_document_bytes:
            ole.close()
            raise PermanentError(Reason.PARSE_EMAIL_TOO_LARGE, f"mini stream of {ole.root.size} bytes")
    except RecursionError as error:
        raise PermanentError(Reason.PARSE_MSG_MALFORMED, "the directory tree nests too deeply") from error
    except OLE_ERRORS as error:
        raise PermanentError(Reason.PARSE_MSG_MALFORMED, f"not a readable compound file: {error}"[:500]) from error
    return ole


def _kind(ole: olefile.OleFileIO) -> tuple[str, str] | None:
    """Why the file is refused, or None for an Outlook message."""
    try:
        names = {entry.name.lower() for entry in ole.root.kids} if ole.root is not None else set()
    except OLE_ERRORS as error:
        raise PermanentError(Reason.PARSE_MSG_MALFORMED, str(error)[:500]) from error
    for streams, reason, name in _REFUSED:
        if streams <= names:
            return reason, name
    if MSG_PROPERTIES in names and any(name.startswith("__substg1.0_") for name in names):
        return None
    return Reason.PARSE_OLE_UNKNOWN, "an OLE2 compound file that is not an Outlook message"
