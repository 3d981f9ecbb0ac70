"""Context rules of the rule extractor that change a name's type by what stands around it: sports results name
teams (Organization, the `score_teams` cue), though the names are places."""

import pytest

from shared.domain import Chunk
from shared.extraction.rules import RuleBasedExtractor
from shared.extraction.schema import load_schema


@pytest.fixture(scope="module")
def extractor() -> RuleBasedExtractor:
    return RuleBasedExtractor(load_schema())


def types(extractor: RuleBasedExtractor, text: str) -> dict[str, str]:
    chunk = Chunk(chunk_id="c0", document_id="d", version="v", ordinal=0, text=text, locator="line 1")
    return {entity.name: entity.type for entity in extractor.extract([chunk]).entities}


def test_two_places_before_scores_are_teams(extractor: RuleBasedExtractor) -> None:
    # GIVEN a results line: two city names, each before a score
    found = types(extractor, "Barcelona 2 Valencia 1")
    # THEN both are organisations (the clubs), not places
    assert found == {"Barcelona": "Organization", "Valencia": "Organization"}


def test_a_place_before_three_numbers_or_more_is_a_team(extractor: RuleBasedExtractor) -> None:
    # GIVEN a standings row: played, won, drawn, lost, for, against, points
    found = types(extractor, "Barcelona 10 7 2 1 22 9 23")
    assert found == {"Barcelona": "Organization"}


def test_a_place_before_one_number_or_a_year_stays_a_place(extractor: RuleBasedExtractor) -> None:
    # GIVEN places followed by one number, a year and a decimal: no results line
    found = types(extractor, "Prices rose in Lisbon 3 times. Porto 2024 and Faro 2.5 followed.")
    # THEN they stay places
    assert found == {"Lisbon": "Place", "Porto": "Place", "Faro": "Place"}


def test_a_person_before_scores_stays_a_person(extractor: RuleBasedExtractor) -> None:
    # GIVEN a golf leaderboard row and a results line of people
    found = types(extractor, "Ernie Els 66 69 70")
    # THEN the golfer is still a person
    assert found == {"Ernie Els": "Person"}
