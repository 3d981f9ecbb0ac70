"""What the LLM extractor asks and how it reads the answer: the prompt (versioned), the JSON schema of a structured
answer made from the extraction schema, and the check of an answer against that schema.

The JSON schema holds the model to the types: entity types are an enum (their descriptions in the prompt and on
the field), and a relation is one of the schema's allowed (source type, relation, target type) triples, each a
branch of an `anyOf`. Strict structured output makes the service keep to it; the check below still reads every
answer as untrusted (a model without strict mode, a stand-in, a schema edited since), drops and counts what is
outside the schema, and keeps a relation only when both its ends are among the chunk's entities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.domain import Reason, TransientError
from shared.domain.ids import canonical_name, entity_id
from shared.extraction.names import clean_name, title_words
from shared.extraction.schema import ExtractionSchema

# Bump on any change to the prompt or the answer's schema shape: it is part of the response cache's key.
PROMPT_VERSION = "extract-2"
SCHEMA_NAME = "graph_extraction"
# Strict structured output takes at most 100 object properties in a schema (Azure OpenAI, "Structured outputs",
# supported schemas and limitations); a triple branch holds 5, and the rest of the answer 6.
MAX_TRIPLE_BRANCHES = 18

_INSTRUCTIONS = """\
You extract a knowledge graph from text. You get JSON holding numbered chunks of text. For each chunk, list the
named entities the chunk itself mentions and the relations the chunk itself states between them.

Rules:
- Only the entity types and relation types listed below, with the (source -> target) pairs each relation allows.
- An entity's name is written as in the text, without titles or honorifics ("Dr", "Ms") and without a trailing
  possessive; one entry per entity per chunk, under its fullest name in that chunk.
- A relation's source and target are names of entities you listed for the same chunk, with their types.
- Leave out pronouns, generic nouns ("the company"), dates, amounts and anything the chunk does not state.
- Answer one item per chunk, with the chunk's number; a chunk that names nothing gets empty lists."""


class _Entity(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    type: str


class _Relation(BaseModel):
    model_config = ConfigDict(extra="ignore")

    source: str
    source_type: str = ""
    type: str
    target: str
    target_type: str = ""


class _ChunkAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    chunk: int
    entities: list[_Entity] = Field(default_factory=list)
    relations: list[_Relation] = Field(default_factory=list)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    chunks: list[_ChunkAnswer]


class ChunkFacts(BaseModel):
    """What the model found in one chunk, checked against the schema, as names (ids and provenance are the
    document's: `to_extraction`). It is what the response cache keeps per chunk text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entities: list[tuple[str, str]] = Field(default_factory=list)  # (type, name)
    relations: list[tuple[str, str, str, str, str]] = Field(default_factory=list)  # (s type, s name, rel, t type, t)
    dropped: int = 0  # entities and relations of the answer left out


def system_prompt(schema: ExtractionSchema) -> str:
    """The instructions with the schema's types and allowed triples."""
    lines = [_INSTRUCTIONS, "", "Entity types:"]
    lines += [f"- {name}: {spec.description}" for name, spec in schema.entity_types.items()]
    if schema.relation_types:
        lines += ["", "Relation types (allowed source -> target pairs):"]
        for name, relation in schema.relation_types.items():
            pairs = ", ".join(f"{pair.source} -> {pair.target}" for pair in relation.between)
            lines.append(f"- {name} ({pairs}): {relation.description}")
    return "\n".join(lines)


def user_prompt(texts: Sequence[str]) -> str:
    """The chunks, numbered from 0, as JSON (unambiguous whatever the text holds)."""
    chunks = [{"chunk": number, "text": text} for number, text in enumerate(texts)]
    return json.dumps({"chunks": chunks}, ensure_ascii=False)


def answer_schema(schema: ExtractionSchema) -> dict[str, Any]:
    """The JSON schema of an answer (strict structured output: every property required, nothing else allowed)."""
    described = "; ".join(f"{name}: {spec.description}" for name, spec in schema.entity_types.items())
    entity = _object(
        {
            "name": {"type": "string", "description": "the name as written in the chunk, without titles"},
            "type": {"type": "string", "enum": list(schema.entity_types), "description": described},
        }
    )
    item: dict[str, Any] = {
        "chunk": {"type": "integer", "description": "the chunk's number"},
        "entities": {"type": "array", "items": entity},
    }
    # No descriptions in the branches: the prompt describes each relation once, and the schema counts into every
    # request's prompt tokens.
    triples = [
        _object(
            {
                "source": {"type": "string"},
                "source_type": {"type": "string", "enum": [pair.source]},
                "type": {"type": "string", "enum": [name]},
                "target": {"type": "string"},
                "target_type": {"type": "string", "enum": [pair.target]},
            }
        )
        for name, relation in schema.relation_types.items()
        for pair in relation.between
    ]
    if len(triples) > MAX_TRIPLE_BRANCHES:
        # Past the service's cap on properties per schema, one relation shape with the types as enums: the
        # prompt lists the allowed pairs and the check below drops a triple the schema does not allow.
        item["relations"] = {"type": "array", "items": _object(_relation_fields(schema))}
    elif triples:
        item["relations"] = {"type": "array", "items": {"anyOf": triples}}
    return _object({"chunks": {"type": "array", "items": _object(item)}})


def _relation_fields(schema: ExtractionSchema) -> dict[str, Any]:
    types = list(schema.entity_types)
    return {
        "source": {"type": "string", "description": "name of an entity of the chunk"},
        "source_type": {"type": "string", "enum": types},
        "type": {"type": "string", "enum": list(schema.relation_types)},
        "target": {"type": "string", "description": "name of an entity of the chunk"},
        "target_type": {"type": "string", "enum": types},
    }


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def read_answer(content: dict[str, Any], texts: Sequence[str], schema: ExtractionSchema) -> list[ChunkFacts]:
    """Each chunk's checked facts, in the order of `texts`. An answer not of the asked shape is `llm.bad_response`;
    a chunk the answer leaves out found nothing; an item for a chunk that was not asked is dropped."""
    try:
        answer = _Answer.model_validate(content)
    except ValidationError as error:
        raise TransientError(Reason.LLM_BAD_RESPONSE, f"the answer is not of the asked shape: {error}") from error
    by_chunk: dict[int, list[_ChunkAnswer]] = {}
    stray = 0
    for item in answer.chunks:
        if 0 <= item.chunk < len(texts):
            by_chunk.setdefault(item.chunk, []).append(item)
        else:
            stray += len(item.entities) + len(item.relations)
    facts = [check_chunk(by_chunk.get(number, []), text, schema) for number, text in enumerate(texts)]
    if stray and facts:
        facts[0] = facts[0].model_copy(update={"dropped": facts[0].dropped + stray})
    return facts


def check_chunk(items: Sequence[_ChunkAnswer], text: str, schema: ExtractionSchema) -> ChunkFacts:
    """The chunk's entities and relations that the schema allows and the text bears out; the rest counted."""
    titles = _titles(schema)
    grounded_text = canonical_name(text)
    entities: dict[str, tuple[str, str]] = {}  # entity id -> (type, name)
    by_name: dict[str, dict[str, str]] = {}  # canonical name -> type -> entity id
    dropped = 0
    for entity in (entity for item in items for entity in item.entities):
        name = clean_name(entity.name, entity.type, titles) if entity.type in schema.entity_types else None
        if name is None or canonical_name(name) not in grounded_text:  # outside the schema, or not in the text
            dropped += 1
            continue
        key = entity_id(entity.type, name)
        entities.setdefault(key, (entity.type, name))
        by_name.setdefault(canonical_name(name), {}).setdefault(entity.type, key)
    relations: dict[tuple[str, str, str], tuple[str, str, str, str, str]] = {}
    for relation in (relation for item in items for relation in item.relations):
        source = _end(by_name, relation.source, relation.source_type, titles)
        target = _end(by_name, relation.target, relation.target_type, titles)
        if source is None or target is None or source == target:
            dropped += 1
            continue
        (source_type, source_name), (target_type, target_name) = entities[source], entities[target]
        if not schema.allows(source_type, relation.type, target_type):
            dropped += 1
            continue
        relations.setdefault(
            (source, relation.type, target), (source_type, source_name, relation.type, target_type, target_name)
        )
    return ChunkFacts(entities=list(entities.values()), relations=list(relations.values()), dropped=dropped)


def _end(by_name: dict[str, dict[str, str]], name: str, type_: str, titles: dict[str, str]) -> str | None:
    """The id of the chunk's entity a relation's end names (by its type when given, else the only one)."""
    cleaned = clean_name(name, type_, titles) if type_ else name
    types = by_name.get(canonical_name(cleaned or name), {})
    if type_:
        return types.get(type_)
    return next(iter(types.values())) if len(types) == 1 else None


_TITLES: dict[str, dict[str, str]] = {}  # schema hash -> its title words: a schema is fixed for a worker's life


def _titles(schema: ExtractionSchema) -> dict[str, str]:
    found = _TITLES.get(schema.schema_hash)
    if found is None:
        found = _TITLES[schema.schema_hash] = title_words(schema)
    return found
