"""The rule-based extractor: typed entities and schema-allowed relations from text and table rows."""

import hashlib
import io
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.domain import Chunk, DocumentRef, Extraction, Link, Mention, Record, RecordEntry, Relation
from shared.domain.ids import chunk_id, document_id, entity_id, relation_id
from shared.extraction.rules import EVIDENCE_LIMIT, RuleBasedExtractor, split_sentences
from shared.extraction.schema import ExtractionSchema, load_schema, parse_schema
from shared.parsing import SNIFF_BYTES, ParseLimits, parse, sniff
from shared.pipeline.chunking import ChunkSettings, chunk_records
from shared.pipeline.extract import merge_declared
from shared.ports import Extractor

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

Triple = tuple[str, str, str]


@pytest.fixture(scope="module")
def schema() -> ExtractionSchema:
    return load_schema()


@pytest.fixture(scope="module")
def extractor(schema: ExtractionSchema) -> RuleBasedExtractor:
    return RuleBasedExtractor(schema)


def make_chunks(
    *texts: str, path: str = "notes.txt", fields: list[dict[str, str]] | None = None, first: int = 0
) -> list[Chunk]:
    """Chunks of one document, ids built the way the pipeline builds them."""
    document = document_id("devstoreaccount1", "incoming", path)
    version = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    rows = fields or [{} for _ in texts]
    return [
        Chunk(
            chunk_id=chunk_id(document, version, ordinal),
            document_id=document,
            version=version,
            ordinal=ordinal,
            text=text,
            locator=f"part {ordinal}",
            records=[RecordEntry(locator=f"part {ordinal}", fields=row)] if row else [],
        )
        for ordinal, (text, row) in enumerate(zip(texts, rows, strict=True), start=first)
    ]


def row_chunk(fields: Mapping[str, str], path: str = "staff.csv", with_fields: bool = True) -> Chunk:
    """A CSV row as the parser hands it on: "header: value; …" text plus the same pairs in `fields`."""
    text = "; ".join(f"{header}: {value}" for header, value in fields.items() if value)
    return make_chunks(text, path=path, fields=[dict(fields) if with_fields else {}])[0]


def typed_names(extraction: Extraction) -> set[tuple[str, str]]:
    return {(entity.type, entity.name) for entity in extraction.entities}


def stated(extraction: Extraction) -> list[Relation]:
    """The relations a trigger or a row stated: co-occurrence (RELATED_TO) claims only that names met, and has
    tests of its own (test_rule_cooccurrence.py)."""
    return [relation for relation in extraction.relations if relation.type != "RELATED_TO"]


def triples(extraction: Extraction) -> set[Triple]:
    """(source name, type, target name) of the stated relations; a partnership's ends in alphabetical order, as it
    has no direction."""
    names = {entity.entity_id: entity.name for entity in extraction.entities}
    found = set()
    for relation in stated(extraction):
        source, target = names[relation.source_id], names[relation.target_id]
        if relation.type == "PARTNERS_WITH":
            source, target = sorted((source, target))
        found.add((source, relation.type, target))
    return found


def extract_text(extractor: RuleBasedExtractor, *texts: str) -> Extraction:
    return extractor.extract(make_chunks(*texts))


# --- contract -------------------------------------------------------------------------------------------------


def test_it_is_an_extractor_named_rules(extractor: RuleBasedExtractor) -> None:
    assert isinstance(extractor, Extractor)
    assert extractor.name == "rules"


def test_no_chunks_give_an_empty_extraction(extractor: RuleBasedExtractor) -> None:
    assert extractor.extract([]) == Extraction()


# --- entities -------------------------------------------------------------------------------------------------


def test_honorific_and_organisation_suffix_type_the_mentions(extractor: RuleBasedExtractor) -> None:
    # GIVEN a sentence with an honorific-led name and an organisation suffix
    # WHEN it is extracted
    result = extract_text(extractor, "Dr. Zoë Okafor works at Brightwater Labs.")

    # THEN the honorific marks a Person (and is not part of the name), the suffix an Organization
    assert typed_names(result) == {("Person", "Zoë Okafor"), ("Organization", "Brightwater Labs")}
    # and ids are the domain's deterministic ones
    ids = {entity.name: entity.entity_id for entity in result.entities}
    assert ids["Zoë Okafor"] == entity_id("Person", "Zoë Okafor")
    assert ids["Brightwater Labs"] == entity_id("Organization", "Brightwater Labs")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nordlicht Robotics GmbH opened a workshop.", ("Organization", "Nordlicht Robotics GmbH")),
        ("The University of Lisbon hosted the review.", ("Organization", "University of Lisbon")),
        ("Funding came through the Verdant Shore Foundation.", ("Organization", "Verdant Shore Foundation")),
        ("The buoys were tested in São Paulo.", ("Place", "São Paulo")),
        ("The fleet sails from Rio de Janeiro.", ("Place", "Rio de Janeiro")),
        ("Work on Project Heron resumed.", ("Project", "Project Heron")),
        ("The Tidewater initiative maps mangroves.", ("Project", "Tidewater Initiative")),
        ("Managing Director Amara Nwosu opened the meeting.", ("Person", "Amara Nwosu")),
        ("The crew was led by engineer Tomás Ferreira.", ("Person", "Tomás Ferreira")),
        ("Pieter van Dijk, research director, spoke first.", ("Person", "Pieter van Dijk")),
        ("The Executive Council met on Monday.", ("Organization", "Executive Council")),
    ],
)
def test_cues_type_entities(extractor: RuleBasedExtractor, text: str, expected: tuple[str, str]) -> None:
    assert expected in typed_names(extract_text(extractor, text))


def test_capitalised_words_without_a_cue_are_not_entities(extractor: RuleBasedExtractor) -> None:
    # GIVEN sentence openers, a lone surname, days and a Title Case phrase with no cue
    result = extract_text(extractor, "Yesterday Okafor said the Annual Review will move to Monday. Great News.")

    # THEN nothing is claimed: precision over recall
    assert result.entities == []


def test_pattern_and_suffix_forms_of_a_project_share_one_id(extractor: RuleBasedExtractor) -> None:
    result = extract_text(extractor, "The Tidewater initiative grew.", "Tidewater Initiative published a map.")

    projects = [entity for entity in result.entities if entity.type == "Project"]
    assert len(projects) == 1
    assert projects[0].entity_id == entity_id("Project", "Tidewater Initiative")
    assert len(projects[0].chunk_ids) == 2


def test_a_name_typed_in_one_chunk_types_its_bare_mentions_in_the_others(extractor: RuleBasedExtractor) -> None:
    # GIVEN a staff row naming Pieter van Dijk, and prose where he appears with no cue of his own
    chunks = [
        row_chunk({"name": "Pieter van Dijk", "company": "Harbour Institute"}),
        *make_chunks("Kaito Arakawa works on Project Osprey, and reports to Pieter van Dijk.", first=1),
    ]

    # WHEN the batch is extracted
    result = extractor.extract(chunks)

    # THEN the batch's names type the prose mention, so the relation is found
    assert ("Kaito Arakawa", "REPORTS_TO", "Pieter van Dijk") in triples(result)
    assert ("Kaito Arakawa", "MEMBER_OF", "Project Osprey") in triples(result)


# --- relations from text --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Dr. Zoë Okafor works at Brightwater Labs.", ("Zoë Okafor", "WORKS_FOR", "Brightwater Labs")),
        ("Kaito Arakawa has joined Harbour Institute.", ("Kaito Arakawa", "WORKS_FOR", "Harbour Institute")),
        (
            "Kaito Arakawa, a data scientist at Harbour Institute, calibrated the sensors.",
            ("Kaito Arakawa", "WORKS_FOR", "Harbour Institute"),
        ),
        ("Brightwater Labs employs Dr. Zoë Okafor.", ("Zoë Okafor", "WORKS_FOR", "Brightwater Labs")),
        ("Łukasz Nowak leads Project Kestrel.", ("Łukasz Nowak", "LEADS", "Project Kestrel")),
        ("Project Heron, led by Zoë Okafor, went live.", ("Zoë Okafor", "LEADS", "Project Heron")),
        ("Tomás Ferreira works on Project Heron.", ("Tomás Ferreira", "MEMBER_OF", "Project Heron")),
        ("Tomás Ferreira joined Project Heron.", ("Tomás Ferreira", "MEMBER_OF", "Project Heron")),
        ("Łukasz Nowak reports to Hannah Brandt.", ("Łukasz Nowak", "REPORTS_TO", "Hannah Brandt")),
        ("Brightwater Labs is headquartered in Lisbon.", ("Brightwater Labs", "LOCATED_IN", "Lisbon")),
        ("Project Lumen is deployed in São Paulo.", ("Project Lumen", "LOCATED_IN", "São Paulo")),
        ("Dr. Marta Wiśniewska is based in Gdańsk.", ("Marta Wiśniewska", "BASED_IN", "Gdańsk")),
        (
            "Coral Ledger Inc partnered with Brightwater Labs.",
            ("Brightwater Labs", "PARTNERS_WITH", "Coral Ledger Inc"),
        ),
        (
            "Project Heron is funded by the Verdant Shore Foundation.",
            ("Verdant Shore Foundation", "FUNDS", "Project Heron"),
        ),
        (
            "Nordlicht Robotics GmbH funds Project Kestrel through 2025.",
            ("Nordlicht Robotics GmbH", "FUNDS", "Project Kestrel"),
        ),
    ],
)
def test_trigger_phrases_between_typed_mentions_give_relations(
    extractor: RuleBasedExtractor, text: str, expected: Triple
) -> None:
    # GIVEN one sentence with a trigger phrase between two mentions
    # WHEN it is extracted
    result = extract_text(extractor, text)

    # THEN the relation is found, with the domain's relation id and the sentence as evidence
    assert expected in triples(result)
    relation = next(r for r in result.relations if r.type == expected[1])
    assert relation.relation_id == relation_id(relation.source_id, relation.type, relation.target_id)
    assert relation.evidence == text


def test_a_relation_skips_back_over_mentions_that_do_not_fit(extractor: RuleBasedExtractor) -> None:
    # GIVEN a relative clause between the subject and the trigger
    result = extract_text(extractor, "Dr. Zoë Okafor, who joined Brightwater Labs in 2019, leads Project Heron.")

    # THEN the organisation is passed over for LEADS: only a Person may lead
    assert triples(result) == {
        ("Zoë Okafor", "WORKS_FOR", "Brightwater Labs"),
        ("Zoë Okafor", "LEADS", "Project Heron"),
    }


def test_coordinated_mentions_share_the_relation(extractor: RuleBasedExtractor) -> None:
    result = extract_text(
        extractor,
        "Verdant Shore Foundation funds Project Heron and Project Kestrel.",
        "Dr. Zoë Okafor and Dr. Tomás Ferreira work at Brightwater Labs.",
        "Project Lumen and Project Osprey are sponsored by Coral Ledger Inc.",
    )

    assert triples(result) == {
        ("Verdant Shore Foundation", "FUNDS", "Project Heron"),
        ("Verdant Shore Foundation", "FUNDS", "Project Kestrel"),
        ("Zoë Okafor", "WORKS_FOR", "Brightwater Labs"),
        ("Tomás Ferreira", "WORKS_FOR", "Brightwater Labs"),
        ("Coral Ledger Inc", "FUNDS", "Project Lumen"),
        ("Coral Ledger Inc", "FUNDS", "Project Osprey"),
    }


def test_a_trigger_shared_by_relations_takes_the_one_the_types_fit(extractor: RuleBasedExtractor) -> None:
    # "based in" is BASED_IN for a person and LOCATED_IN for an organisation
    result = extract_text(
        extractor, "Dr. Ingrid Halvorsen is based in Oslo.", "Verdant Shore Foundation is based in Oslo."
    )

    assert triples(result) == {
        ("Ingrid Halvorsen", "BASED_IN", "Oslo"),
        ("Verdant Shore Foundation", "LOCATED_IN", "Oslo"),
    }


def test_partnerships_are_one_edge_whichever_way_they_are_written(extractor: RuleBasedExtractor) -> None:
    result = extract_text(
        extractor,
        "Harbour Institute partnered with Brightwater Labs.",
        "Brightwater Labs partnered with Harbour Institute.",
    )

    assert len(result.relations) == 1
    assert len(result.relations[0].chunk_ids) == 2


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Brightwater Labs reports to Harbour Institute.", id="organisation-reports-to"),
        pytest.param("Lisbon funds Project Heron.", id="place-funds"),
        pytest.param("Dr. Zoë Okafor funds Project Heron.", id="person-funds"),
        pytest.param("Project Heron works at Brightwater Labs.", id="project-works-for"),
        pytest.param("Harbour Institute is based in Project Osprey.", id="located-in-a-project"),
    ],
)
def test_triples_the_schema_does_not_allow_are_never_emitted(extractor: RuleBasedExtractor, text: str) -> None:
    # GIVEN a trigger phrase between mentions whose types the schema does not pair that way
    result = extract_text(extractor, text)

    # THEN no relation is stated, though the entities come out (and met: any co-occurrence is one the schema allows)
    assert stated(result) == []
    assert len(result.entities) == 2
    names = {entity.entity_id: entity.type for entity in result.entities}
    assert all(extractor.schema.allows(names[r.source_id], r.type, names[r.target_id]) for r in result.relations)


def test_a_schema_without_the_relation_gives_no_relation() -> None:
    # GIVEN a schema that knows people and organisations but no relation between them
    data = {
        "entity_types": {
            "Person": {"description": "A human.", "cues": {"honorifics": ["Dr"]}},
            "Organization": {"description": "An institution.", "cues": {"suffixes": ["Labs"]}},
        },
    }
    extractor = RuleBasedExtractor(parse_schema(data))

    # WHEN a sentence states an employment
    result = extract_text(extractor, "Dr. Zoë Okafor works at Brightwater Labs.")

    # THEN the entities are found and nothing else
    assert typed_names(result) == {("Person", "Zoë Okafor"), ("Organization", "Brightwater Labs")}
    assert result.relations == []


def test_no_relation_crosses_a_subject_pronoun(extractor: RuleBasedExtractor) -> None:
    # GIVEN "she" (not Łukasz Nowak) is the one who joined
    result = extract_text(extractor, "After meeting Łukasz Nowak in Gdańsk, she joined Brightwater Labs.")

    # THEN Łukasz Nowak is not said to work there
    assert stated(result) == []


def test_no_relation_crosses_a_sentence_boundary(extractor: RuleBasedExtractor) -> None:
    result = extract_text(extractor, "Dr. Zoë Okafor spoke first. Later the crew joined Brightwater Labs.")

    assert result.relations == []


def test_evidence_is_the_sentence_trimmed(extractor: RuleBasedExtractor) -> None:
    # GIVEN a very long sentence stating a relation
    filler = ", ".join(["with sensors for salinity and temperature"] * 20)
    text = f"Dr. Zoë Okafor works at Brightwater Labs {filler}."

    result = extract_text(extractor, text)

    evidence = result.relations[0].evidence or ""
    assert len(text) > EVIDENCE_LIMIT >= len(evidence) > EVIDENCE_LIMIT - 5
    assert evidence.endswith("…")
    assert text.startswith(evidence[:-1])


# --- table rows -----------------------------------------------------------------------------------------------


def test_a_staff_row_gives_its_column_relations(extractor: RuleBasedExtractor) -> None:
    # GIVEN a staff row with person, title, company, manager and city columns
    row = row_chunk(
        {
            "name": "Dr. Marta Wiśniewska",
            "title": "Associate Professor",
            "company": "Amberline University",
            "manager": "",
            "city": "Gdańsk",
        }
    )

    # WHEN it is extracted
    result = extractor.extract([row])

    # THEN the honorific is dropped, empty cells are skipped, and the city is the person's, not the company's
    assert typed_names(result) == {
        ("Person", "Marta Wiśniewska"),
        ("Organization", "Amberline University"),
        ("Place", "Gdańsk"),
    }
    assert triples(result) == {
        ("Marta Wiśniewska", "WORKS_FOR", "Amberline University"),
        ("Marta Wiśniewska", "BASED_IN", "Gdańsk"),
    }
    assert all(relation.evidence == row.text for relation in result.relations)


@pytest.mark.parametrize("with_fields", [True, False], ids=["fields", "text-only"])
def test_row_columns_map_to_types_and_relations(extractor: RuleBasedExtractor, with_fields: bool) -> None:
    # GIVEN rows with differently named but configured headers, with or without the fields dict
    rows = [
        row_chunk({"Employee": "Łukasz Nowak", "Organisation": "Nordlicht Robotics GmbH", "Manager": "Hannah Brandt"}),
        row_chunk(
            {
                "project": "Project Lumen",
                "lead": "Beatriz Araújo",
                "sponsor": "Coral Ledger Inc",
                "location": "São Paulo",
            },
            path="projects.csv",
            with_fields=with_fields,
        ),
        row_chunk({"company": "Coral Ledger Inc", "city": "São Paulo"}, path="companies.csv", with_fields=with_fields),
        row_chunk({"organization": "Brightwater Labs", "partner": "Harbour Institute"}, path="partnerships.csv"),
    ]

    result = extractor.extract(rows)

    assert triples(result) == {
        ("Łukasz Nowak", "WORKS_FOR", "Nordlicht Robotics GmbH"),
        ("Łukasz Nowak", "REPORTS_TO", "Hannah Brandt"),
        ("Beatriz Araújo", "LEADS", "Project Lumen"),
        ("Coral Ledger Inc", "FUNDS", "Project Lumen"),
        ("Project Lumen", "LOCATED_IN", "São Paulo"),
        ("Coral Ledger Inc", "LOCATED_IN", "São Paulo"),
        ("Brightwater Labs", "PARTNERS_WITH", "Harbour Institute"),
    }


def test_prose_in_an_unmapped_cell_is_still_read(extractor: RuleBasedExtractor) -> None:
    row = row_chunk({"name": "Tomás Ferreira", "notes": "Tomás Ferreira works on Project Heron."})

    result = extractor.extract([row])

    assert ("Tomás Ferreira", "MEMBER_OF", "Project Heron") in triples(result)


def test_declared_entities_and_links_are_kept_within_the_schema(extractor: RuleBasedExtractor) -> None:
    # GIVEN a chunk whose parser declared two people, a link between them, and a link the schema refuses
    sender, recipient = Mention(type="Person", name="Hannah Brandt"), Mention(type="Person", name="Łukasz Nowak")
    chunk = make_chunks("Budget for the Gdańsk workshop attached.")[0].model_copy(
        update={
            "records": [
                RecordEntry(
                    locator="part 0",
                    mentions=[sender, recipient, Mention(type="Spaceship", name="Kestrel One")],
                    links=[
                        Link(source=recipient, type="REPORTS_TO", target=sender),
                        Link(source=sender, type="FUNDS", target=recipient),
                    ],
                )
            ]
        }
    )

    # WHEN it is extracted, and the extract stage merges in what the parser declared
    result = merge_declared(extractor.extract([chunk]), [chunk], extractor.schema)

    # THEN the declared people and the allowed link are kept; unknown types and refused triples are not
    assert typed_names(result) == {("Person", "Hannah Brandt"), ("Person", "Łukasz Nowak"), ("Place", "Gdańsk")}
    assert triples(result) == {("Łukasz Nowak", "REPORTS_TO", "Hannah Brandt")}


# --- merging and determinism ----------------------------------------------------------------------------------


def test_duplicates_merge_into_one_entity_and_one_relation(extractor: RuleBasedExtractor) -> None:
    # GIVEN the same fact stated in two chunks and a dateline spelling of a place
    chunks = make_chunks(
        "SÃO PAULO — Beatriz Araújo reports to Diego Salvatierra.",
        "In São Paulo, Beatriz Araújo reports to Diego Salvatierra.",
    )

    # WHEN they are extracted together
    result = extractor.extract(chunks)

    # THEN each entity and relation appears once, with both chunk ids; spellings become aliases
    all_chunks = [chunk.chunk_id for chunk in chunks]
    assert len({entity.entity_id for entity in result.entities}) == len(result.entities) == 3
    assert len(stated(result)) == 1
    assert stated(result)[0].chunk_ids == all_chunks
    place = next(entity for entity in result.entities if entity.type == "Place")
    assert (place.name, place.aliases, place.chunk_ids) == ("São Paulo", ["SÃO PAULO"], all_chunks)


def test_extraction_is_deterministic(schema: ExtractionSchema) -> None:
    # GIVEN the whole sample corpus
    chunks = sample_chunks()

    # WHEN two separately built extractors read it
    first = RuleBasedExtractor(schema).extract(chunks)
    second = RuleBasedExtractor(load_schema()).extract(chunks)

    # THEN the results are identical, order included
    assert first == second
    assert first.model_dump_json() == second.model_dump_json()


# --- sentences ------------------------------------------------------------------------------------------------


def test_sentences_respect_abbreviations_and_markdown_structure(schema: ExtractionSchema) -> None:
    abbreviations = frozenset(word.casefold() for word in schema.text.abbreviations)
    text = (
        "# Project Heron\n\nDr. Zoë Okafor leads it. The crew\nis small.\n\n"
        "- **Tomás Ferreira** — engineer - [Kaito Arakawa](people.md) | analyst"
    )

    assert split_sentences(text, abbreviations) == [
        "Project Heron",
        "Dr. Zoë Okafor leads it.",
        "The crew is small.",
        "Tomás Ferreira — engineer",
        "Kaito Arakawa",
        "analyst",
    ]


def test_markdown_lists_give_relations_whether_lines_are_kept_or_joined(extractor: RuleBasedExtractor) -> None:
    lines = ["## Team", "- Dr. Zoë Okafor leads Project Heron", "- Tomás Ferreira works on Project Heron"]

    kept = extract_text(extractor, "\n".join(lines))
    joined = extract_text(extractor, " ".join(lines))  # the text parser joins a paragraph's lines

    expected = {("Zoë Okafor", "LEADS", "Project Heron"), ("Tomás Ferreira", "MEMBER_OF", "Project Heron")}
    assert triples(kept) == triples(joined) == expected


# --- the sample corpus ----------------------------------------------------------------------------------------

# Every fact the samples state. The extractor may miss some; it must not claim anything else.
WORLD: set[Triple] = {
    *(
        (person, "WORKS_FOR", organization)
        for person, organization in [
            ("Rui Matos", "Brightwater Labs"),
            ("Zoë Okafor", "Brightwater Labs"),
            ("Tomás Ferreira", "Brightwater Labs"),
            ("Hannah Brandt", "Nordlicht Robotics GmbH"),
            ("Łukasz Nowak", "Nordlicht Robotics GmbH"),
            ("Pieter van Dijk", "Harbour Institute"),
            ("Kaito Arakawa", "Harbour Institute"),
            ("Marta Wiśniewska", "Amberline University"),
            ("Amara Nwosu", "Okapi Analytics Ltd"),
            ("Mei-Lin Castellanos", "Okapi Analytics Ltd"),
            ("Diego Salvatierra", "Coral Ledger Inc"),
            ("Beatriz Araújo", "Coral Ledger Inc"),
            ("Ingrid Halvorsen", "Verdant Shore Foundation"),
            ("Sipho Dlamini", "Verdant Shore Foundation"),
        ]
    ),
    *(
        (person, "BASED_IN", place)
        for person, place in [
            ("Rui Matos", "Lisbon"),
            ("Zoë Okafor", "Lisbon"),
            ("Tomás Ferreira", "Porto"),
            ("Hannah Brandt", "Hamburg"),
            ("Łukasz Nowak", "Gdańsk"),
            ("Pieter van Dijk", "Rotterdam"),
            ("Kaito Arakawa", "Rotterdam"),
            ("Marta Wiśniewska", "Gdańsk"),
            ("Amara Nwosu", "Nairobi"),
            ("Mei-Lin Castellanos", "Mombasa"),
            ("Diego Salvatierra", "São Paulo"),
            ("Beatriz Araújo", "São Paulo"),
            ("Ingrid Halvorsen", "Oslo"),
            ("Sipho Dlamini", "Oslo"),
        ]
    ),
    *(
        (person, "REPORTS_TO", manager)
        for person, manager in [
            ("Zoë Okafor", "Rui Matos"),
            ("Tomás Ferreira", "Zoë Okafor"),
            ("Łukasz Nowak", "Hannah Brandt"),
            ("Kaito Arakawa", "Pieter van Dijk"),
            ("Mei-Lin Castellanos", "Amara Nwosu"),
            ("Beatriz Araújo", "Diego Salvatierra"),
            ("Sipho Dlamini", "Ingrid Halvorsen"),
        ]
    ),
    *(
        (lead, "LEADS", project)
        for lead, project in [
            ("Zoë Okafor", "Project Heron"),
            ("Łukasz Nowak", "Project Kestrel"),
            ("Pieter van Dijk", "Project Osprey"),
            ("Beatriz Araújo", "Project Lumen"),
            ("Amara Nwosu", "Tidewater Initiative"),
        ]
    ),
    *(
        (sponsor, "FUNDS", project)
        for sponsor, project in [
            ("Verdant Shore Foundation", "Project Heron"),
            ("Verdant Shore Foundation", "Tidewater Initiative"),
            ("Verdant Shore Foundation", "Project Lumen"),
            ("Brightwater Labs", "Project Heron"),
            ("Nordlicht Robotics GmbH", "Project Kestrel"),
            ("Harbour Institute", "Project Osprey"),
            ("Coral Ledger Inc", "Project Lumen"),
            ("Coral Ledger Inc", "Project Osprey"),
        ]
    ),
    *(
        (subject, "LOCATED_IN", place)
        for subject, place in [
            ("Brightwater Labs", "Lisbon"),
            ("Harbour Institute", "Rotterdam"),
            ("Nordlicht Robotics GmbH", "Hamburg"),
            ("Amberline University", "Gdańsk"),
            ("Okapi Analytics Ltd", "Nairobi"),
            ("Coral Ledger Inc", "São Paulo"),
            ("Verdant Shore Foundation", "Oslo"),
            ("Blue Margin Consortium", "Lisbon"),
            ("Project Heron", "Lisbon"),
            ("Project Heron", "Rotterdam"),
            ("Project Kestrel", "Gdańsk"),
            ("Project Kestrel", "Rotterdam"),
            ("Project Osprey", "Rotterdam"),
            ("Project Lumen", "São Paulo"),
            ("Tidewater Initiative", "Mombasa"),
        ]
    ),
    *(
        (person, "MEMBER_OF", group)
        for person, group in [
            ("Tomás Ferreira", "Project Heron"),
            ("Kaito Arakawa", "Project Heron"),
            ("Kaito Arakawa", "Project Osprey"),
            ("Marta Wiśniewska", "Project Kestrel"),
            ("Rui Matos", "Blue Margin Consortium"),
            ("Ingrid Halvorsen", "Blue Margin Consortium"),
            ("Hannah Brandt", "Blue Margin Consortium"),
            ("Marta Wiśniewska", "Blue Margin Consortium"),
        ]
    ),
}
PARTNERSHIPS = {
    frozenset(pair)
    for pair in [
        ("Brightwater Labs", "Harbour Institute"),
        ("Nordlicht Robotics GmbH", "Amberline University"),
        ("Okapi Analytics Ltd", "Harbour Institute"),
        ("Coral Ledger Inc", "Brightwater Labs"),
        ("Harbour Institute", "Nordlicht Robotics GmbH"),
        ("Verdant Shore Foundation", "Okapi Analytics Ltd"),
    ]
}


# The text samples: the PDF, Word, Excel and PowerPoint samples (the parsers' own) are not read as text here.
TEXT_SUFFIXES = (".txt", ".md", ".csv")


def text_samples() -> list[Path]:
    return [path for path in sorted(SAMPLES.iterdir()) if path.suffix in TEXT_SUFFIXES]


def sample_chunks() -> list[Chunk]:
    """Every text sample as the pipeline chunks it: parsed, records packed into chunks, CSV rows with their fields."""
    chunks: list[Chunk] = []
    for path in text_samples():
        data = path.read_bytes()
        content_type = sniff(data[:SNIFF_BYTES], path.name).content_type
        document = DocumentRef(
            account="devstoreaccount1",
            container="incoming",
            path=path.name,
            document_id=document_id("devstoreaccount1", "incoming", path.name),
            version=hashlib.sha256(data).hexdigest(),
            size=len(data),
            content_type=content_type,
        )
        records = [item for item in parse(io.BytesIO(data), content_type, ParseLimits()) if isinstance(item, Record)]
        chunks.extend(chunk_records(records, document, ChunkSettings()))
    return chunks


def test_the_sample_corpus_is_small_mixed_and_unicode() -> None:
    files = text_samples()
    suffixes = Counter(path.suffix for path in files)

    assert 10 <= len(files) <= 14
    assert sum(path.stat().st_size for path in files) < 200_000
    assert suffixes[".txt"] >= 3
    assert suffixes[".md"] >= 2
    assert 2 <= suffixes[".csv"] <= 3
    texts = [path.read_text(encoding="utf-8") for path in files]  # all UTF-8
    assert any(not text.isascii() for text in texts)


def test_the_sample_corpus_makes_a_connected_typed_graph(extractor: RuleBasedExtractor) -> None:
    # GIVEN chunks built from every sample file
    chunks = sample_chunks()
    file_of = {chunk.chunk_id: chunk.document_id for chunk in chunks}

    # WHEN the whole corpus is extracted
    result = extractor.extract(chunks)

    # THEN it finds enough entities of every type and relations of several types
    entity_types = Counter(entity.type for entity in result.entities)
    relation_types = Counter(relation.type for relation in result.relations)
    assert len(result.entities) >= 15
    assert set(entity_types) == {"Person", "Organization", "Place", "Project"}
    assert len(result.relations) >= 10
    assert len(relation_types) >= 4
    # and entities recur across files, which is what connects the graph
    files_per_entity = {e.name: len({file_of[c] for c in e.chunk_ids}) for e in result.entities}
    assert sum(count >= 3 for count in files_per_entity.values()) >= 10
    assert files_per_entity["Project Heron"] >= 3


def test_every_relation_found_in_the_samples_is_true(extractor: RuleBasedExtractor) -> None:
    # GIVEN the facts the sample corpus states
    result = extractor.extract(sample_chunks())

    # WHEN the found relations are compared with them
    found = triples(result)
    partnerships = {frozenset((source, target)) for source, kind, target in found if kind == "PARTNERS_WITH"}
    others = {triple for triple in found if triple[1] != "PARTNERS_WITH"}

    # THEN nothing false is claimed (precision) and most facts are found (recall)
    assert others - WORLD == set()
    assert partnerships - PARTNERSHIPS == set()
    assert len(others) >= 0.8 * len(WORLD)


def test_text_alone_yields_relations_of_every_type(extractor: RuleBasedExtractor) -> None:
    # GIVEN only the prose files (no CSV rows to lean on)
    chunks = [chunk for chunk in sample_chunks() if not any(entry.fields for entry in chunk.records)]

    result = extractor.extract(chunks)

    assert {relation.type for relation in result.relations} == set(extractor.schema.relation_types)


# --- properties -----------------------------------------------------------------------------------------------

NAMEISH = st.sampled_from(
    [
        "Dr.", "Zoë", "Okafor", "Labs", "Inc", "GmbH", "Project", "Heron", "the", "initiative", "Lisbon",
        "São", "Paulo", "van", "of", "University", "works", "at", "leads", "is", "funded", "by", "and", ",",
        ".", "reports", "to", "she", "CEO", "engineer", "partnered", "with", "\n\n", "- ", "| ", "#", ":", ";",
    ]
)  # fmt: skip
TEXTS = st.one_of(st.text(max_size=300), st.lists(NAMEISH | st.text(max_size=6), max_size=60).map(" ".join))
FIELDS = st.dictionaries(
    st.sampled_from(["name", "company", "manager", "city", "project", "lead", "sponsor", "notes", "Other"]),
    TEXTS,
    max_size=5,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(TEXTS, min_size=1, max_size=4), rows=st.lists(FIELDS, max_size=2))
def test_any_input_extracts_without_error_and_relations_reference_returned_entities(
    extractor: RuleBasedExtractor, texts: list[str], rows: list[dict[str, str]]
) -> None:
    # GIVEN arbitrary text chunks and arbitrary table rows
    chunks = [*make_chunks(*texts), *(row_chunk(row, path=f"rows{i}.csv") for i, row in enumerate(rows))]

    # WHEN they are extracted (THEN it does not raise)
    result = extractor.extract(chunks)

    # THEN every relation joins entities it returned, with types the schema allows, and ids are unique
    by_id = {entity.entity_id: entity for entity in result.entities}
    assert len(by_id) == len(result.entities)
    assert len({relation.relation_id for relation in result.relations}) == len(result.relations)
    for relation in result.relations:
        source, target = by_id[relation.source_id], by_id[relation.target_id]
        assert extractor.schema.allows(source.type, relation.type, target.type)
        assert len(relation.evidence or "") <= EVIDENCE_LIMIT
    known_chunks = {chunk.chunk_id for chunk in chunks}
    assert all(set(entity.chunk_ids) <= known_chunks for entity in result.entities)
