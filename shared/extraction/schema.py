"""The extraction schema (DESIGN.md §5): entity and relation types, allowed triples, and the rule cues."""

import hashlib
import json
import re
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.domain import PermanentError, Reason
from shared.extraction.lexicons import LEXICONS

PACKAGED_SCHEMA = Path(__file__).with_name("schema.yaml")

ENTITY_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z0-9_]*$")
RELATION_TYPE_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
ROLE_PLACEHOLDER = "{role}"
NAME_PLACEHOLDER = "{name}"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LexiconCues(_Spec):
    """Packaged name lists (shared/extraction/lexicons.py) that mark a mention of one type (see schema.yaml)."""

    known: tuple[str, ...] = ()
    known_in_context: tuple[str, ...] = ()
    first_words: tuple[str, ...] = ()
    last_words: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()

    @field_validator("known", "known_in_context", "first_words", "last_words", "suffixes")
    @classmethod
    def _known_lists(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(names) - set(LEXICONS))
        if unknown:
            raise ValueError(f"unknown lexicon(s) {unknown}; known: {sorted(LEXICONS)}")
        return names


class EntityCues(_Spec):
    """How the rule-based extractor recognises a mention of one entity type (see schema.yaml)."""

    honorifics: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    gazetteer: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    lexicons: LexiconCues = LexiconCues()
    acronyms: bool = False
    speech_verbs: tuple[str, ...] = ()
    ner_labels: tuple[str, ...] = ()  # a statistical model's labels for the type (TRIBUTARY_EXTRACTOR=spacy)
    surname_aliases: bool = False
    max_tokens: int = Field(default=4, ge=1, le=8)
    score_teams: bool = False  # a place or untyped name before a score in a results line is a team of this type

    @field_validator("patterns")
    @classmethod
    def _one_name_slot(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            if pattern.count(NAME_PLACEHOLDER) != 1:
                raise ValueError(f"pattern {pattern!r} must contain {NAME_PLACEHOLDER} exactly once")
        return patterns


class EntityType(_Spec):
    description: str = Field(min_length=1)
    cues: EntityCues = EntityCues()


class Endpoints(_Spec):
    """An allowed (source type, target type) pair; YAML may write it as "Person -> Organization"."""

    source: str
    target: str

    @model_validator(mode="before")
    @classmethod
    def _from_arrow(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parts = [part.strip() for part in value.split("->")]
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{value!r} is not of the form 'Source -> Target'")
        return {"source": parts[0], "target": parts[1]}


class RelationType(_Spec):
    description: str = Field(min_length=1)
    between: tuple[Endpoints, ...] = Field(min_length=1)
    symmetric: bool = False
    # The rule extractor also emits it between two typed mentions of one sentence that no trigger linked; its
    # weight is the number of chunks it was seen in (the relation's chunk_ids).
    cooccurrence: bool = False
    triggers: tuple[str, ...] = ()
    inverse_triggers: tuple[str, ...] = ()

    @field_validator("triggers", "inverse_triggers")
    @classmethod
    def _plain_phrases(cls, phrases: tuple[str, ...]) -> tuple[str, ...]:
        for phrase in phrases:
            if not phrase.replace(ROLE_PLACEHOLDER, "x").strip():
                raise ValueError("a trigger phrase must not be blank")
            if "{" in phrase.replace(ROLE_PLACEHOLDER, ""):
                raise ValueError(f"trigger {phrase!r}: only the {ROLE_PLACEHOLDER} placeholder is known")
        return phrases

    @model_validator(mode="after")
    def _symmetric_pairs_are_homogeneous(self) -> "RelationType":
        # Symmetric relations are stored in one direction (ordered by id), which only makes sense when
        # both ends have the same type.
        if self.symmetric and any(pair.source != pair.target for pair in self.between):
            raise ValueError("a symmetric relation may only join entities of the same type")
        return self


class TextRules(_Spec):
    stopwords: tuple[str, ...] = ()
    abbreviations: tuple[str, ...] = ()
    name_particles: tuple[str, ...] = ()
    head_joiners: tuple[str, ...] = ()
    pronouns: tuple[str, ...] = ()
    locatives: tuple[str, ...] = ()
    max_words_after_trigger: int = Field(default=3, ge=0, le=10)


class ColumnRole(_Spec):
    type: str
    headers: tuple[str, ...] = Field(min_length=1)


class ColumnRelation(_Spec):
    source: str
    type: str
    target: str
    unless: tuple[str, ...] = ()


def normalise_header(header: str) -> str:
    """Column header as matched against `columns`: case-folded, spaces and hyphens as underscores."""
    return re.sub(r"[\s-]+", "_", header.strip().casefold())


class ExtractionSchema(_Spec):
    """Entity and relation types with their allowed triples, plus the rule-based extractor's configuration."""

    version: int = 1
    entity_types: dict[str, EntityType] = Field(min_length=1)
    relation_types: dict[str, RelationType] = Field(default_factory=dict)
    text: TextRules = TextRules()
    columns: dict[str, ColumnRole] = Field(default_factory=dict)
    column_relations: tuple[ColumnRelation, ...] = ()

    @field_validator("entity_types")
    @classmethod
    def _entity_type_names(cls, types: dict[str, EntityType]) -> dict[str, EntityType]:
        bad = [name for name in types if not ENTITY_TYPE_NAME.match(name)]
        if bad:
            raise ValueError(f"entity type names must match {ENTITY_TYPE_NAME.pattern}: {bad}")
        return types

    @field_validator("relation_types")
    @classmethod
    def _relation_type_names(cls, types: dict[str, RelationType]) -> dict[str, RelationType]:
        bad = [name for name in types if not RELATION_TYPE_NAME.match(name)]
        if bad:
            raise ValueError(f"relation type names must match {RELATION_TYPE_NAME.pattern}: {bad}")
        return types

    @model_validator(mode="after")
    def _references_are_declared(self) -> "ExtractionSchema":
        problems = [
            *self._undeclared_endpoint_types(),
            *self._undeclared_column_types(),
            *self._duplicate_headers(),
            *self._bad_column_relations(),
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _undeclared_endpoint_types(self) -> list[str]:
        return [
            f"relation {name}: unknown entity type {end!r}"
            for name, relation in self.relation_types.items()
            for pair in relation.between
            for end in (pair.source, pair.target)
            if end not in self.entity_types
        ]

    def _undeclared_column_types(self) -> list[str]:
        return [
            f"column role {role}: unknown entity type {column.type!r}"
            for role, column in self.columns.items()
            if column.type not in self.entity_types
        ]

    def _duplicate_headers(self) -> list[str]:
        seen: dict[str, str] = {}
        problems = []
        for role, column in self.columns.items():
            for header in map(normalise_header, column.headers):
                if header in seen and seen[header] != role:
                    problems.append(f"column header {header!r} is in both {seen[header]} and {role}")
                seen[header] = role
        return problems

    def _bad_column_relations(self) -> list[str]:
        problems = []
        for rule in self.column_relations:
            label = f"column relation {rule.source} {rule.type} {rule.target}"
            unknown_roles = [r for r in (rule.source, rule.target, *rule.unless) if r not in self.columns]
            if unknown_roles:
                problems.append(f"{label}: unknown column roles {unknown_roles}")
            elif rule.type not in self.relation_types:
                problems.append(f"{label}: unknown relation type")
            elif not self.allows(self.columns[rule.source].type, rule.type, self.columns[rule.target].type):
                problems.append(f"{label}: the schema does not allow this triple")
        return problems

    @cached_property
    def allowed_triples(self) -> frozenset[tuple[str, str, str]]:
        """Every (source type, relation type, target type) the schema allows."""
        return frozenset(
            (pair.source, name, pair.target)
            for name, relation in self.relation_types.items()
            for pair in relation.between
        )

    def allows(self, source_type: str, relation_type: str, target_type: str) -> bool:
        """Whether a relation of this type may join entities of these types."""
        return (source_type, relation_type, target_type) in self.allowed_triples

    @cached_property
    def schema_hash(self) -> str:
        """sha256 of the canonical JSON form: equal schemas hash equal however the YAML was written."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_schema(data: Mapping[str, Any]) -> ExtractionSchema:
    """Validate an already-parsed schema document."""
    try:
        return ExtractionSchema.model_validate(data)
    except ValidationError as error:
        raise PermanentError(Reason.EXTRACTION_SCHEMA_INVALID, _describe(error)) from error


def load_schema(path: Path | None = None) -> ExtractionSchema:
    """Load and validate a schema YAML file; None loads the schema packaged with Tributary."""
    source = Path(path) if path is not None else PACKAGED_SCHEMA
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise PermanentError(Reason.EXTRACTION_SCHEMA_INVALID, f"{source}: {error}") from error
    if not isinstance(data, Mapping):
        raise PermanentError(Reason.EXTRACTION_SCHEMA_INVALID, f"{source}: the document must be a mapping")
    return parse_schema(data)


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or '<schema>'}: {item['msg']}" for item in error.errors()
    )
