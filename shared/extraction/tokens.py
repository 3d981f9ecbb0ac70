"""Tokens and mentions of the rule extractor: the capitalised words of a sentence and the names made of them."""

import re
from typing import NamedTuple

# A word, "U.S." as one word, or "&"; a possessive "'s" is matched but left out of the word ("Okafor's team" names
# Okafor).
TOKEN = re.compile(r"((?:[A-Z]\.){2,}|\w+(?:[-'’](?![sS](?![\w'’-]))\w+)*|&)(?:['’][sS](?![\w'’-]))?")
WORD = re.compile(r"[\w-]+")
WORD_RUN = re.compile(r"\w+")


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
CAPITALISED = re.compile(
    r"([" + _UPPER + r"](?<!\w.)(?<!\w[-'’].)(?:(?<=[A-Z])\.(?:[A-Z]\.)+|\w*(?:[-'’](?![sS](?![\w'’-]))\w+)*))"
    r"(?:['’][sS](?![\w'’-]))?"
)


_PART_SEPARATOR = re.compile(r"[-'’]")


def looks_like_name(text: str) -> bool:
    # Every hyphen/apostrophe part capitalised: "Jean-Luc", "O'Neill" yes; "Lisbon-based", "Kick-off" no.
    return all(part[:1].isupper() for part in _PART_SEPARATOR.split(text))
