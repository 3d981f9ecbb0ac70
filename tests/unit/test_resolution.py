"""Entity resolution within one batch (shared/extraction/resolution.py, matchkeys.py, similarity.py): which names
become one entity, on what evidence, and which near-misses stay apart. The graph-reading half runs against a real
FalkorDB in tests/functional/test_entity_resolution.py."""

from __future__ import annotations

import random

import pytest

from shared.domain import Chunk, Entity, Extraction, Relation
from shared.domain.ids import entity_id, relation_id
from shared.extraction.matchkeys import blocking_keys, match_key, name_rules
from shared.extraction.resolution import resolve
from shared.extraction.schema import load_schema
from shared.extraction.similarity import Evidence, needed

SCHEMA = load_schema(None)
RULES = name_rules(SCHEMA)


def chunk(text: str = "", ordinal: int = 0) -> Chunk:
    return Chunk(chunk_id=f"c{ordinal}", document_id="d", version="v", ordinal=ordinal, text=text, locator="line 1")


def entity(entity_type: str, name: str, chunk_id: str = "c0", aliases: tuple[str, ...] = ()) -> Entity:
    """An entity as an extractor makes it: keyed by today's `entity_id` of its surface name."""
    return Entity(
        entity_id=entity_id(entity_type, name), type=entity_type, name=name, aliases=list(aliases), chunk_ids=[chunk_id]
    )


def resolved(*entities: Entity, text: str = "", relations: tuple[Relation, ...] = ()) -> Extraction:
    return resolve(Extraction(entities=list(entities), relations=list(relations)), [chunk(text)], SCHEMA)


def names(extraction: Extraction) -> set[tuple[str, ...]]:
    """Each resolved entity as its name followed by its sorted aliases."""
    return {(e.name, *sorted(e.aliases)) for e in extraction.entities}


@pytest.mark.parametrize(
    ("entity_type", "name", "key"),
    [
        ("Organization", "Okapi Analytics Ltd", "okapi analytics"),
        ("Organization", "Okapi Analytics, Ltd.", "okapi analytics"),
        ("Organization", "OKAPI ANALYTICS", "okapi analytics"),
        ("Organization", "Nordlicht Robotics GmbH & Co. KG", "nordlicht robotics"),
        ("Organization", "The Coca-Cola Company", "coca cola"),
        ("Organization", "Banco do Brasil S.A.", "banco do brasil"),
        ("Organization", "Company", "company"),  # never folded down to nothing
        ("Person", "Dr. Zoë Okafor", "zoe okafor"),
        ("Person", "Prof Dr Jane O'Neil", "jane oneil"),
        ("Person", "Ltd Smith", "ltd smith"),  # legal forms are folded only where the type takes them
        ("Place", "Tromsø", "tromso"),
        ("Place", "São  Paulo", "sao paulo"),
    ],
)
def test_a_match_key_folds_what_never_tells_two_entities_apart(entity_type: str, name: str, key: str) -> None:
    assert match_key(name, RULES[entity_type]) == key


def test_blocking_keys_are_the_first_word_and_the_initial_with_the_last_word() -> None:
    assert blocking_keys("okapi analytics") == ("okapi", "o analytics")
    assert blocking_keys("john f smith") == ("john", "j smith")
    assert blocking_keys("lisbon") == ("lisbon",)
    assert blocking_keys("") == ()


def test_names_with_one_key_become_one_entity_keyed_on_it_whatever_their_order() -> None:
    # GIVEN three spellings of one company that differ only in case, punctuation and legal form
    spellings = [entity("Organization", n) for n in ("Okapi Analytics Ltd", "OKAPI ANALYTICS", "Okapi Analytics, Ltd.")]
    for order in range(3):
        shuffled = spellings[:]
        random.Random(order).shuffle(shuffled)
        # WHEN they are resolved, in any order
        [company] = resolved(*shuffled).entities
        # THEN one entity, whose id is made of the key alone, carries the other spellings as aliases
        assert company.entity_id == entity_id("Organization", "okapi analytics")
        assert {company.name, *company.aliases} == {e.name for e in spellings}
        assert company.blocks == ["okapi", "o analytics"]


def test_an_initial_joins_the_one_full_name_of_the_document() -> None:
    # GIVEN "J. Smith" and "John Smith" in one document (a batch is one document: that is the context)
    out = resolved(entity("Person", "John Smith"), entity("Person", "J. Smith", "c1"), entity("Person", "Dr. Ann Lee"))
    # THEN they are one person, named by the fuller name
    assert names(out) == {("John Smith", "J. Smith"), ("Dr. Ann Lee",)}
    assert {e.entity_id for e in out.entities} == {entity_id("Person", "john smith"), entity_id("Person", "ann lee")}


def test_an_initial_two_full_names_could_claim_joins_neither() -> None:
    # GIVEN "J. Smith" beside both "John Smith" and "Jane Smith"
    out = resolved(entity("Person", "John Smith"), entity("Person", "Jane Smith"), entity("Person", "J. Smith"))
    # THEN all three stay apart: a wrong merge is worse than a missed one
    assert names(out) == {("John Smith",), ("Jane Smith",), ("J. Smith",)}


def test_a_misspelt_first_name_needs_a_shared_email_domain_or_organisation() -> None:
    # GIVEN "Jon Smith" and "John Smith" in one document with nothing else in common
    apart = resolved(entity("Person", "John Smith"), entity("Person", "Jon Smith"))
    # THEN they stay apart (two real people are often one letter apart)
    assert len(apart.entities) == 2
    # WHEN the document also gives both an address at one domain
    text = "John Smith <john.smith@okapi.io> wrote to Jon Smith <jsmith@okapi.io>"
    joined = resolved(entity("Person", "John Smith"), entity("Person", "Jon Smith"), text=text)
    # THEN they are one person
    assert names(joined) == {("John Smith", "Jon Smith")}


def test_a_misspelt_name_with_a_shared_organisation_joins() -> None:
    john, jon, okapi = entity("Person", "John Smith"), entity("Person", "Jon Smith"), entity("Organization", "Okapi")
    works = tuple(
        Relation(relation_id=relation_id(p.entity_id, "WORKS_FOR", okapi.entity_id), source_id=p.entity_id,
                 type="WORKS_FOR", target_id=okapi.entity_id, chunk_ids=["c0"])
        for p in (john, jon)
    )  # fmt: skip
    out = resolved(john, jon, okapi, relations=works)
    assert names(out) == {("John Smith", "Jon Smith"), ("Okapi",)}
    # AND the two WORKS_FOR edges became one, between the resolved ids
    [works_for] = out.relations
    assert (works_for.source_id, works_for.target_id) == (
        entity_id("Person", "john smith"),
        entity_id("Organization", "okapi"),
    )
    assert works_for.relation_id == relation_id(works_for.source_id, "WORKS_FOR", works_for.target_id)


@pytest.mark.parametrize(
    ("entity_type", "a", "b"),
    [
        ("Place", "Gambia", "Zambia"),
        ("Place", "Columbia", "Colombia"),
        ("Place", "Austria", "Australia"),
        ("Place", "North Korea", "South Korea"),
        ("Place", "Iran", "Iraq"),
        ("Place", "Santa Maria", "Santa Marta"),
        ("Organization", "Acme Corp", "Acme Group"),
        ("Organization", "Okapi Fund II", "Okapi Fund III"),
        ("Organization", "Australian National University", "Austrian National University"),
        ("Organization", "Apple Inc.", "Apple Corps"),
        ("Person", "Maria Garcia", "Mario Garcia"),
        ("Person", "John Smith", "John Smyth"),
    ],
)
def test_near_misses_of_different_entities_stay_apart_in_one_document(entity_type: str, a: str, b: str) -> None:
    assert len(resolved(entity(entity_type, a), entity(entity_type, b)).entities) == 2


def test_a_one_letter_misspelling_of_a_long_word_merges_without_context() -> None:
    assert needed("okapi analytics", "okapi analytcs", personal=False) is Evidence.STRONG
    assert needed("nordlicht robotics", "nordlict robotics", personal=False) is Evidence.STRONG
    # but never in a one-word name, however long
    assert needed("colombia", "columbia", personal=False) is Evidence.NEVER
    # and a changed letter only with a shared organisation: it makes another real name too often
    assert needed("santa maria", "santa marta", personal=False) is Evidence.CORROBORATED


def test_relations_follow_their_ends_and_a_relation_within_one_entity_goes() -> None:
    # GIVEN two spellings of one company PARTNERS_WITH each other, and with a third (written the "wrong" way round)
    a, b, c = (entity("Organization", n) for n in ("Okapi Analytics Ltd", "Okapi Analytics", "Zebra Labs"))

    def partners(x: Entity, y: Entity) -> Relation:
        return Relation(
            relation_id=relation_id(x.entity_id, "PARTNERS_WITH", y.entity_id),
            source_id=x.entity_id,
            type="PARTNERS_WITH",
            target_id=y.entity_id,
            chunk_ids=["c0"],
        )

    out = resolved(a, b, c, relations=(partners(a, b), partners(c, a), partners(b, c)))
    # THEN the self-relation is gone and the two others are one symmetric edge, its ends in id order
    okapi, zebra = entity_id("Organization", "okapi analytics"), entity_id("Organization", "zebra labs")
    [edge] = out.relations
    assert (edge.source_id, edge.target_id) == tuple(sorted((okapi, zebra)))


def test_entities_of_an_unknown_type_pass_through_untouched() -> None:
    odd = entity("Gadget", "Widget 3000")
    assert resolved(odd).entities == [odd]


MIXED = [
    ("Person", "John Smith"), ("Person", "J. Smith"), ("Person", "Dr. Zoë Okafor"), ("Person", "Zoe Okafor"),
    ("Person", "Jane Doe"), ("Organization", "Okapi Analytics Ltd"), ("Organization", "OKAPI ANALYTICS"),
    ("Organization", "Okapi Analytcs"), ("Organization", "Okapi Analytics Group"), ("Place", "São Paulo"),
    ("Place", "Sao Paulo"), ("Place", "Gambia"), ("Place", "Zambia"),
]  # fmt: skip


def partition(extraction: Extraction) -> set[tuple[str, frozenset[str]]]:
    """Each resolved id with every spelling it holds."""
    return {(e.entity_id, frozenset([e.name, *e.aliases])) for e in extraction.entities}


def test_resolution_does_not_depend_on_the_order_names_come_in_and_is_a_fixed_point() -> None:
    # GIVEN a batch mixing spellings of a few entities and some near misses
    reference = partition(resolved(*(entity(t, n) for t, n in MIXED)))
    assert len(reference) == 8
    for seed in range(5):
        # WHEN the extractor lists them in another order THEN the same ids hold the same spellings
        shuffled = MIXED[:]
        random.Random(seed).shuffle(shuffled)
        assert partition(resolved(*(entity(t, n) for t, n in shuffled))) == reference
    # AND resolving the result again changes nothing
    once = resolved(*(entity(t, n) for t, n in MIXED))
    assert partition(resolve(once, [chunk()], SCHEMA)) == reference
