"""The extraction schema: the packaged YAML loads and validates; a broken user schema fails with a reason code."""

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.domain import PermanentError, Reason
from shared.extraction.schema import (
    PACKAGED_SCHEMA,
    ExtractionSchema,
    load_schema,
    parse_schema,
)

EXPECTED_RELATIONS = {
    "WORKS_FOR",
    "LEADS",
    "MEMBER_OF",
    "LOCATED_IN",
    "BASED_IN",
    "PARTNERS_WITH",
    "FUNDS",
    "REPORTS_TO",
}


def minimal_schema() -> dict[str, Any]:
    """A small valid schema document that each test breaks in one way."""
    return {
        "entity_types": {
            "Person": {"description": "A human being."},
            "Organization": {"description": "A company or institution."},
        },
        "relation_types": {
            "WORKS_FOR": {"description": "Employment.", "between": ["Person -> Organization"]},
        },
        "columns": {
            "person": {"type": "Person", "headers": ["name"]},
            "company": {"type": "Organization", "headers": ["company"]},
        },
        "column_relations": [{"source": "person", "type": "WORKS_FOR", "target": "company"}],
    }


def write_schema(tmp_path: Path, data: Any, name: str = "schema.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def invalid_reason(tmp_path: Path, data: Any) -> PermanentError:
    with pytest.raises(PermanentError) as raised:
        load_schema(write_schema(tmp_path, data))
    return raised.value


# --- the packaged schema --------------------------------------------------------------------------------------


def test_packaged_schema_declares_the_four_entity_types_with_descriptions() -> None:
    # GIVEN the schema shipped next to the extractor
    # WHEN it is loaded without a path
    schema = load_schema()

    # THEN it declares Person, Organization, Place and Project, each described
    assert set(schema.entity_types) == {"Person", "Organization", "Place", "Project"}
    assert all(spec.description.strip() for spec in schema.entity_types.values())


def test_packaged_schema_declares_the_relation_types_with_declared_endpoints() -> None:
    # GIVEN the packaged schema
    schema = load_schema()

    # THEN every expected relation type is there, with graph-label-safe names and declared endpoint types
    assert set(schema.relation_types) >= EXPECTED_RELATIONS
    for name, relation in schema.relation_types.items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name)
        assert relation.triggers or relation.inverse_triggers or relation.cooccurrence, f"{name}: no way to find it"
        for pair in relation.between:
            assert {pair.source, pair.target} <= set(schema.entity_types)
    for name in schema.entity_types:
        assert re.fullmatch(r"[A-Z][A-Za-z0-9_]*", name)


def test_packaged_schema_allows_the_designed_triples_and_only_in_their_direction() -> None:
    schema = load_schema()

    assert schema.allows("Person", "WORKS_FOR", "Organization")
    assert schema.allows("Person", "MEMBER_OF", "Project")
    assert schema.allows("Project", "LOCATED_IN", "Place")
    assert schema.allows("Organization", "FUNDS", "Project")
    assert not schema.allows("Organization", "WORKS_FOR", "Person")
    assert not schema.allows("Place", "LOCATED_IN", "Organization")
    assert not schema.allows("Person", "FUNDS", "Project")


def test_packaged_schema_configures_the_rule_cues_and_table_columns() -> None:
    schema = load_schema()

    cues = schema.entity_types
    assert "Dr" in cues["Person"].cues.honorifics
    assert {"Inc", "Ltd", "GmbH", "Labs", "University", "Foundation", "Institute"} <= set(
        cues["Organization"].cues.suffixes
    )
    assert "São Paulo" in cues["Place"].cues.gazetteer
    assert "Project" in cues["Project"].cues.heads
    assert any("{name} initiative" in pattern for pattern in cues["Project"].cues.patterns)
    headers = {header: role for role, column in schema.columns.items() for header in column.headers}
    for header in ("name", "person", "employee", "manager", "company", "organization", "city", "location", "project"):
        assert header in headers, header
    # The quoted YAML 1.1 booleans stayed words.
    assert "On" in schema.text.stopwords
    assert "No" in schema.text.abbreviations


# --- the schema hash ------------------------------------------------------------------------------------------


def test_schema_hash_is_stable_across_loads_and_yaml_layout(tmp_path: Path) -> None:
    # GIVEN the packaged schema and the same document re-written as JSON with its keys reordered
    packaged = load_schema()
    data = yaml.safe_load(PACKAGED_SCHEMA.read_text(encoding="utf-8"))
    reordered = dict(reversed(list(data.items())))
    rewritten = tmp_path / "schema.json.yaml"
    rewritten.write_text(json.dumps(reordered, ensure_ascii=False), encoding="utf-8")

    # WHEN both are loaded
    again = load_schema(rewritten)

    # THEN they hash the same: a 64-hex sha256 of the canonical form
    assert re.fullmatch(r"[0-9a-f]{64}", packaged.schema_hash)
    assert again.schema_hash == packaged.schema_hash == load_schema(PACKAGED_SCHEMA).schema_hash


def test_schema_hash_changes_when_the_schema_changes() -> None:
    # GIVEN two schemas differing in one description
    base = minimal_schema()
    changed = copy.deepcopy(base)
    changed["entity_types"]["Person"]["description"] = "A named human being."

    # THEN their hashes differ
    assert parse_schema(base).schema_hash != parse_schema(changed).schema_hash


def test_endpoint_pairs_accept_the_arrow_and_the_mapping_form() -> None:
    arrow = minimal_schema()
    mapping = copy.deepcopy(arrow)
    mapping["relation_types"]["WORKS_FOR"]["between"] = [{"source": "Person", "target": "Organization"}]

    assert parse_schema(arrow) == parse_schema(mapping)
    assert parse_schema(arrow).schema_hash == parse_schema(mapping).schema_hash


# --- invalid schemas ------------------------------------------------------------------------------------------


def test_unknown_entity_type_in_a_triple_is_refused_with_the_reason_code(tmp_path: Path) -> None:
    # GIVEN a relation whose target type is not declared
    data = minimal_schema()
    data["relation_types"]["WORKS_FOR"]["between"] = ["Person -> Company"]

    # WHEN it is loaded
    error = invalid_reason(tmp_path, data)

    # THEN it fails permanently with the searchable reason, naming the culprit
    assert error.reason_code == Reason.EXTRACTION_SCHEMA_INVALID == "extraction.schema_invalid"
    assert "Company" in error.detail


@pytest.mark.parametrize("bad_name", ["person", "Per son", "1Person", "Person-Type", ""])
def test_bad_entity_type_names_are_refused(tmp_path: Path, bad_name: str) -> None:
    data = minimal_schema()
    data["entity_types"][bad_name] = {"description": "Oops."}

    error = invalid_reason(tmp_path, data)

    assert error.reason_code == Reason.EXTRACTION_SCHEMA_INVALID
    assert "entity type names" in error.detail


@pytest.mark.parametrize("bad_name", ["WorksFor", "works_for", "WORKS-FOR", "_WORKS", "WORKS FOR"])
def test_bad_relation_type_names_are_refused(tmp_path: Path, bad_name: str) -> None:
    data = minimal_schema()
    data["relation_types"][bad_name] = {"description": "Oops.", "between": ["Person -> Organization"]}

    error = invalid_reason(tmp_path, data)

    assert error.reason_code == Reason.EXTRACTION_SCHEMA_INVALID
    assert "relation type names" in error.detail


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        pytest.param(
            lambda d: d["relation_types"]["WORKS_FOR"].update(between=["Person Organization"]),
            "Source -> Target",
            id="arrow-missing",
        ),
        pytest.param(
            lambda d: d["relation_types"]["WORKS_FOR"].update(between=[]),
            "between",
            id="no-endpoints",
        ),
        pytest.param(
            lambda d: d["column_relations"].append({"source": "company", "type": "WORKS_FOR", "target": "person"}),
            "does not allow",
            id="column-triple-not-allowed",
        ),
        pytest.param(
            lambda d: d["columns"].update(city={"type": "Place", "headers": ["city"]}),
            "Place",
            id="column-unknown-type",
        ),
        pytest.param(
            lambda d: d["columns"]["company"].update(headers=["name"]),
            "'name'",
            id="header-in-two-roles",
        ),
        pytest.param(
            lambda d: d["column_relations"].append({"source": "person", "type": "KNOWS", "target": "company"}),
            "unknown relation type",
            id="column-unknown-relation",
        ),
        pytest.param(
            lambda d: d["relation_types"]["WORKS_FOR"].update(symmetric=True),
            "symmetric",
            id="symmetric-across-types",
        ),
        pytest.param(
            lambda d: d["entity_types"]["Person"].update(cues={"patterns": ["the initiative"]}),
            "{name}",
            id="pattern-without-name",
        ),
        pytest.param(
            lambda d: d["relation_types"]["WORKS_FOR"].update(triggers=["{verb} at"]),
            "{role}",
            id="unknown-placeholder",
        ),
        pytest.param(lambda d: d.update(entity_types={}), "entity_types", id="no-entity-types"),
        pytest.param(lambda d: d.update(colour="blue"), "colour", id="unknown-key"),
        pytest.param(
            lambda d: d["entity_types"]["Person"].update(cues={"honorifics": [True]}),
            "honorifics",
            id="yaml-boolean-in-a-word-list",
        ),
    ],
)
def test_structural_errors_are_refused_with_the_reason_code(tmp_path: Path, mutate: Any, expected: str) -> None:
    # GIVEN a schema broken in one way
    data = minimal_schema()
    mutate(data)

    # WHEN it is loaded
    error = invalid_reason(tmp_path, data)

    # THEN the reason code is the schema one and the detail points at the problem
    assert error.reason_code == Reason.EXTRACTION_SCHEMA_INVALID
    assert expected in error.detail


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("entity_types: [unclosed", id="malformed-yaml"),
        pytest.param("- Person\n- Organization\n", id="not-a-mapping"),
        pytest.param("", id="empty"),
    ],
)
def test_unparseable_documents_are_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(PermanentError) as raised:
        load_schema(path)

    assert raised.value.reason_code == Reason.EXTRACTION_SCHEMA_INVALID


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PermanentError) as raised:
        load_schema(tmp_path / "absent.yaml")

    assert raised.value.reason_code == Reason.EXTRACTION_SCHEMA_INVALID
    assert "absent.yaml" in raised.value.detail


def test_a_valid_user_schema_loads(tmp_path: Path) -> None:
    # GIVEN a small user schema on disk
    path = write_schema(tmp_path, minimal_schema())

    # WHEN it is loaded
    schema = load_schema(path)

    # THEN it is an ExtractionSchema with exactly its one triple
    assert isinstance(schema, ExtractionSchema)
    assert schema.allowed_triples == frozenset({("Person", "WORKS_FOR", "Organization")})
