"""JSON and JSON Lines: array items (or `options.record_path` items) streamed one by one; one record per line.

A record's `fields` are its scalar leaves flattened to dotted paths ("address.city", "tags.0"), as text.
Decisions: leaves past `max_fields` are dropped and reported (`limits.too_many_fields`), never fatal. In a JSON
document every other breach (depth, number length, field size) and any syntax error fails the file,
since a streaming parser cannot resynchronise inside one document; in JSON Lines the same problems are confined to
their line, which is skipped with a ParseIssue, and only a line too long to hold fails the file. Numbers keep their
text (no float rounding); a literal longer than `max_number_digits` is refused (`limits.number_too_long`) because
converting huge literals is quadratic and they are not data anyone indexes.

JSON Lines is read twice over only where needed: orjson (C, on the undecoded UTF-8 bytes) reads every line, and a
line it refuses, or whose record it cannot give exactly (a float, whose literal it does not keep; -0; any problem
such as depth or size), is read again by the stdlib decoder with the hooks above, which alone decides the outcome.
So the fast path changes speed, never results (tests/unit/test_parse_json.py compares the two on generated lines).
"""

import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson
import orjson

from shared.domain import ParseIssue, PermanentError, Reason, Record
from shared.parsing.encoding import Utf8Reader, open_utf8, open_utf8_line_batches, utf8_decode_error
from shared.parsing.limits import ParseLimits
from shared.parsing.options import ParseOptions
from shared.parsing.records import NO_ENTRIES, row_record

_BUF_SIZE = 64 * 1024
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A -0 literal where a value starts (orjson reads it as the int 0, whose text would be "0").
_NEGATIVE_ZERO = re.compile(rb"(?:^|[\[:,\s])-0(?![.eE0-9])")
_CONTAINERS = (dict, list)
_EXACT_RUN = 32  # lines read by the exact decoder alone after a float: a file with one usually has them throughout
_INT_CHARS = 20  # the longest integer orjson returns as an int ("-9223372036854775808"); longer ones are floats


class _InexactError(Exception):
    """A value orjson decoded but cannot give as the stdlib decoder with our hooks would (a float's literal)."""


class _LineProblemError(Exception):
    """A problem confined to one JSON Lines line: becomes a ParseIssue, the file goes on."""

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(detail)
        self.reason_code = reason_code
        self.detail = detail


def parse_json(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """Records of a JSON document: each item of the top-level array (or of `options.record_path`), else the whole."""
    reader, issues = open_utf8(stream, options)
    yield from issues
    target = tuple(options.record_path.split(".")) if options.record_path else None
    progress = _Progress()
    try:
        yield from _walk(_events(reader), target, limits, progress)
    except (SystemError, ValueError, OverflowError) as error:
        # ijson's C backend can hand an event back with a conversion error still pending; it surfaces here.
        raise _conversion_error(error, reader) from error
    if target is not None and not progress.matched:
        detail = f"no value at record_path {options.record_path!r}"
        yield ParseIssue(locator="file", reason_code=Reason.PARSE_JSON_RECORD_PATH_NOT_FOUND, detail=detail)


def parse_jsonl(stream: BinaryIO, options: ParseOptions, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    """One record per non-blank line of a JSON Lines / NDJSON file; a bad line is reported and skipped."""
    batches, issues = open_utf8_line_batches(stream, options, limits)
    yield from issues
    decoder = _line_decoder(limits)  # built once: json.loads with hooks would build a decoder per line
    loads, refused = orjson.loads, orjson.JSONDecodeError
    # Lines up to this size take the flat shortcut: none of their strings can be over the cap (nor, with this many
    # digits allowed, any integer orjson returns).
    flat_size = limits.max_field_chars if limits.max_number_digits >= _INT_CHARS else -1
    number = exact_run = 0  # exact_run: lines left to give to the exact decoder without trying orjson
    for offset, lines in batches:
        first = number + 1
        for line in lines:
            number += 1
            if exact_run:
                exact_run, fields = exact_run - 1, None
            else:
                try:
                    fields = _fast_fields(loads(line), len(line) <= flat_size, limits)
                except refused:
                    fields = None
                except _InexactError:  # a float: without this, float-heavy files would be decoded twice a line
                    exact_run, fields = _EXACT_RUN, None
            if fields is None or ("0" in fields.values() and b"-0" in line and _NEGATIVE_ZERO.search(line)):
                try:
                    yield from _exact_line(line, f"line {number}", decoder, limits)
                except UnicodeDecodeError as error:
                    raise utf8_decode_error(error, offset + sum(map(len, lines[: number - first]))) from error
                continue
            text = "; ".join([f"{key}: {value}" for key, value in fields.items() if value])
            if text:  # orjson refuses lone surrogates, so the text is storable as it is
                yield row_record((text, f"line {number}", fields, NO_ENTRIES, (), ()))


def _fast_fields(value: Any, flat: bool, limits: ParseLimits) -> dict[str, str] | None:
    """The fields of a line orjson decoded when they are certainly the exact path's (-0 aside), else None; raises
    `_InexactError` for a float."""
    if flat and type(value) is dict and "" not in value and len(value) <= limits.max_fields:
        # The common case, a flat object of strings and integers: converted in place (orjson's dict is ours).
        for key, child in value.items():
            kind = type(child)
            if kind is not str:
                if kind is not int:
                    break
                value[key] = str(child)
        else:
            return value
    try:
        fields, truncated = flatten(value, limits)
    except _LineProblemError:
        return None  # the exact path finds (and reports) the problem as it always has
    return None if truncated else fields


def _exact_line(
    line: bytes, locator: str, decoder: json.JSONDecoder, limits: ParseLimits
) -> Iterator[Record | ParseIssue]:
    """The record or issue of one line, by the stdlib decoder (raises UnicodeDecodeError on bytes not UTF-8)."""
    text = line.decode("utf-8")
    if not text.strip():
        return
    if text.endswith("\r\n"):  # as universal newlines would have handed the line over
        text = text[:-2] + "\n"
    elif text.endswith("\r"):
        text = text[:-1] + "\n"
    try:
        fields, truncated = flatten(_load_line(decoder, text), limits)
    except _LineProblemError as problem:
        yield ParseIssue(locator=locator, reason_code=problem.reason_code, detail=problem.detail)
        return
    yield from _emit(fields, truncated, locator, limits)


def flatten(value: Any, limits: ParseLimits) -> tuple[dict[str, str], bool]:
    """Scalar leaves of a decoded JSON value by dotted path (at most `max_fields`), and whether some were dropped.

    Numbers come as their text (the stdlib decoder's hooks) or as ints (orjson); a float raises `_InexactError`.
    """
    max_depth, max_fields, max_chars = limits.max_depth, limits.max_fields, limits.max_field_chars
    if (
        isinstance(value, dict)
        and len(value) <= max_fields
        and not any(isinstance(child, _CONTAINERS) for child in value.values())
    ):
        # The common case, a flat object, skips the walk: same result, a fraction of the cost.
        return {str(key) or "value": _leaf_text(child, limits) for key, child in value.items()}, False
    fields: dict[str, str] = {}
    truncated = False
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:  # iterative: nesting depth must never become Python recursion
        path, node, depth = stack.pop()
        if isinstance(node, _CONTAINERS):
            if depth >= max_depth:
                raise _LineProblemError(Reason.PARSE_JSON_TOO_DEEP, f"nesting deeper than {max_depth}")
            children = node.items() if isinstance(node, dict) else enumerate(node)
            depth += 1
            items = [(f"{path}.{key}" if path else str(key), child, depth) for key, child in children]
            stack.extend(reversed(items))
        elif len(fields) >= max_fields:
            truncated = True
        elif type(node) is str and len(node) <= max_chars:  # the usual leaf, without a call
            fields[path or "value"] = node
        else:
            fields[path or "value"] = _leaf_text(node, limits)
    return fields, truncated


def _line_decoder(limits: ParseLimits) -> json.JSONDecoder:
    def number(literal: str) -> str:
        if len(literal) > limits.max_number_digits:
            raise _LineProblemError(Reason.LIMITS_NUMBER_TOO_LONG, f"a number of {len(literal)} characters")
        return literal  # kept as written: no float rounding, no int conversion

    def constant(name: str) -> None:
        raise _LineProblemError(Reason.PARSE_JSONL_BAD_LINE, f"{name} is not valid JSON")

    return json.JSONDecoder(parse_int=number, parse_float=number, parse_constant=constant)


def _load_line(decoder: json.JSONDecoder, line: str) -> Any:
    try:
        return decoder.decode(line)
    except RecursionError as error:
        raise _LineProblemError(Reason.PARSE_JSON_TOO_DEEP, "nesting too deep to decode") from error
    except json.JSONDecodeError as error:
        raise _LineProblemError(Reason.PARSE_JSONL_BAD_LINE, f"{error.msg} at column {error.colno}") from error
    except ValueError as error:  # any other refusal of the decoder
        raise _LineProblemError(Reason.PARSE_JSONL_BAD_LINE, str(error)[:200]) from error


def _leaf_text(value: Any, limits: ParseLimits) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:  # only from orjson (the stdlib decoder's hooks keep numbers as their text)
        text = str(value)
        if len(text) > limits.max_number_digits:
            raise _LineProblemError(Reason.LIMITS_NUMBER_TOO_LONG, f"a number of {len(text)} characters")
        return text
    if not isinstance(value, str):  # a float from orjson: the value is its literal, which orjson did not keep
        raise _InexactError
    if len(value) > limits.max_field_chars:
        raise _LineProblemError(
            Reason.LIMITS_FIELD_TOO_LARGE, f"a value of {len(value)} characters exceeds {limits.max_field_chars}"
        )
    return value


def _emit(fields: dict[str, str], truncated: bool, locator: str, limits: ParseLimits) -> Iterator[Record | ParseIssue]:
    if truncated:
        detail = f"only the first {limits.max_fields} values kept"
        yield ParseIssue(locator=locator, reason_code=Reason.LIMITS_TOO_MANY_FIELDS, detail=detail)
    text = "; ".join([f"{key}: {value}" for key, value in fields.items() if value])
    if not text:  # an empty object or all-null item has nothing to index
        return
    if not text.isascii() and _has_lone_surrogate(text):
        # JSON escapes can spell half a UTF-16 pair ("\\ud800"); such text cannot be stored as UTF-8 downstream.
        yield ParseIssue(locator=locator, reason_code=Reason.PARSE_JSON_LONE_SURROGATE, detail="replaced by U+FFFD")
        fields = {_without_surrogates(key): _without_surrogates(value) for key, value in fields.items()}
        text = _without_surrogates(text)
    yield Record(text, locator, fields)


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _without_surrogates(text: str) -> str:
    # The decoder already joined every valid pair, so any surrogate code point left is a lone one.
    return _SURROGATE.sub("\ufffd", text)


def _events(reader: Utf8Reader) -> Iterator[tuple[str, Any]]:
    """ijson's parse events, its errors turned into PermanentErrors with the byte position reached."""
    try:
        yield from ijson.basic_parse(reader, use_float=False, buf_size=_BUF_SIZE)
    except ijson.JSONError as error:
        raise _syntax_error(error, reader) from error


def _position(reader: Utf8Reader) -> str:
    # ijson reads ahead in chunks: the error lies before the end of what it has read.
    return f"before byte {reader.delivered}"


def _syntax_error(error: Exception, reader: Utf8Reader) -> PermanentError:
    raw = error.args[0] if error.args else ""
    message = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    first_line = message.strip().splitlines()[0] if message.strip() else "invalid JSON"
    if "UTF8" in first_line:
        return PermanentError(Reason.PARSE_TEXT_DECODE_ERROR, f"{first_line} ({_position(reader)})")
    return PermanentError(Reason.PARSE_JSON_INVALID, f"{first_line} ({_position(reader)})")


def _conversion_error(error: Exception, reader: Utf8Reader) -> PermanentError:
    # ijson converts integers itself; past CPython's 4300-digit cap it fails with a SystemError wrapping ValueError.
    cause = f"{error} {error.__context__ or ''} {error.__cause__ or ''}"
    if "integer string conversion" in cause:
        return PermanentError(
            Reason.LIMITS_NUMBER_TOO_LONG, f"an integer literal too long to convert ({_position(reader)})"
        )
    return PermanentError(Reason.PARSE_JSON_INVALID, f"{type(error).__name__} ({_position(reader)})")


class _Progress:
    """What the walk found out that the caller reports after it: whether `record_path` matched anything."""

    matched = False


def _walk(
    events: Iterator[tuple[str, Any]], target: tuple[str, ...] | None, limits: ParseLimits, progress: _Progress
) -> Iterator[Record | ParseIssue]:
    """Records from parse events; one flat loop with local state because it runs once per JSON token."""
    arrays: list[bool] = []  # per open container: is it an array
    keys: list[Any] = []  # per open container: current key (object) or index (array)
    paths: list[str] = []  # per container open inside the record: its dotted path from the record root
    fields: dict[str, str] | None = None  # the record being built, if any
    truncated, locator, root = False, "", -1  # root: the level (open containers) the record's value sits at
    max_depth, max_fields, max_digits, max_chars = (
        limits.max_depth,
        limits.max_fields,
        limits.max_number_digits,
        limits.max_field_chars,
    )
    for event, value in events:
        if event == "map_key":
            if len(value) > max_chars:
                raise PermanentError(Reason.LIMITS_FIELD_TOO_LARGE, f"an object key of {len(value)} characters")
            keys[-1] = value
            continue
        if event == "end_map" or event == "end_array":
            arrays.pop()
            keys.pop()
            if fields is not None:
                if len(arrays) == root:
                    yield from _emit(fields, truncated, locator, limits)
                    fields = None
                else:
                    paths.pop()
            continue
        # A value starts: a container or a scalar.
        if target is None:  # the first event: an array's items are the records, anything else is one record
            target = ("item",) if event == "start_array" else ()
        if arrays and arrays[-1]:
            keys[-1] += 1
        level = len(arrays)
        if fields is None and level == len(target) and _at_target(target, arrays, keys):
            progress.matched = True
            fields, truncated, locator, root = {}, False, _json_path(arrays, keys), level
        if fields is not None and level > root:
            parent, key = (paths[-1] if level > root + 1 else ""), keys[-1]
            path = f"{parent}.{key}" if parent else f"{key}"
        else:
            path = "value"
        if event == "start_map" or event == "start_array":
            if fields is not None and level > root:
                paths.append(path)
            is_array = event == "start_array"
            arrays.append(is_array)
            keys.append(-1 if is_array else None)
            if level + 1 > max_depth:
                raise PermanentError(
                    Reason.PARSE_JSON_TOO_DEEP, f"nesting deeper than {max_depth} at {_json_path(arrays, keys)}"
                )
            continue
        text = _scalar_text(event, value, max_digits, max_chars, arrays, keys)
        if fields is None:
            continue
        if len(fields) >= max_fields:
            truncated = True
        else:
            fields[path] = text
        if level == root:  # the record is this scalar itself
            yield from _emit(fields, truncated, locator, limits)
            fields = None


def _scalar_text(event: str, value: Any, max_digits: int, max_chars: int, arrays: list[bool], keys: list[Any]) -> str:
    if event == "string":
        if len(value) > max_chars:
            detail = f"a value of {len(value)} characters exceeds {max_chars} at {_json_path(arrays, keys)}"
            raise PermanentError(Reason.LIMITS_FIELD_TOO_LARGE, detail)
        return value
    if event == "number":
        text = str(value)
        if len(text) > max_digits:
            raise PermanentError(
                Reason.LIMITS_NUMBER_TOO_LONG, f"a number of {len(text)} characters at {_json_path(arrays, keys)}"
            )
        return text
    if event == "boolean":
        return "true" if value else "false"
    return ""  # null


def _at_target(target: tuple[str, ...], arrays: list[bool], keys: list[Any]) -> bool:
    return all(part == ("item" if is_array else key) for part, is_array, key in zip(target, arrays, keys, strict=True))


def _json_path(arrays: list[bool], keys: list[Any]) -> str:
    parts = ["$"]
    for is_array, key in zip(arrays, keys, strict=True):
        if is_array:
            parts.append(f"[{max(key, 0)}]")
        elif key is None:
            continue
        elif _IDENTIFIER.match(key):
            parts.append(f".{key}")
        else:
            parts.append(f"[{json.dumps(key)}]")
    return "".join(parts)
