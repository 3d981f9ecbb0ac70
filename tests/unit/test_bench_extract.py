"""The extraction bench's reading of CoNLL-2003 (IOB1 tags) and its scoring: a wrong reader would make every
figure in perf/README.md wrong."""

from perf.bench_extract import read_conll, score, spans

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

Paris NNP B-NP I-LOC
"""


def test_iob1_spans_start_at_a_type_change_or_a_b_tag():
    # GIVEN IOB1 tags: I- opens an entity after O or another type; B- only where two of one type touch
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG"]
    # WHEN they are read THEN each entity is its own span
    assert spans(tags) == [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC"), (5, 7, "ORG")]


def test_articles_and_sentences_split_on_docstart_and_blank_lines():
    articles = list(read_conll(CONLL))
    assert [len(article) for article in articles] == [2, 1]
    assert articles[0][1] == [("Peter", "I-PER"), ("Blackburn", "I-PER")]


def test_score_counts_per_type_and_overall():
    gold = {("s1", "Person", "peter blackburn"), ("s1", "Place", "paris")}
    found = {("s1", "Person", "peter blackburn"), ("s1", "Organization", "paris")}
    counts = score(gold, found)
    assert counts["Person"] == (1, 1, 1)
    assert counts["Place"] == (0, 0, 1)
    assert counts["Organization"] == (0, 1, 0)
    assert counts["all"] == (1, 2, 2)


def test_the_stated_only_schema_is_the_packaged_one_without_cooccurrence(tmp_path):
    # GIVEN the packaged schema, which declares a co-occurrence relation
    from perf.bench_extract import stated_only_schema
    from shared.extraction.schema import load_schema

    packaged = load_schema()
    # WHEN the bench writes its stated-only copy
    stated = load_schema(stated_only_schema(tmp_path))
    # THEN only the co-occurrence relations are gone
    kept = {name for name, relation in packaged.relation_types.items() if not relation.cooccurrence}
    assert set(stated.relation_types) == kept != set(packaged.relation_types)
    assert stated.entity_types == packaged.entity_types
