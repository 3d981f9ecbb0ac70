"""The LLM extractor's answer schema keeps to what strict structured output accepts, for the packaged schema and for
one with many relation triples; the prompt names every type."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from shared.extraction.llm_prompt import MAX_TRIPLE_BRANCHES, answer_schema, system_prompt
from shared.extraction.schema import load_schema, parse_schema


def objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every object schema inside `node`."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from objects(value)


def assert_strict(schema: dict[str, Any]) -> None:
    found = list(objects(schema))
    for node in found:
        assert node["additionalProperties"] is False
        assert node["required"] == list(node["properties"])
    assert sum(len(node["properties"]) for node in found) <= 100


def test_the_packaged_schema_makes_a_strict_answer_schema_with_one_branch_per_allowed_triple() -> None:
    schema = load_schema()
    answer = answer_schema(schema)
    assert_strict(answer)
    branches = answer["properties"]["chunks"]["items"]["properties"]["relations"]["items"]["anyOf"]
    triples = {
        tuple(branch["properties"][key]["enum"][0] for key in ("source_type", "type", "target_type"))
        for branch in branches
    }
    assert triples == set(schema.allowed_triples)
    prompt = system_prompt(schema)
    assert all(name in prompt for name in (*schema.entity_types, *schema.relation_types))


def test_a_schema_with_many_triples_gets_one_relation_shape_within_the_property_cap() -> None:
    # GIVEN six entity types and a relation allowed between every ordered pair of them (36 triples)
    types = [f"Type{letter}" for letter in "ABCDEF"]
    schema = parse_schema(
        {
            "entity_types": {name: {"description": f"a {name}"} for name in types},
            "relation_types": {
                "LINKED_TO": {"description": "linked", "between": [f"{a} -> {b}" for a in types for b in types]}
            },
        }
    )
    assert len(schema.allowed_triples) > MAX_TRIPLE_BRANCHES
    # WHEN its answer schema is made THEN it is still strict and within the cap, relation types as enums
    answer = answer_schema(schema)
    assert_strict(answer)
    relation = answer["properties"]["chunks"]["items"]["properties"]["relations"]["items"]
    assert relation["properties"]["type"]["enum"] == ["LINKED_TO"]
    assert relation["properties"]["source_type"]["enum"] == types
