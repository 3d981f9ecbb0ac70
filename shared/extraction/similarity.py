"""When two match keys of one type may name the same entity, and on what evidence.

Wrong merges are worse than missed ones (a merged node cannot be told apart again without re-ingesting), so every
rule here is conservative, and the ones that could join two real, different entities ask for context as well:

- `STRONG`: a misspelling and nothing else. Names of two words or more, the same number of words, exactly one word
  differing by a letter dropped, doubled or two letters swapped, in a word of six letters or more ("Analytcs"). A
  changed letter is not enough: it makes another real word too often ("Santa Maria"/"Santa Marta"). One-word names
  never merge on spelling ("Gambia"/"Zambia", "Columbia"/"Colombia", "Sudan"/"Sedan" are all one edit).
- `CONTEXT`: the same entity only if something else says so (the same document, a shared organisation, a shared email
  domain: see resolution.py). A personal name with an initial for the first name, or an extra middle name or initial
  ("J Smith", "John F Smith" for "John Smith").
- `CORROBORATED`: names one small misspelling apart that are as often two real entities: personal names differing in
  one name ("Jon"/"John", "Okafor"/"Okafur"), other names with one word one changed letter apart ("Santa Maria"/
  "Santa Marta" are two cities, often in one text) or two words one edit apart each. Only a shared organisation
  (a relation to one entity) or email domain merges them, never the document alone.

Numbers (and Roman numerals) must match exactly: "Fund II" is not "Fund III", "Area 51" not "Area 52".
"""

from __future__ import annotations

from enum import IntEnum

from rapidfuzz.distance import OSA
from rapidfuzz.fuzz import ratio

MIN_WORD_FOR_EDIT = 5  # shorter words are too often a different word one letter away ("Iran"/"Iraq")
MIN_WORD_FOR_STRONG_EDIT = 6  # and a merge with no context needs a longer one still
MIN_CONTEXT_RATIO = 88.0  # whole-key similarity (0-100) a CORROBORATED match of non-personal names needs
MIN_PERSON_NAME_RATIO = 80.0  # one name of a personal name, for a CORROBORATED match ("jon"/"john" is 85.7)
_ROMAN = frozenset({"i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"})


class Evidence(IntEnum):
    """What a pair of keys needs before it is merged, weakest need last (so `min` of two is the stronger)."""

    STRONG = 1  # nothing more
    CONTEXT = 2  # the same document, a shared organisation or a shared email domain
    CORROBORATED = 3  # a shared organisation or email domain
    NEVER = 4


def needed(a: str, b: str, personal: bool) -> Evidence:
    """What it takes to merge the entities keyed `a` and `b` (already folded by `matchkeys.match_key`)."""
    if a == b:
        return Evidence.STRONG
    words_a, words_b = a.split(), b.split()
    if _numbers(words_a, not personal) != _numbers(words_b, not personal) or min(len(words_a), len(words_b)) < 2:
        return Evidence.NEVER
    if personal:
        return _personal(words_a, words_b)
    return _other(a, b, words_a, words_b)


def _personal(a: list[str], b: list[str]) -> Evidence:
    first_a, last_a, first_b, last_b = a[0], a[-1], b[0], b[-1]
    if last_a == last_b:
        if first_a == first_b:
            # Only the middle differs: "john f smith" / "john smith", "john fitzgerald smith" / "john f smith".
            return Evidence.CONTEXT if _middles_compatible(a[1:-1], b[1:-1]) else Evidence.NEVER
        if _initial_of(first_a, first_b) or _initial_of(first_b, first_a):
            return Evidence.CONTEXT if _middles_compatible(a[1:-1], b[1:-1]) else Evidence.NEVER
        if len(a) == len(b) == 2 and ratio(first_a, first_b) >= MIN_PERSON_NAME_RATIO and first_a[0] == first_b[0]:
            return Evidence.CORROBORATED
        return Evidence.NEVER
    if len(a) == len(b) == 2 and first_a == first_b and _one_small_edit(last_a, last_b, 2):
        return Evidence.CORROBORATED
    return Evidence.NEVER


def _other(a: str, b: str, words_a: list[str], words_b: list[str]) -> Evidence:
    if len(words_a) != len(words_b) or a[0] != b[0]:
        return Evidence.NEVER
    differing = [(x, y) for x, y in zip(words_a, words_b, strict=True) if x != y]
    if len(differing) == 1 and _typing_slip(*differing[0]):
        return Evidence.STRONG
    if 1 <= len(differing) <= 2 and all(_one_small_edit(x, y, 1) for x, y in differing):
        return Evidence.CORROBORATED if ratio(a, b) >= MIN_CONTEXT_RATIO else Evidence.NEVER
    return Evidence.NEVER


def _typing_slip(x: str, y: str) -> bool:
    """One letter dropped or doubled, or two neighbours swapped, in a long word: not one letter changed."""
    swapped = len(x) == len(y) and sorted(x) == sorted(y)
    return (
        min(len(x), len(y)) >= MIN_WORD_FOR_STRONG_EDIT and _one_small_edit(x, y, 1) and (len(x) != len(y) or swapped)
    )


def _one_small_edit(x: str, y: str, max_edits: int) -> bool:
    """`x` and `y` are the same word misspelt: long enough, same first letter, at most `max_edits` edits apart."""
    return (
        min(len(x), len(y)) >= MIN_WORD_FOR_EDIT
        and x[0] == y[0]
        and not (x.isdigit() or y.isdigit())
        and OSA.distance(x, y, score_cutoff=max_edits) <= max_edits
    )


def _initial_of(initial: str, name: str) -> bool:
    return len(initial) == 1 and len(name) > 1 and name.startswith(initial)


def _middles_compatible(a: list[str], b: list[str]) -> bool:
    """Middle names that can be the same: one side has none, or they pair up as equal or as initial and name."""
    if not a or not b:
        return True
    if len(a) != len(b):
        return False
    return all(x == y or _initial_of(x, y) or _initial_of(y, x) for x, y in zip(a, b, strict=True))


def _numbers(words: list[str], roman: bool) -> tuple[str, ...]:
    """The numbers among `words`; Roman numerals too, except in personal names, where "V" is an initial."""
    return tuple(word for word in words if word.isdigit() or (roman and word in _ROMAN))
