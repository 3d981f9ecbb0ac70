"""The rule extractor's packaged name lists (schema `lexicons` cues): first names and surnames, countries, regions
and cities, legal forms, acronyms, and the context rules that keep them from typing ordinary capitalised words."""

import pytest

from shared.domain import Chunk
from shared.extraction.lexicons import key_of, lexicon
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import load_schema


@pytest.fixture(scope="module")
def extractor() -> RuleBasedExtractor:
    return RuleBasedExtractor(load_schema())


def typed(extractor: RuleBasedExtractor, *texts: str) -> set[tuple[str, str]]:
    chunks = [
        Chunk(chunk_id=f"c{n}", document_id="d", version="v", ordinal=n, text=text, locator=f"line {n}")
        for n, text in enumerate(texts)
    ]
    return {(entity.type, entity.name) for entity in extractor.extract(chunks).entities}


def test_the_lists_come_from_their_packages():
    # Spot checks that each list really was read: a name of each kind the packages document.
    assert key_of("Peter") in lexicon("first_names")
    assert key_of("Johnson") in lexicon("surnames")
    assert key_of("Kenya") in lexicon("countries")
    assert key_of("Texas") in lexicon("regions")
    assert key_of("Buenos Aires") in lexicon("cities")
    assert key_of("GmbH") in lexicon("legal_forms")


def test_a_known_first_name_opens_a_person(extractor):
    # GIVEN no role word or honorific, only a first name from the census list
    found = typed(extractor, "Talks stalled after Peter Blackburn spoke for an hour.")
    # THEN the whole name is a Person
    assert ("Person", "Peter Blackburn") in found


def test_a_surname_alone_takes_the_type_of_the_full_name_in_the_batch(extractor):
    found = typed(extractor, "Talks stalled after Peter Blackburn spoke.", "Later Blackburn left the room.")
    assert ("Person", "Blackburn") in found
    assert ("Place", "Blackburn") not in found  # Blackburn is also an English town


def test_countries_are_places_wherever_they_stand(extractor):
    # "France" is also a given name in the census list: a country name wins without any context
    found = typed(extractor, "France and Kenya signed the accord.")
    assert {("Place", "France"), ("Place", "Kenya")} <= found


def test_a_city_that_is_also_a_personal_name_needs_a_locative(extractor):
    assert ("Place", "Florence") in typed(extractor, "The delegates travelled to Florence by train.")
    assert ("Place", "Florence") not in typed(extractor, "Yesterday Florence signed the letter.")


def test_a_city_inside_a_longer_name_is_not_split_out(extractor):
    # "Union" is a city in New Jersey, and also the last word of an organisation's name
    found = typed(extractor, "Ministers of the European Union met on Monday.")
    assert ("Organization", "European Union") in found
    assert ("Place", "Union") not in found


def test_a_legal_form_from_cleanco_ends_an_organisation(extractor):
    # "ASA" (a Norwegian public company) is not among the schema's own suffixes
    assert ("Organization", "Statoil ASA") in typed(extractor, "The field is run by Statoil ASA under licence.")


def test_an_acronym_in_running_text_is_an_organisation_but_not_in_a_headline(extractor):
    assert ("Organization", "NATO") in typed(extractor, "Officials from NATO met in the morning.")
    headline = typed(extractor, "NATO ENVOYS MEET IN BRUSSELS")
    assert ("Organization", "NATO") not in headline
    assert ("Place", "Brussels") in {(kind, name.title()) for kind, name in headline}


def test_dotted_abbreviations_are_one_word(extractor):
    found = typed(extractor, "Prices rose in the U.S. last week.")
    assert ("Place", "U.S.") in found


def test_a_firm_cue_elsewhere_in_the_batch_overrides_a_first_name_guess(extractor):
    # GIVEN "Coral" is a census first name, so "Coral Ledger" alone looks like a person
    found = typed(extractor, "Coral Ledger opened an office.", "Coral Ledger Inc signed the lease.")
    # THEN the organisation named with its legal form elsewhere in the batch types the short form too
    assert ("Organization", "Coral Ledger") in found
    assert ("Person", "Coral Ledger") not in found


def test_a_name_before_a_speech_verb_is_a_person(extractor):
    # GIVEN "Akram" is in no list and has no title, but speaks
    assert ("Person", "Wasim Akram") in typed(extractor, "Pakistan lost the toss, and Wasim Akram said he was pleased.")


def test_a_dotted_acronym_is_an_organisation(extractor):
    assert ("Organization", "U.N.") in typed(extractor, "Envoys of the U.N. arrived late.")
