"""Match keys: the form of a name entity resolution compares, and the blocking keys it looks candidates up by.

A match key folds what never tells two entities apart: case, accents, punctuation and spacing for every type; a
leading honorific ("Dr", "Prof", from the schema's `honorifics` cue of the type) for personal names; a trailing legal
form ("Ltd", "GmbH", "S.A.", cleanco's list) and a leading "The" for types whose names take legal forms (the schema
asks for the `legal_forms` lexicon). Two names with the same key are the same entity, with no look-up and no
threshold: the key is what the entity's id is made of (`ids.entity_id(type, key)`), so two workers meeting the same
new name at once, or one batch delivered twice, make one node.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

from shared.extraction.schema import ExtractionSchema

LEGAL_FORMS_LEXICON = "legal_forms"
_WORD = re.compile(r"[^\W_]+")  # runs of letters and digits: punctuation, '&', '-' and '_' all separate words
# Dots and apostrophes join what they sit in ("S.A." is cleanco's "sa", "O'Neil" is "ONeil" in an address).
_JOINERS = str.maketrans("", "", ".'’`")
_ARTICLES = frozenset({"the"})


@dataclass(frozen=True)
class NameRules:
    """How the names of one entity type are folded."""

    honorifics: frozenset[str] = frozenset()  # casefolded, without their dot
    legal_forms: bool = False

    @property
    def personal(self) -> bool:
        """Names of people: initials and first-name variants may name the same person (with context)."""
        return bool(self.honorifics)


def name_rules(schema: ExtractionSchema) -> dict[str, NameRules]:
    """Each entity type's folding rules, read from its cues."""
    return {
        name: NameRules(
            honorifics=frozenset(word.casefold().rstrip(".") for word in spec.cues.honorifics),
            legal_forms=LEGAL_FORMS_LEXICON in spec.cues.lexicons.suffixes,
        )
        for name, spec in schema.entity_types.items()
    }


def fold(text: str) -> str:
    """Casefolded, accents removed (cleanco's folding, which also maps "ø", "ß", "ł"), dots and apostrophes dropped,
    every other run of punctuation and space one space: "Zoë  O'Neil-Smith" -> "zoe oneil smith"."""
    from cleanco.clean import remove_accents

    letters = unicodedata.normalize("NFKC", remove_accents(unicodedata.normalize("NFKC", text)))
    return " ".join(_WORD.findall(letters.translate(_JOINERS)))


@lru_cache(maxsize=65_536)  # a worker meets the same names batch after batch
def match_key(name: str, rules: NameRules) -> str:
    """The key two names of one type must share to be the same entity without further evidence ("" for none)."""
    words = fold(name).split()
    if rules.honorifics:
        while len(words) > 1 and words[0] in rules.honorifics:
            words = words[1:]
    if rules.legal_forms:
        words = _without_legal_form(words)
        if len(words) > 1 and words[0] in _ARTICLES:
            words = words[1:]
    return " ".join(words)


def blocking_keys(key: str) -> tuple[str, ...]:
    """At most two keys that a name likely to be the same entity shares with it, for an indexed look-up.

    The first word ("okapi analytics" -> "okapi"), and the first letter with the last word ("o analytics"). A
    misspelling in one word keeps the other key; an initial ("J Smith") shares the second key with "John Smith".
    """
    words = key.split()
    if not words:
        return ()
    if len(words) == 1:
        return (words[0],)
    return (words[0], f"{words[0][0]} {words[-1]}")


def _without_legal_form(words: list[str]) -> list[str]:
    """`words` without trailing legal forms (cleanco's terms), never down to nothing."""
    from cleanco import basename

    terms, last_words = _legal_terms()
    while len(words) > 1 and words[-1] in last_words:
        # The key's words are already folded, so cleanco's own folding of them changes nothing.
        stripped = basename(" ".join(words), terms=terms).split()
        if not stripped or len(stripped) >= len(words):
            break
        words = stripped
    return words


@cache
def _legal_terms() -> tuple[list[tuple[int, list[str]]], frozenset[str]]:
    """cleanco's terms, and the set of their last words: a name ending in none of them skips cleanco's scan."""
    from cleanco import prepare_default_terms

    terms = prepare_default_terms()
    return terms, frozenset(parts[-1] for _, parts in terms if parts)
