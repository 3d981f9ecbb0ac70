"""The extract stage merges what the input declared (typed columns, an email's From) into what the extractor found."""

from shared.domain import Chunk, Entity, Extraction, Link, Mention, RecordEntry
from shared.domain.ids import entity_id, relation_id
from shared.extraction.schema import load_schema
from shared.pipeline.extract import merge_declared

SCHEMA = load_schema()
ADA = Mention(type="Person", name="Ada Lovelace")
ACME = Mention(type="Organization", name="Acme Labs")


def chunk(ordinal: int, mentions: list[Mention], links: list[Link]) -> Chunk:
    return Chunk(
        chunk_id=f"c{ordinal}",
        document_id="d",
        version="v",
        ordinal=ordinal,
        text="name: Ada Lovelace; company: Acme Labs",
        locator=f"row {ordinal + 2}",
        records=[RecordEntry(locator=f"row {ordinal + 2}", mentions=mentions, links=links)],
    )


def test_declared_mentions_and_links_become_entities_and_relations_with_deterministic_ids():
    works_for = Link(source=ADA, type="WORKS_FOR", target=ACME)
    merged = merge_declared(Extraction(), [chunk(0, [ADA, ACME], [works_for])], SCHEMA)
    ada, acme = entity_id("Person", "Ada Lovelace"), entity_id("Organization", "Acme Labs")
    assert {(e.entity_id, e.type, e.name, tuple(e.chunk_ids)) for e in merged.entities} == {
        (ada, "Person", "Ada Lovelace", ("c0",)),
        (acme, "Organization", "Acme Labs", ("c0",)),
    }
    [relation] = merged.relations
    assert (relation.relation_id, relation.source_id, relation.target_id) == (
        relation_id(ada, "WORKS_FOR", acme),
        ada,
        acme,
    )


def test_what_the_extractor_already_found_is_merged_not_duplicated():
    ada = entity_id("Person", "Ada Lovelace")
    found = Extraction(entities=[Entity(entity_id=ada, type="Person", name="Ada Lovelace", chunk_ids=["c0"])])
    merged = merge_declared(found, [chunk(0, [ADA], []), chunk(1, [ADA], [])], SCHEMA)
    assert [(e.entity_id, e.chunk_ids) for e in merged.entities] == [(ada, ["c0", "c1"])]


def test_triples_the_schema_does_not_allow_are_left_out():
    backwards = Link(source=ACME, type="WORKS_FOR", target=ADA)
    unknown = Link(source=ADA, type="ADMIRES", target=ACME)
    merged = merge_declared(Extraction(), [chunk(0, [], [backwards, unknown])], SCHEMA)
    assert merged.relations == []


def test_a_symmetric_relation_is_one_edge_whichever_way_it_was_declared():
    other = Mention(type="Organization", name="Globex Corporation")
    links = [
        Link(source=ACME, type="PARTNERS_WITH", target=other),
        Link(source=other, type="PARTNERS_WITH", target=ACME),
    ]
    merged = merge_declared(Extraction(), [chunk(0, [], links)], SCHEMA)
    assert len(merged.relations) == 1
    assert merged.relations[0].source_id < merged.relations[0].target_id
