"""Co-occurrence relations: emitted only for a relation type the schema marks `cooccurrence`, only for the pairs
its `between` allows, and never where a trigger already linked the two names; the weight is the number of chunks."""

import yaml

from shared.domain import Chunk, Extraction
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


def test_the_packaged_schema_relates_names_of_different_types_by_cooccurrence():
    # GIVEN the packaged schema WHEN its co-occurrence relations are read
    cooccurring = {name: r for name, r in load_schema().relation_types.items() if r.cooccurrence}
    # THEN RELATED_TO is the one, without triggers, and only between two different types
    assert list(cooccurring) == ["RELATED_TO"]
    related = cooccurring["RELATED_TO"]
    assert not related.triggers
    assert not related.inverse_triggers
    assert related.between
    assert all(pair.source != pair.target for pair in related.between)


def test_the_packaged_extractor_relates_a_sentences_names_and_weighs_by_chunks_not_sentences():
    # GIVEN the packaged schema and two chunks: the first names the pair in two sentences, the second once
    extractor = RuleBasedExtractor(load_schema())
    twice = "Dr Zoë Okafor visited Brightwater Labs. Later Dr Zoë Okafor praised Brightwater Labs."
    found = relations(extractor, twice, "Dr Zoë Okafor thanked Brightwater Labs.")
    # THEN the pair is related once, with the weight of the two chunks
    assert found == {("Zoë Okafor", "RELATED_TO", "Brightwater Labs"): 2}


def test_a_redelivered_batch_gives_the_same_relation_ids_and_weights():
    # GIVEN a batch with co-occurring names in several chunks
    extractor = RuleBasedExtractor(load_schema())
    texts = ["Dr Zoë Okafor met Brightwater Labs in Lisbon.", "Brightwater Labs opened in Lisbon.", "Lisbon slept."]
    chunks = [
        Chunk(chunk_id=f"c{n}", document_id="d", version="v", ordinal=n, text=text, locator=f"line {n}")
        for n, text in enumerate(texts)
    ]
    # WHEN it is extracted twice (a redelivery, with a fresh extractor as another worker would)
    first = extractor.extract(chunks)
    again = RuleBasedExtractor(load_schema()).extract(chunks)

    # THEN the relations are the same ids with the same chunks, so the same weights
    def weights(extraction: Extraction) -> dict[str, list[str]]:
        return {relation.relation_id: relation.chunk_ids for relation in extraction.relations}

    assert weights(first) == weights(again)
    assert sorted(len(chunk_ids) for chunk_ids in weights(first).values()) == [1, 1, 2]


def test_two_ends_of_one_type_make_one_edge_whichever_is_named_first():
    # GIVEN a schema relating organisations by co-occurrence (one type at both ends, not symmetric)
    data = yaml.safe_load(PACKAGED_SCHEMA.read_text(encoding="utf-8"))
    data["relation_types"]["RELATED_TO"] = {
        "description": "Named in one sentence.",
        "between": ["Organization -> Organization"],
        "cooccurrence": True,
    }
    extractor = RuleBasedExtractor(parse_schema(data))
    # WHEN two chunks name the pair in opposite orders
    found = relations(
        extractor, "Brightwater Labs and Coral Ledger Inc met.", "Coral Ledger Inc and Brightwater Labs met."
    )
    # THEN one edge (its ends in entity-id order), supported by both chunks
    assert found == {("Brightwater Labs", "RELATED_TO", "Coral Ledger Inc"): 2}


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
