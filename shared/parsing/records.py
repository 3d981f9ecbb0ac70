"""Records built on the parsers' hot path, without a pydantic validation per row.

`Record(...)` validates its arguments and copies `fields`: a fifth to a quarter of what CSV and JSON Lines cost. The
delimited and JSON Lines parsers build every value themselves (str text and locator, a fresh dict of str to str), so
they set the instance state directly, as pydantic's `model_construct` does (which is slower still: it inspects the
default factories on every call). The result is indistinguishable from a validated Record: same `__dict__`, same
`model_fields_set` (tests/unit/test_parse_delimited.py holds that).
"""

from pydantic import BaseModel

from shared.domain import Record

_new = object.__new__
_set_dict = vars(BaseModel)["__dict__"].__set__
_set_fields_set = vars(BaseModel)["__pydantic_fields_set__"].__set__
_set_extra = vars(BaseModel)["__pydantic_extra__"].__set__
_set_private = vars(BaseModel)["__pydantic_private__"].__set__

# A field added to Record would be missing from records built here: fail at import rather than downstream.
if set(Record.model_fields) != {"text", "locator", "fields", "metadata", "mentions", "links"}:
    raise ImportError("shared.parsing.records: Record's fields changed; update fast_record")


def fast_record(text: str, locator: str, fields: dict[str, str], metadata: dict[str, str] | None = None) -> Record:
    """`Record(text=…, locator=…, fields=…[, metadata=…])` for arguments the caller guarantees valid and owns.

    `fields` (and `metadata`) must be fresh dicts of str to str that the caller never touches again.
    """
    record = _new(Record)
    if metadata is None:
        _set_dict(
            record, {"text": text, "locator": locator, "fields": fields, "metadata": {}, "mentions": [], "links": []}
        )
        _set_fields_set(record, {"text", "locator", "fields"})
    else:
        _set_dict(
            record,
            {"text": text, "locator": locator, "fields": fields, "metadata": metadata, "mentions": [], "links": []},
        )
        _set_fields_set(record, {"text", "locator", "fields", "metadata"})
    _set_extra(record, None)
    _set_private(record, None)
    return record
