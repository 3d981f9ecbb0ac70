"""Co-occurrence relations: emitted only for a relation type the schema marks `cooccurrence`, only for the pairs
its `between` allows, and never where a trigger already linked the two names."""

import yaml

from shared.domain import Chunk
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import PACKAGED_SCHEMA, load_schema, parse_schema


def with_related_to() -> RuleBasedExtractor:
    data = yaml.safe_load(PACKAGED_SCHEMA.read_text(encoding="utf-8"))
    data["relation_types"]["RELATED_TO"] = {
        "description": "Named in one sentence.",
        "between": ["Person -> Organization", "Organization -> Place"],
        "cooccurrence": True,
    }
    return RuleBasedExtractor(parse_schema(data))


def relations(extractor: RuleBasedExtractor, *texts: str) -> dict[tuple[str, str, str], int]:
    chunks = [
        Chunk(chunk_id=f"c{n}", document_id="d", version="v", ordinal=n, text=text, locator=f"line {n}")
        for n, text in enumerate(texts)
    ]
    extraction = extractor.extract(chunks)
    names = {entity.entity_id: entity.name for entity in extraction.entities}
    return {(names[r.source_id], r.type, names[r.target_id]): len(r.chunk_ids) for r in extraction.relations}


def test_the_packaged_schema_declares_no_cooccurrence_relation():
    assert not any(relation.cooccurrence for relation in load_schema().relation_types.values())


def test_names_in_one_sentence_are_related_where_the_schema_allows_with_a_weight_per_chunk():
    # GIVEN a person, an organisation (suffix) and a place (gazetteer) in one sentence, twice, with no trigger
    extractor = with_related_to()
    text = "Dr Zoë Okafor and Brightwater Labs were both mentioned in Lisbon."
    found = relations(extractor, text, text)
    # THEN Person -> Organization and Organization -> Place, seen in two chunks; Person -> Place is not allowed
    assert found == {
        ("Zoë Okafor", "RELATED_TO", "Brightwater Labs"): 2,
        ("Brightwater Labs", "RELATED_TO", "Lisbon"): 2,
    }


def test_a_triggered_relation_replaces_the_cooccurrence_of_its_pair():
    found = relations(with_related_to(), "Dr Zoë Okafor works at Brightwater Labs.")
    assert found == {("Zoë Okafor", "WORKS_FOR", "Brightwater Labs"): 1}


def test_names_in_different_sentences_are_not_related():
    found = relations(with_related_to(), "Dr Zoë Okafor spoke first. Brightwater Labs replied.")
    assert found == {}
