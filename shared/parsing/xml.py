"""XML: streamed with defusedxml's iterparse, one record per record element, cleared as soon as it is yielded.

Record rule: the elements whose local name is `options.record_element` (outermost match; namespaces ignored);
without it, each direct child of the root element; a root without element children is itself the one record.
"""

from collections.abc import Iterator
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser, iterparse

from shared.domain import PermanentError, Reason, Record
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions


class _RefusingParser(DefusedXMLParser):
    """Reads a DOCTYPE and its internal subset's element and attribute declarations, and refuses the rest.

    Entity declarations (general or parameter, internal or external) raise as they are declared, so nothing is ever
    expanded; an external entity reference raises too, and the DTD a DOCTYPE names is never fetched (expat reads no
    external subset unless asked). The DTD's attribute defaults, an amplification vector of their own, never reach
    an element: only attributes written in the document are reported.
    """

    def __init__(self) -> None:
        super().__init__(forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.parser.specified_attributes = True


_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    (EntitiesForbidden, Reason.PARSE_XML_ENTITIES_FORBIDDEN),
    (ExternalReferenceForbidden, Reason.PARSE_XML_EXTERNAL_REFERENCE_FORBIDDEN),
    (DTDForbidden, Reason.PARSE_XML_DTD_FORBIDDEN),
    (ParseError, Reason.PARSE_XML_MALFORMED),
    (UnicodeError, Reason.PARSE_XML_MALFORMED),
    (KeyError, Reason.PARSE_XML_MALFORMED),  # LookupErrors, but not of a codec: keep them out of the next line
    (IndexError, Reason.PARSE_XML_MALFORMED),
    (LookupError, Reason.PARSE_ENCODING_UNKNOWN),  # an unknown declared encoding: the code every parser uses
    (ValueError, Reason.PARSE_XML_MALFORMED),
    (RecursionError, Reason.PARSE_XML_TOO_DEEP),
)


def parse_xml(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record]:
    """Yield one record per record element, with its element path as locator (e.g. '/catalog/book[3]')."""
    events = iterparse(stream, events=("start", "end"), parser=_RefusingParser())
    walker = _Walker(options.record_element, limits)
    try:
        for event, element in events:
            if event == "start":
                walker.start(element)
            elif (record := walker.end(element)) is not None:
                yield record
    except PermanentError:
        raise
    except tuple(error for error, _ in _ERRORS) as error:
        raise PermanentError(_reason_for(error), str(error)[:500]) from error


def _reason_for(error: BaseException) -> str:
    return next(reason for kind, reason in _ERRORS if isinstance(error, kind))


_NO_COUNTS: dict[str, int] = {}


class _Walker:
    """Tracks the element path and which open element is the current record."""

    def __init__(self, record_element: str | None, limits: ParseLimits) -> None:
        self._record_element = record_element
        self._limits = limits
        self._stack: list[tuple[Element, str, dict[str, int]]] = []  # element, path, child name counts
        self._record_depth: int | None = None  # stack depth of the open record element
        self._record_chars = 0
        self._root_has_children = False

    def start(self, element: Element) -> None:
        if len(self._stack) >= self._limits.max_xml_depth:
            raise PermanentError(Reason.PARSE_XML_TOO_DEEP, f"elements nest deeper than {self._limits.max_xml_depth}")
        if self._record_depth is not None:
            # Inside a record only the record's own path matters: skip the bookkeeping (the hot path).
            self._stack.append((element, "", _NO_COUNTS))
            return
        name = _local(element.tag)
        if self._stack:
            counts = self._stack[-1][2]
            counts[name] = counts.get(name, 0) + 1
            path = f"{self._stack[-1][1]}/{name}[{counts[name]}]"
            self._root_has_children = True
        else:
            path = f"/{name}"
        self._stack.append((element, path, {}))
        if self._is_record(name, len(self._stack)):
            self._record_depth = len(self._stack)
            self._record_chars = 0

    def end(self, element: Element) -> Record | None:
        depth = len(self._stack)
        _, path, _ = self._stack.pop()
        if self._record_depth is not None:
            self._record_chars += _size(element)
            if self._record_chars > self._limits.max_record_chars:
                detail = f"a record holds more than {self._limits.max_record_chars}"
                raise PermanentError(Reason.LIMITS_RECORD_TOO_LARGE, detail)
        if self._record_depth == depth:
            self._record_depth = None
            record = _record(element, path, self._limits)
            self._release(element)
            return record
        if self._record_depth is None:
            # Outside any record: nothing below will ever be read again, so free it now.
            is_lone_root = depth == 1 and self._record_element is None and not self._root_has_children
            record = _record(element, path, self._limits) if is_lone_root else None
            self._release(element)
            return record
        return None

    def _is_record(self, name: str, depth: int) -> bool:
        if self._record_element is not None:
            return name == self._record_element
        return depth == 2

    def _release(self, element: Element) -> None:
        element.clear()
        if self._stack:
            self._stack[-1][0].remove(element)


def _size(element: Element) -> int:
    """Roughly the element's own serialised size: empty elements count too, so millions of <e/> still add up."""
    attributes = sum(len(name) + len(value) for name, value in element.attrib.items())
    return len(str(element.tag)) + len(element.text or "") + len(element.tail or "") + attributes


def _local(tag: object) -> str:
    # Comments and processing instructions have callables as tags; iterparse never yields them, but be safe.
    text = tag if isinstance(tag, str) else "node"
    return text.rsplit("}", 1)[-1]


def _record(element: Element, path: str, limits: ParseLimits) -> Record | None:
    fields, loose_text = _flatten(element)
    for key, value in fields.items():
        if len(value) > limits.max_field_chars:
            raise PermanentError(Reason.LIMITS_FIELD_TOO_LARGE, f"{path}/{key} exceeds {limits.max_field_chars}")
    pairs = [f"{key.replace('@', '')}: {value}" for key, value in fields.items() if value and key != "text"]
    text = "; ".join(part for part in (" ".join(loose_text), *pairs) if part)
    if not text:
        return None
    return Record(text=text, locator=path, fields=fields)


def _flatten(record: Element) -> tuple[dict[str, str], list[str]]:
    """Leaf paths (relative to the record, '@name' for attributes) -> text, plus mixed content in document order."""
    fields: dict[str, str] = {}
    loose: list[str] = []
    # Iterative, so a record nested up to the depth cap never meets the interpreter's recursion limit.
    pending: list[tuple[Element, str] | str] = [(record, "")]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            loose.append(item)
            continue
        element, prefix = item
        for attribute, value in element.attrib.items():
            _add(fields, f"{prefix}@{_local(attribute)}", _squash(value))
        children = list(element)
        own_text = _squash(element.text)
        if not children and prefix:
            _add(fields, prefix.rstrip("/"), own_text)
        elif own_text:
            loose.append(own_text)
            if not prefix and not children:
                fields["text"] = own_text
        for child in reversed(children):
            if tail := _squash(child.tail):
                pending.append(tail)
            pending.append((child, f"{prefix}{_local(child.tag)}/"))
    return fields, loose


def _add(fields: dict[str, str], key: str, value: str) -> None:
    # Repeated leaves (two <author>s) keep every value, '; '-joined, under one key.
    if not value:
        fields.setdefault(key, "")
        return
    fields[key] = f"{fields[key]}; {value}" if fields.get(key) else value


def _squash(text: str | None) -> str:
    return " ".join(text.split()) if text else ""
