"""Tokens and mentions of the rule extractor: the capitalised words of a sentence and the names made of them."""

import re
from typing import NamedTuple

# A word, "U.S." as one word, or "&"; a possessive "'s" is matched but left out of the word ("Okafor's team" names
# Okafor).
TOKEN = re.compile(r"((?:[A-Z]\.){2,}|\w+(?:[-'’](?![sS](?![\w'’-]))\w+)*|&)(?:['’][sS](?![\w'’-]))?")
WORD = re.compile(r"[\w-]+")
WORD_RUN = re.compile(r"\w+")
# ASCII byte -> itself lower-cased if it is a word character (what \w matches in ASCII), else a space.
_ASCII_WORD_BYTES = bytes(
    (ord(chr(byte).lower()) if chr(byte).isalnum() or chr(byte) == "_" else 32) if byte < 128 else byte
    for byte in range(256)
)


class Token(NamedTuple):  # a tuple: built for every capitalised word, so the cheapest to build
    text: str
    start: int
    end: int
    key: str  # the text casefolded
    connector: bool = False  # joins name words inside a group ("de", "of", "&"); a name word otherwise


class Mention(NamedTuple):  # a tuple: built for every name found, so the cheapest to build and to copy
    start: int
    end: int
    name: str
    type: str | None
    words: int  # capitalised words in the name (particles and joiners not counted)
    # Typed only by its shape or a list of personal names ("Coral Ledger": Coral is a first name): a type the
    # batch gives the same name by a firmer cue ("Coral Ledger Inc") overrides it.
    guessed: bool = False
    listed: bool = False  # typed by a packaged list of names, which a statistical model may overrule


def retyped(mention: Mention, entity_type: str | None, guessed: bool | None = None) -> Mention:
    """`mention._replace(type=entity_type[, guessed=guessed])`, built directly: _replace maps fields in Python, four
    times slower, and the second pass retypes thousands of mentions a batch."""
    is_guess = mention.guessed if guessed is None else guessed
    fields = (mention.start, mention.end, mention.name, entity_type, mention.words, is_guess, mention.listed)
    return tuple.__new__(Mention, fields)


def tokens(sentence: str) -> list[Token]:
    return [
        Token(text, match.start(), match.end(1), text.casefold())
        for match in TOKEN.finditer(sentence)
        for text in (match.group(1),)
    ]


_UPPER = "".join(re.escape(c) for c in map(chr, range(0x10000)) if c.isupper())
# The words TOKEN finds that start with a capital, found without tokenising the rest of the sentence: a word
# starts where no word character (nor one joined by a hyphen or apostrophe) stands before it.
# The capital comes first so that the engine scans for it, the look-behinds checking the character before it.
_CAPITALISED_WORD = (
    r"[" + _UPPER + r"](?<!\w.)(?<!\w[-'’].)(?:(?<=[A-Z])\.(?:[A-Z]\.)+|\w*(?:[-'’](?![sS](?![\w'’-]))\w+)*)"
)
CAPITALISED = re.compile(r"(" + _CAPITALISED_WORD + r")(?:['’][sS](?![\w'’-]))?")


def name_runs(connectors: frozenset[str]) -> re.Pattern[str]:
    """Runs of capitalised words that may form one name, the first word in group 1: words joined by a space, by
    ". " ("Dr. Zoë Okafor") or by one connector word ("Rio de Janeiro", "Marsh & Pike").

    Every name group lies inside one run, so grouping can work run by run; a run may still hold several groups
    (the full stop and "of" join only in context). `connectors` are casefolded; an ASCII word casefolds as a
    regex ignores case, and any word with another character joins a run too (a wider run, never a missed join:
    "straße" casefolds to "strasse").
    """
    words = "|".join(map(re.escape, sorted(connectors, key=len, reverse=True)))
    connector = f"(?i:{words})|\\S*[^\\x00-\\x7f]\\S*" if words else r"\S*[^\x00-\x7f]\S*"
    return re.compile(f"({_CAPITALISED_WORD})(?:(?: |\\. | (?:{connector}) ){_CAPITALISED_WORD})*")


_PART_SEPARATOR = re.compile(r"[-'’]")


def looks_like_name(text: str) -> bool:
    # Every hyphen/apostrophe part capitalised: "Jean-Luc", "O'Neill" yes; "Lisbon-based", "Kick-off" no.
    if "-" not in text and "'" not in text and "’" not in text:
        return text[:1].isupper()  # one part (most words): no split to make
    return all(part[:1].isupper() for part in _PART_SEPARATOR.split(text))


def word_runs(text: str) -> list[bytes] | list[str]:
    """`WORD_RUN` matches of the casefolded text, for set tests against `word_run_keys` of the same words.

    An ASCII text (most) is lower-cased and split in one translate of its bytes, several times faster than the
    regex; any other goes through the regex, as str.
    """
    if text.isascii():
        return text.encode().translate(_ASCII_WORD_BYTES).split()
    return WORD_RUN.findall(text.casefold())


def word_run_keys(words: set[str]) -> frozenset[str | bytes]:
    """Casefolded words as `word_runs` yields them: str for any text, bytes for an ASCII one."""
    return frozenset((*words, *(word.encode() for word in words if word.isascii())))
