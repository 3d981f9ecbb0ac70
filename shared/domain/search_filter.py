"""The search filter language: `field:value` terms separated by spaces, read as a typed filter.

Terms on different fields must all hold (AND); repeating a field accepts any of its values (`document_id:a
document_id:b`). A value runs to the next space, or is double-quoted (`path:"my notes.txt"`, with `\\"` and `\\\\`
inside). Fields: `document_id`, `path` (exact), `folder` (every path under it, at any depth), `content_type` and
`language` (the ISO 639-1 code detected per chunk in enrich).
Adapters translate the parsed filter into their own query language with quoted literals: the text a user typed is
never passed to a backend.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator

MAX_TERMS = 20
# Printable text only: control characters (NUL above all) have no business in an id or a path.
_Value = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f\x7f]+$")]
_TERM = re.compile(r'\s*(?P<field>\w+):(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"]+))(?=\s|$)')
_ESCAPE = re.compile(r"\\(.)")


class InvalidFilterError(ValueError):
    """A filter that does not parse or names an unknown field; the message says what is wrong."""


class SearchFilter(BaseModel):
    """What a search may be restricted to: each non-empty field must match one of its values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_id: tuple[_Value, ...] = ()
    path: tuple[_Value, ...] = ()
    folder: tuple[_Value, ...] = Field((), description="folders, without leading or trailing slash")
    content_type: tuple[_Value, ...] = ()
    language: tuple[_Value, ...] = ()

    @field_validator("folder", mode="before")
    @classmethod
    def _bare_folders(cls, folders: object) -> object:
        if isinstance(folders, list | tuple):
            return tuple(folder.strip("/") if isinstance(folder, str) else folder for folder in folders)
        return folders


def parse_filter(text: str) -> SearchFilter:
    """The filter `text` states; InvalidFilterError when it does not parse or a term is refused."""
    terms: dict[str, list[str]] = {}
    position, count = 0, 0
    while text[position:].strip():
        match = _TERM.match(text, position)
        if match is None:
            raise InvalidFilterError(f"expected field:value at character {position + 1}: {text[position:][:40]!r}")
        value = match["bare"] if match["bare"] is not None else _ESCAPE.sub(r"\1", match["quoted"])
        terms.setdefault(match["field"], []).append(value)
        position, count = match.end(), count + 1
    if count > MAX_TERMS:
        raise InvalidFilterError(f"{count} terms: at most {MAX_TERMS}")
    try:
        return SearchFilter.model_validate(terms)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'][:1]))}: {e['msg']}" for e in error.errors())
        raise InvalidFilterError(problems) from error


def folders_of(path: str) -> list[str]:
    """Every folder `path` lies under, outermost first (`a/b/c.txt` → `a`, `a/b`): what `folder:` matches."""
    parts = path.strip("/").split("/")[:-1]
    return ["/".join(parts[: depth + 1]) for depth in range(len(parts))]
