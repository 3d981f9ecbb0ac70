"""Column options: text and id columns, typed entity columns and the relations between them."""

import io

from shared.domain import DocumentRef, Link, Mention, Record
from shared.extraction.schema import load_schema
from shared.parsing import ParseLimits, ParseOptions, parse
from shared.parsing.columns import apply_columns, has_column_rules, validate_options
from shared.parsing.options import ColumnRelation
from shared.pipeline.chunking import ChunkSettings, chunk_records

STAFF = ParseOptions(
    id_column="name",
    entity_columns={"name": "Person", "company": "Organization", "manager": "Person", "city": "Place"},
    relations=[
        ColumnRelation(source="name", type="WORKS_FOR", target="company"),
        ColumnRelation(source="name", type="REPORTS_TO", target="manager"),
    ],
)


def row(**fields: str) -> Record:
    text = "; ".join(f"{name}: {value}" for name, value in fields.items() if value)
    return Record(text=text, locator="row 5", fields=fields)


def test_entity_columns_declare_a_mention_per_non_empty_cell_and_links_between_them():
    # GIVEN a staff row whose manager cell is empty
    record = row(name="Ada Lovelace", title="Analyst", company="Acme Labs", manager="", city="Paris")
    # WHEN the staff options apply
    result = apply_columns(record, STAFF)
    # THEN each filled typed cell is a mention, and only the relation with both ends present is a link
    ada = Mention(type="Person", name="Ada Lovelace")
    assert result.mentions == [ada, Mention(type="Organization", name="Acme Labs"), Mention(type="Place", name="Paris")]
    assert result.links == [Link(source=ada, type="WORKS_FOR", target=Mention(type="Organization", name="Acme Labs"))]


def test_the_id_column_goes_to_metadata_and_the_locator():
    result = apply_columns(row(name="E-17", company="Acme"), ParseOptions(id_column="name"))
    assert result.metadata == {"id": "E-17"}
    assert result.locator == "row 5 (id=E-17)"


def test_an_empty_id_cell_leaves_the_record_as_it_was():
    record = row(name="", company="Acme")
    assert apply_columns(record, ParseOptions(id_column="name")) == record


def test_text_columns_make_the_text_in_their_order():
    record = row(name="Ada", notes="likes engines", secret="x")
    result = apply_columns(record, ParseOptions(text_columns=["notes", "name"]))
    assert result.text == "notes: likes engines; name: Ada"
    assert result.fields == record.fields  # fields are all kept; only the text is narrowed


def test_a_row_whose_text_columns_are_all_empty_keeps_its_whole_text():
    # a record with no text would make no chunk, and its mentions would be lost with it
    record = row(name="Ada", notes="")
    assert apply_columns(record, ParseOptions(text_columns=["notes"])).text == record.text


def test_column_names_match_case_insensitively_when_not_exact():
    result = apply_columns(row(Name="Ada"), ParseOptions(entity_columns={"name": "Person"}))
    assert result.mentions == [Mention(type="Person", name="Ada")]


def test_declared_mentions_of_the_parser_are_kept_and_not_duplicated():
    ada = Mention(type="Person", name="Ada")
    record = row(name="Ada")._replace(mentions=[ada])
    assert apply_columns(record, ParseOptions(entity_columns={"name": "Person"})).mentions == [ada]


def test_records_pass_untouched_without_column_options():
    assert not has_column_rules(ParseOptions())
    assert has_column_rules(ParseOptions(text_columns=[]))


def test_parse_applies_the_options_to_every_row_of_a_csv():
    data = b"name,company,manager\nAda,Acme,Grace\nGrace,Acme,\n"
    records = list(parse(io.BytesIO(data), "text/csv", ParseLimits(), STAFF))
    assert [r.locator for r in records] == ["row 2 (id=Ada)", "row 3 (id=Grace)"]
    assert [len(r.links) for r in records] == [2, 1]


def test_records_without_fields_are_left_alone_by_parse():
    records = list(parse(io.BytesIO(b"Ada works at Acme.\n"), "text/plain", ParseLimits(), STAFF))
    assert records == [Record(text="Ada works at Acme.", locator="line 1")]


def test_validate_options_names_unknown_types_and_disallowed_triples():
    schema = load_schema()
    assert validate_options(STAFF, schema) == []
    bad = ParseOptions(
        entity_columns={"name": "Person", "team": "Team", "city": "Place"},
        relations=[
            ColumnRelation(source="name", type="WORKS_FOR", target="city"),  # Person -> Place is not WORKS_FOR
            ColumnRelation(source="name", type="LIKES", target="city"),
            ColumnRelation(source="name", type="BASED_IN", target="office"),
        ],
    )
    problems = validate_options(bad, schema)
    assert len(problems) == 4
    assert "unknown entity type 'Team'" in problems[0]
    assert "does not allow Person -[WORKS_FOR]-> Place" in problems[1]
    assert "unknown relation type 'LIKES'" in problems[2]
    assert "['office'] are not entity columns" in problems[3]


def test_declared_columns_travel_through_chunking_once_per_record():
    # GIVEN a row with declared mentions and a text long enough to be split into several chunks
    record = apply_columns(row(name="Ada", company="Acme", notes="Sentence one. " * 300), STAFF)
    document = DocumentRef(
        account="a", container="c", path="p", document_id="d", version="v", size=1, content_type="text/csv"
    )
    # WHEN it is chunked
    chunks = list(chunk_records([record], document, ChunkSettings(target_tokens=100)))
    # THEN every piece keeps the locator, and the first carries the fields, id, mentions and links (read once)
    assert len(chunks) > 1
    assert all(chunk.locator == "row 5 (id=Ada)" for chunk in chunks)
    (entry,) = chunks[0].records
    assert (entry.fields, entry.metadata, entry.mentions, entry.links) == (
        record.fields,
        {"id": "Ada"},
        record.mentions,
        record.links,
    )
    assert all(not chunk.records for chunk in chunks[1:])
