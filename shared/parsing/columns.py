"""Column options applied to every record that has fields: text columns, id column, typed entity columns and
the relations between them (ParseOptions, set per path by the ingestion config)."""

from collections.abc import Mapping, Sequence
from typing import TypedDict, TypeVar

from shared.domain import Link, Mention, Record
from shared.extraction.schema import ExtractionSchema
from shared.parsing.options import ParseOptions


def has_column_rules(options: ParseOptions) -> bool:
    """Whether any column option is set (when none is, records pass through untouched)."""
    return bool(options.text_columns is not None or options.id_column or options.entity_columns or options.relations)


class _Updates(TypedDict, total=False):
    """The fields of a Record that the column options may replace."""

    text: str
    locator: str
    metadata: Mapping[str, str]
    mentions: Sequence[Mention]
    links: Sequence[Link]


def apply_columns(record: Record, options: ParseOptions) -> Record:
    """The record with its text, id, declared mentions and links as the column options say."""
    fields = _FieldLookup(record.fields)
    updates: _Updates = {}
    if options.text_columns is not None:
        text = _join(fields.pairs(options.text_columns))
        # A row whose text columns are all empty keeps its whole text: a record with no text would make no chunk,
        # and its mentions would be lost with it.
        if text:
            updates["text"] = text
    if options.id_column:
        record_id = fields.get(options.id_column)
        if record_id:
            updates["metadata"] = {**record.metadata, "id": record_id}
            updates["locator"] = f"{record.locator} (id={record_id})"
    mentions = column_mentions(fields, options)
    links = [
        Link(source=mentions[rule.source], type=rule.type, target=mentions[rule.target])
        for rule in options.relations
        if rule.source in mentions and rule.target in mentions
    ]
    if mentions:
        updates["mentions"] = _unique([*record.mentions, *mentions.values()])
    if links:
        updates["links"] = _unique([*record.links, *links])
    return record._replace(**updates) if updates else record


def column_mentions(fields: "_FieldLookup", options: ParseOptions) -> dict[str, Mention]:
    """Column name -> the entity its non-empty cell declares."""
    mentions: dict[str, Mention] = {}
    for column, entity_type in options.entity_columns.items():
        value = fields.get(column)
        if value:
            mentions[column] = Mention(type=entity_type, name=value)
    return mentions


def validate_options(options: ParseOptions, schema: ExtractionSchema) -> list[str]:
    """What in the column options the extraction schema does not allow (empty when all is well)."""
    problems = [
        f"entity column {column!r}: unknown entity type {entity_type!r}"
        for column, entity_type in options.entity_columns.items()
        if entity_type not in schema.entity_types
    ]
    for rule in options.relations:
        label = f"relation {rule.source} -[{rule.type}]-> {rule.target}"
        missing = [c for c in (rule.source, rule.target) if c not in options.entity_columns]
        if missing:
            problems.append(f"{label}: columns {missing} are not entity columns")
        elif rule.type not in schema.relation_types:
            problems.append(f"{label}: unknown relation type {rule.type!r}")
        elif not schema.allows(options.entity_columns[rule.source], rule.type, options.entity_columns[rule.target]):
            source, target = options.entity_columns[rule.source], options.entity_columns[rule.target]
            problems.append(f"{label}: the schema does not allow {source} -[{rule.type}]-> {target}")
    return problems


class _FieldLookup:
    """Field values by column name: exact name first, then case-insensitively (headers vary in case)."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self._fields = fields
        self._folded = {name.casefold(): name for name in reversed(list(fields))}

    def name(self, column: str) -> str | None:
        return column if column in self._fields else self._folded.get(column.casefold())

    def get(self, column: str) -> str:
        name = self.name(column)
        return self._fields[name].strip() if name is not None else ""

    def pairs(self, columns: list[str]) -> list[tuple[str, str]]:
        return [(name, self._fields[name].strip()) for column in columns if (name := self.name(column)) is not None]


def _join(pairs: list[tuple[str, str]]) -> str:
    """'name: value; …' — the format every parser uses for records made of fields."""
    return "; ".join(f"{name}: {value}" for name, value in pairs if value)


_T = TypeVar("_T")


def _unique(items: list[_T]) -> list[_T]:
    return list(dict.fromkeys(items))
