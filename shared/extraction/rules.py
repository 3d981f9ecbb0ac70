"""Rule-based extractor (DESIGN.md §5): typed mentions from the schema's cues, relations from trigger phrases.

Deterministic, pure Python, no model: the fallback when the LLM is unavailable and the embedded default.
A call reads its chunks twice. The first pass finds mentions (capitalised name sequences typed by honorifics,
heads, suffixes, the gazetteer and patterns), table-row cells and what the parser declared; the second types
what it can of the rest from the names typed anywhere in the batch, then links relations sentence by sentence
and row by row.
Precision matters more than recall: a relation needs a trigger phrase between two mentions whose types the
schema allows, and nothing is ever emitted outside the schema's triples.
"""

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import NamedTuple

from shared.domain import Chunk, Entity, Extraction, Link, Relation
from shared.domain.ids import canonical_name, entity_id, relation_id
from shared.extraction.lexicons import Key, lexicon
from shared.extraction.names import clean_name
from shared.extraction.schema import (
    NAME_PLACEHOLDER,
    ROLE_PLACEHOLDER,
    ExtractionSchema,
    normalise_header,
)

EVIDENCE_LIMIT = 300
MIN_WORDS_WITHOUT_CUE = 2  # a lone capitalised word is too often a sentence opener or a common noun
MAX_UNTYPED_WORDS = 4
MAX_GROUP_TOKENS = 16  # a longer capitalised run is a Title Case headline or junk, not a sequence of names
MAX_COOCCURRING = 12  # names of one sentence paired by co-occurrence: a longer list is a table, not a statement
MAX_LOOKBACK = 8  # mentions searched back from a trigger for the relation's other end
NAME_WORD_MEMO = 1 << 16  # words remembered as name words or not; cleared when full
CONTEXT_CHARS = 80  # how far before a mention cue words are looked for; keeps every look-behind bounded
COORDINATORS = frozenset({",", "and", ", and", "&", "as well as"})

# A word, "U.S." as one word, or "&"; a possessive "'s" is matched but left out of the word ("Okafor's team" names
# Okafor).
_TOKEN = re.compile(r"((?:[A-Z]\.){2,}|\w+(?:[-'’](?![sS](?![\w'’-]))\w+)*|&)(?:['’][sS](?![\w'’-]))?")
_WORD = re.compile(r"[\w-]+")
_WORD_RUN = re.compile(r"\w+")
_COORDINATION_WORD = re.compile(r"[\w-]+|[,&]")
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*\s+")
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_MARKDOWN_BLOCK_START = re.compile(r"^(?:#{1,6}\s|[-*+>]\s|\d+[.)]\s|\|)")
_HEADER_LINE = re.compile(r"^(?:\*\*|__)?(\w+(?: \w+){0,2}):(?:\*\*|__)?\s")
_MARKDOWN_LINE_MARKER = re.compile(r"^(?:#{1,6}|[-*+>]|\d+[.)])\s+")
# The text parser joins a paragraph's lines with spaces, so list items and table cells arrive inline.
_INLINE_BREAK = re.compile(r"\s+[-*+]\s+(?=\S)|\s*\|\s*")
_MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKDOWN_EMPHASIS = re.compile(r"\*\*|__|`")
_SPACES = re.compile(r"\s+")
_CLAUSE_END = re.compile(r"[,.;:()]")
_WORD_AFTER = re.compile(r"\s+([\w-]+)")
_ODD_SPACE = re.compile(r"\s\s|[^\S ]")  # two spaces or a space other than " "
_FIELD = re.compile(r"^\s*([^:;]{1,40}):\s*(.*?)\s*$")


# --- text units -------------------------------------------------------------------------------------------


def split_sentences(text: str, abbreviations: frozenset[str] = frozenset()) -> list[str]:
    """Sentences of a text: blank lines and Markdown structure end a block, then sentence ends split it."""
    sentences: list[str] = []
    for block in _blocks(unicodedata.normalize("NFC", text)):
        for piece in _INLINE_BREAK.split(block):
            sentences.extend(_sentences_in(_clean_markdown(piece), abbreviations))
    return sentences


def _blocks(text: str) -> Iterator[str]:
    lines: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if lines and (not line or _starts_block(line)):
            yield " ".join(lines)
            lines = []
        if line:
            lines.append(_MARKDOWN_LINE_MARKER.sub("", line, count=1))
        # Headings and table rows stand alone; a hard-wrapped paragraph line does not.
        if lines and (line.startswith(("#", "|"))):
            yield " ".join(lines)
            lines = []
    if lines:
        yield " ".join(lines)


def _starts_block(line: str) -> bool:
    # Markdown headings, list items, quotes and table rows; and memo headers ("From: …", "**Attendees:** …"),
    # whose capital keeps a hard-wrapped line such as "the calibration work: Kaito …" in its paragraph.
    header = _HEADER_LINE.match(line)
    return bool(_MARKDOWN_BLOCK_START.match(line) or (header and header.group(1)[:1].isupper()))


def _clean_markdown(block: str) -> str:
    if "](" in block:
        block = _MARKDOWN_LINK.sub(r"\1", block)
    if "*" in block or "_" in block or "`" in block:
        block = _MARKDOWN_EMPHASIS.sub("", block)
    return _SPACES.sub(" ", block).strip() if _ODD_SPACE.search(block) else block.strip()


def _sentences_in(block: str, abbreviations: frozenset[str]) -> list[str]:
    sentences, start = [], 0
    for end in _SENTENCE_END.finditer(block):
        if _is_sentence_boundary(block, end, abbreviations):
            sentences.append(block[start : end.end()].strip())
            start = end.end()
    if block[start:].strip():
        sentences.append(block[start:].strip())
    return sentences


def _is_sentence_boundary(block: str, end: re.Match[str], abbreviations: frozenset[str]) -> bool:
    following = block[end.end() : end.end() + 1]
    starts_sentence = following.isupper() or following.isdigit() or following in "\"“'‘("
    before = _WORD_BEFORE.search(block[max(0, end.start() - 40) : end.start()])
    word = before.group(1) if before else ""
    is_abbreviation = word.casefold() in abbreviations or (len(word) == 1 and word.isupper())
    return bool(following) and starts_sentence and not is_abbreviation


def _trim(text: str, limit: int = EVIDENCE_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- tokens and mentions ----------------------------------------------------------------------------------


class _Token(NamedTuple):  # a tuple: built for every capitalised word, so the cheapest to build
    text: str
    start: int
    end: int
    key: str  # the text casefolded
    connector: bool = False  # joins name words inside a group ("de", "of", "&"); a name word otherwise


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    name: str
    type: str | None
    words: int  # capitalised words in the name (particles and joiners not counted)
    # Typed only by its shape or a list of personal names ("Coral Ledger": Coral is a first name): a type the
    # batch gives the same name by a firmer cue ("Coral Ledger Inc") overrides it.
    guessed: bool = False
    listed: bool = False  # typed by a packaged list of names, which a statistical model may overrule


def _tokens(sentence: str) -> list[_Token]:
    return [
        _Token(text, match.start(), match.end(1), text.casefold())
        for match in _TOKEN.finditer(sentence)
        for text in (match.group(1),)
    ]


_UPPER = "".join(re.escape(c) for c in map(chr, range(0x10000)) if c.isupper())
# The words _TOKEN finds that start with a capital, found without tokenising the rest of the sentence: a word
# starts where no word character (nor one joined by a hyphen or apostrophe) stands before it.
# The capital comes first so that the engine scans for it, the look-behinds checking the character before it.
_CAPITALISED = re.compile(
    r"([" + _UPPER + r"](?<!\w.)(?<!\w[-'’].)(?:(?<=[A-Z])\.(?:[A-Z]\.)+|\w*(?:[-'’](?![sS](?![\w'’-]))\w+)*))"
    r"(?:['’][sS](?![\w'’-]))?"
)


def _capitalised_tokens(sentence: str) -> list[_Token]:
    return [
        _Token(text, match.start(), match.end(1), text.casefold())
        for match in _CAPITALISED.finditer(sentence)
        for text in (match.group(1),)
    ]


_PART_SEPARATOR = re.compile(r"[-'’]")


def _looks_like_name(text: str) -> bool:
    # Every hyphen/apostrophe part capitalised: "Jean-Luc", "O'Neill" yes; "Lisbon-based", "Kick-off" no.
    return all(part[:1].isupper() for part in _PART_SEPARATOR.split(text))


# The same names recur in every batch.
_canonical = lru_cache(maxsize=1 << 16)(canonical_name)
_entity_id = lru_cache(maxsize=1 << 16)(entity_id)


_Split = tuple[list[_Token], list[_Token], str, list[_Token]]  # before, the typed name, its type, after


@dataclass(frozen=True)
class _Pattern:
    type: str
    before: re.Pattern[str] | None
    after: re.Pattern[str] | None
    name_tail: str  # the words after {name}, capitalised, appended to the name


def _compile_pattern(pattern: str, entity_type: str) -> _Pattern:
    before_text, after_text = pattern.split(NAME_PLACEHOLDER)
    before_words, after_words = before_text.split(), after_text.split()
    before = after = None
    if before_words:
        before = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, before_words)) + r"\s+$", re.IGNORECASE)
    if after_words:
        after = re.compile(r"\s+" + r"\s+".join(map(re.escape, after_words)) + r"(?!\w)", re.IGNORECASE)
    tail = " ".join(word[:1].upper() + word[1:] for word in after_words)
    return _Pattern(entity_type, before, after, tail)


@dataclass(frozen=True)
class _Trigger:
    """A trigger phrase found in a gap, with the relations it may express (in schema order)."""

    start: int
    end: int
    candidates: tuple[tuple[str, bool], ...]  # (relation type, inverse)


class _Cues:
    """The schema's cues compiled once: word lookups, the gazetteer, patterns and one trigger regex."""

    def __init__(self, schema: ExtractionSchema) -> None:
        self.titles: dict[str, str] = {}  # honorific or role word -> the type it marks
        self.roles: dict[str, str] = {}
        self.heads: dict[str, str] = {}
        self.suffixes: dict[str, str] = {}
        self.gazetteer: dict[tuple[str, ...], str] = {}
        self.patterns: list[_Pattern] = []
        self.max_words: dict[str, int] = {}
        for type_name, spec in schema.entity_types.items():
            cues = spec.cues
            self.max_words[type_name] = cues.max_tokens
            for words, table in (
                (cues.honorifics, self.titles),
                (cues.roles, self.titles),
                (cues.roles, self.roles),
                (cues.heads, self.heads),
                (cues.suffixes, self.suffixes),
            ):
                table.update((word.casefold(), type_name) for word in words)
            for known in cues.gazetteer:
                key = tuple(t.key for t in _tokens(unicodedata.normalize("NFC", known)))
                self.gazetteer.setdefault(key, type_name)
            self.patterns.extend(_compile_pattern(pattern, type_name) for pattern in cues.patterns)
        self.longest_known = max((len(key) for key in self.gazetteer), default=0)
        text = schema.text
        self.stopwords = frozenset(word.casefold() for word in text.stopwords)
        self.honorifics = frozenset(
            word.casefold() for spec in schema.entity_types.values() for word in spec.cues.honorifics
        )
        self.abbreviations = frozenset(word.casefold() for word in text.abbreviations) | self.honorifics
        self.particles = frozenset(word.casefold() for word in (*text.name_particles, "&"))
        self.head_joiners = frozenset(word.casefold() for word in text.head_joiners)
        self.pronouns = frozenset(word.casefold() for word in text.pronouns)
        self.max_words_after_trigger = text.max_words_after_trigger
        self.locatives = frozenset(word.casefold() for word in text.locatives)
        self._lexicon_cues = {name: spec.cues.lexicons for name, spec in schema.entity_types.items()}
        self.speakers = {
            word.casefold(): name for name, spec in schema.entity_types.items() for word in spec.cues.speech_verbs
        }
        self.acronym_type = next((name for name, spec in schema.entity_types.items() if spec.cues.acronyms), None)
        self.surname_alias_types = frozenset(
            name for name, spec in schema.entity_types.items() if spec.cues.surname_aliases
        )
        self._compile_triggers(schema)

    def _compile_triggers(self, schema: ExtractionSchema) -> None:
        role_words = sorted(self.roles, key=len, reverse=True)
        role_pattern = "(?:" + "|".join(map(re.escape, role_words)) + ")" if role_words else "(?!)"
        phrases: dict[str, list[tuple[str, bool]]] = {}
        for relation_name, relation in schema.relation_types.items():
            for inverse, triggers in ((False, relation.triggers), (True, relation.inverse_triggers)):
                for phrase in triggers:
                    phrases.setdefault(phrase.casefold(), []).append((relation_name, inverse))

        # One word of every phrase, its longest: a gap holds a trigger only if it holds that word ("member" for
        # "is a member of"), and such words are rarer in a gap than "is" or "a".
        # A phrase with {role} is keyed on the role words: "{role} of" holds "of", which nearly every gap holds.
        def key_words(phrase: str) -> list[str]:
            if ROLE_PLACEHOLDER in phrase.split():
                return [max(_WORD_RUN.findall(role), key=len) for role in role_words]
            return [max((run for word in phrase.split() for run in _WORD_RUN.findall(word)), key=len)]

        self._trigger_keys = frozenset(key for phrase in phrases for key in key_words(phrase))
        longest = max((len(_WORD.findall(phrase.replace(ROLE_PLACEHOLDER, "x"))) for phrase in phrases), default=0)
        self._tail_words = longest + self.max_words_after_trigger

        def regex(phrase: str) -> str:
            words = [role_pattern if w == ROLE_PLACEHOLDER else re.escape(w) for w in phrase.split()]
            return r"\s+".join(words)

        # Literal phrases before templated ones, longer before shorter: the alternation takes the first that
        # matches at a position, and "is funded by" must win over "funded".
        ordered = sorted(phrases, key=lambda p: (ROLE_PLACEHOLDER in p, -len(p)))
        self._trigger_search = re.compile(
            r"(?<!\w)(?:" + "|".join(regex(p) for p in ordered) + r")(?!\w)", re.IGNORECASE
        )
        self._trigger_phrases = [
            (re.compile(regex(p), re.IGNORECASE), tuple(candidates)) for p, candidates in phrases.items()
        ]

    # The packaged lists (lexicons.py), built into lookups on first use: a schema that names none loads none.

    def _words_of(self, kind: str) -> dict[str, str]:
        table: dict[str, str] = {}
        for type_name, cues in self._lexicon_cues.items():
            for name in getattr(cues, kind):
                table.update((key[0], type_name) for key in lexicon(name) if len(key) == 1 and key[0] not in table)
        return table

    def _names_of(self, kind: str) -> dict[Key, str]:
        table: dict[Key, str] = {}
        for type_name, cues in self._lexicon_cues.items():
            for name in getattr(cues, kind):
                for key in lexicon(name):
                    table.setdefault(key, type_name)
        return table

    @cached_property
    def known(self) -> dict[Key, str]:
        """Whole names from the `known` lexicons -> type; the schema's own gazetteer is looked up first."""
        return self._names_of("known")

    @cached_property
    def known_in_context(self) -> dict[Key, str]:
        """Names from the `known_in_context` lexicons: only a whole group, and a personal one after a locative."""
        return self._names_of("known_in_context")

    @cached_property
    def longest_lexicon_name(self) -> int:
        return max((len(key) for key in self.known), default=0)

    @cached_property
    def first_words(self) -> dict[str, str]:
        return self._words_of("first_words")

    @cached_property
    def last_words(self) -> dict[str, str]:
        return self._words_of("last_words")

    @cached_property
    def legal_suffixes(self) -> dict[str, str]:
        return self._words_of("suffixes")

    def suffix_type(self, token: "_Token") -> str | None:
        """The type a name-final word marks: the schema's suffixes, then legal forms written as names are."""
        found = self.suffixes.get(token.key)
        if found is None and (token.text.isupper() or (len(token.text) > 2 and token.text[:1].isupper())):
            found = self.legal_suffixes.get(token.key)
        return found

    def is_personal_word(self, word: str) -> bool:
        return word in self.first_words or word in self.last_words

    def is_coordination(self, gap: str) -> bool:
        """Whether a gap only joins two names: "and", ",", also "and Dr." or "and engineer"."""
        words = _COORDINATION_WORD.findall(gap.casefold())
        while words and words[-1] in self.titles:
            words.pop()  # the title belongs to the next name
        return " ".join(words).replace(" ,", ",") in COORDINATORS

    def last_trigger(self, gap: str) -> _Trigger | None:
        """The trigger nearest the end of a gap, if few enough words follow it."""
        # Only the gap's last words can hold it: at most max_words_after_trigger words follow a trigger.
        starts = [word.start() for word in _WORD.finditer(gap)]
        offset = starts[-self._tail_words] if len(starts) > self._tail_words else 0
        tail = gap[offset:]
        if self._trigger_keys.isdisjoint(_WORD_RUN.findall(tail.casefold())):
            return None  # most gaps ("and", ",", "said") hold no trigger: one set test instead of the alternation
        matches = list(self._trigger_search.finditer(tail)) if self._trigger_phrases else []
        if not matches:
            return None
        match = matches[-1]
        if len(_WORD.findall(tail[match.end() :])) > self.max_words_after_trigger:
            return None
        candidates = tuple(
            candidate
            for phrase, phrase_candidates in self._trigger_phrases
            if phrase.fullmatch(match.group())
            for candidate in phrase_candidates
        )
        return _Trigger(offset + match.start(), offset + match.end(), candidates)


class _MentionFinder:
    """Finds capitalised name sequences in a sentence and types them by the schema's cues."""

    def __init__(self, cues: _Cues) -> None:
        self.cues = cues
        self._name_words: dict[str, bool] = {}  # word -> whether it can be part of a name (memo)

    def find(self, sentence: str) -> list[_Mention]:
        """Mentions of one sentence, in order; untyped ones are kept for the second pass."""
        mentions = []
        for group in self._name_groups(sentence):
            if len(group) > MAX_GROUP_TOKENS:
                continue
            for mention in self._classify(sentence, group):
                mentions.append(self._by_pattern(sentence, mention) if mention.type is None else mention)
        return mentions

    def _is_name_word(self, token: _Token) -> bool:
        known = self._name_words.get(token.text)
        if known is None:
            known = token.text[:1].isupper() and token.key not in self.cues.stopwords and _looks_like_name(token.text)
            if len(self._name_words) > NAME_WORD_MEMO:
                self._name_words.clear()
            self._name_words[token.text] = known
        return known

    def _name_groups(self, sentence: str) -> list[list[_Token]]:
        """Runs of name words, only the capitalised words of the sentence tokenised: what lies between two of
        them either continues a name (one space), joins it (one connector word between single spaces) or ends it.
        """
        groups: list[list[_Token]] = []
        current: list[_Token] = []
        for token in _capitalised_tokens(sentence):
            if not self._is_name_word(token):
                continue  # "Of" in "University Of Lisbon" may still join; the gap decides below
            if current:
                previous = current[-1]
                gap = sentence[previous.end : token.start]
                if gap == " " or (gap == ". " and previous.key in self.cues.honorifics):  # "Dr. Zoë Okafor"
                    current.append(token)
                    continue
                connector = self._connector(previous, gap)
                if connector is not None:
                    current.extend((connector, token))
                    continue
                groups.append(current)
            current = [token]
        if current:
            groups.append(current)
        return groups

    def _connector(self, previous: _Token, gap: str) -> _Token | None:
        # "Rio de Janeiro", "Marsh & Pike", and "of"/"for" only after a head word: "University of Lisbon".
        word = gap[1:-1]
        if len(gap) < 3 or gap[0] != " " or gap[-1] != " " or not _TOKEN.fullmatch(word):
            return None
        key = word.casefold()
        if key in self.cues.particles or (key in self.cues.head_joiners and previous.key in self.cues.heads):
            start = previous.end + 1
            return _Token(word, start, start + len(word), key, connector=True)
        return None

    def _is_connector_token(self, token: _Token) -> bool:
        return token.connector

    def _strip_connectors(self, group: list[_Token]) -> list[_Token]:
        start, end = 0, len(group)
        while start < end and self._is_connector_token(group[start]):
            start += 1
        while end > start and self._is_connector_token(group[end - 1]):
            end -= 1
        return group[start:end]

    def _word_count(self, group: list[_Token]) -> int:
        return sum(not token.connector for token in group)

    def _mention(
        self, sentence: str, group: list[_Token], entity_type: str | None, listed: bool = False, guessed: bool = False
    ) -> _Mention:
        start, end = group[0].start, group[-1].end
        return _Mention(start, end, sentence[start:end], entity_type, self._word_count(group), guessed, listed)

    def _first_words(self, group: list[_Token], count: int) -> int:
        """Index just past the first `count` name words of the group."""
        seen = 0
        for index, token in enumerate(group):
            seen += not self._is_connector_token(token)
            if seen == count:
                return index + 1
        return len(group)

    def _classify(self, sentence: str, group: list[_Token]) -> list[_Mention]:
        if len(group) == 1:
            return self._classify_word(sentence, group[0])
        group = self._strip_connectors(group)
        if not group:
            return []
        titled = self._split_by_title(sentence, group)
        if titled is not None:
            return titled
        # (split, typed by a packaged list, only guessed)
        splits: tuple[tuple[Callable[[list[_Token]], _Split | None], bool, bool], ...] = (
            (self._split_by_head, False, False),
            (self._split_by_suffix, False, False),
            (self._split_by_gazetteer, False, False),
            (lambda group: self._split_by_known_whole(sentence, group), True, False),
            (self._split_by_first_word, False, True),
            (self._split_by_lexicon, True, False),
        )
        for split, listed, guessed in splits:
            found = split(group)
            if found is not None:
                before, typed, entity_type, after = found
                return [
                    *self._classify(sentence, before),
                    self._mention(sentence, typed, entity_type, listed, guessed),
                    *self._classify(sentence, after),
                ]
        if self._word_count(group) > MAX_UNTYPED_WORDS:
            return []
        shape = self._type_by_shape(sentence, group)
        return [self._mention(sentence, group, shape, guessed=shape is not None)]

    def _classify_word(self, sentence: str, token: _Token) -> list[_Mention]:
        """`_classify` of a one-word group (most groups), the splits that can apply to one word, in their order."""
        if token.connector:
            return []
        if token.key in self.cues.titles:
            return []  # "Chairman" alone names no one
        key = (token.key,)
        cues = self.cues
        entity_type = cues.gazetteer.get(key) or cues.known.get(key)
        if entity_type is None:
            entity_type = cues.known_in_context.get(key)
            if (
                entity_type is not None
                and cues.is_personal_word(token.key)
                and not self._after_locative(sentence, token)
            ):
                entity_type = None  # "Florence" alone may be a person; "in Florence" is the city
        if entity_type is not None:
            listed = key not in cues.gazetteer
            return [_Mention(token.start, token.end, token.text, entity_type, 1, listed=listed)]
        shape = self._type_by_shape(sentence, [token])
        return [_Mention(token.start, token.end, token.text, shape, 1, guessed=shape is not None)]

    def _split_by_title(self, sentence: str, group: list[_Token]) -> list[_Mention] | None:
        """'Dr Zoë Okafor', 'Managing Director Amara Nwosu': the last title word marks the name after it."""
        titles = [index for index, token in enumerate(group) if token.key in self.cues.titles]
        if not titles:
            return None
        if all(token.key in self.cues.titles for token in group if not self._is_connector_token(token)):
            return []  # "Chief Scientist" alone names no one
        last = titles[-1]
        name = self._strip_connectors(group[last + 1 :])
        if not name or (len(name) == 1 and self.cues.suffix_type(name[0]) is not None):
            return None  # "Brightwater Labs CEO", "Executive Council": other cues type the whole group
        if self._split_by_head(name) or self._split_by_suffix(name):
            # "CEO Brightwater Labs" is an organisation, whatever stands in front of it.
            return [*self._classify(sentence, group[:last]), *self._classify(sentence, name)]
        entity_type = self.cues.titles[group[last].key]
        kept = self._first_words(name, self.cues.max_words[entity_type])
        return [
            *self._classify(sentence, group[:last]),
            self._mention(sentence, name[:kept], entity_type),
            *self._classify(sentence, name[kept:]),
        ]

    def _split_by_head(self, group: list[_Token]) -> _Split | None:
        entity_type = self.cues.heads.get(group[0].key)
        if entity_type is None or self._word_count(group) < 2:
            return None
        kept = self._first_words(group, self.cues.max_words[entity_type])
        return [], group[:kept], entity_type, group[kept:]

    def _split_by_suffix(self, group: list[_Token]) -> _Split | None:
        for index, token in enumerate(group):
            entity_type = self.cues.suffix_type(token) if index else None
            if entity_type is None:
                continue
            end = index + 1
            while end < len(group) and self.cues.suffix_type(group[end]) == entity_type:
                end += 1  # "Nordlicht Robotics GmbH": stacked suffixes stay in the name
            start = end
            while start > 0 and self._word_count(group[start - 1 : end]) <= self.cues.max_words[entity_type]:
                start -= 1
            return group[:start], group[start:end], entity_type, group[end:]
        return None

    def _split_by_gazetteer(self, group: list[_Token]) -> _Split | None:
        keys = [token.key for token in group]
        for length in range(min(self.cues.longest_known, len(group)), 0, -1):
            for start in range(len(group) - length + 1):
                entity_type = self.cues.gazetteer.get(tuple(keys[start : start + length]))
                if entity_type is not None:
                    return group[:start], group[start : start + length], entity_type, group[start + length :]
        return None

    def _split_by_known_whole(self, sentence: str, group: list[_Token]) -> _Split | None:
        """The whole group is a known name ("Santa Clara", "Florence"): no part of it names a person.

        A city of one word that is also a person's name ("Florence", "Jackson") needs a locative before it.
        """
        key = tuple(token.key for token in group)
        entity_type = self.cues.known.get(key) or self.cues.known_in_context.get(key)
        if entity_type is None:
            return None
        if len(key) == 1 and self.cues.is_personal_word(key[0]) and not self._after_locative(sentence, group[0]):
            return None
        return [], group, entity_type, []

    def _after_locative(self, sentence: str, token: _Token) -> bool:
        before = _WORD.findall(sentence[max(0, token.start - CONTEXT_CHARS) : token.start])
        return bool(before) and before[-1].casefold() in self.cues.locatives

    def _split_by_first_word(self, group: list[_Token]) -> _Split | None:
        """A known first name and at least one more name word: "Peter Blackburn", "Bill Clinton"."""
        entity_type = self.cues.first_words.get(group[0].key)
        if entity_type is None or self._word_count(group) < 2 or group[0].text.isupper():
            return None
        kept = self._first_words(group, self.cues.max_words[entity_type])
        return [], group[:kept], entity_type, group[kept:]

    def _split_by_lexicon(self, group: list[_Token]) -> _Split | None:
        """The longest `known` name inside the group ("Japan" in "JAPAN GET LUCKY WIN")."""
        keys = [token.key for token in group]
        for length in range(min(self.cues.longest_lexicon_name, len(group)), 0, -1):
            for start in range(len(group) - length + 1):
                entity_type = self.cues.known.get(tuple(keys[start : start + length]))
                if entity_type is not None:
                    return group[:start], group[start : start + length], entity_type, group[start + length :]
        return None

    def _type_by_shape(self, sentence: str, group: list[_Token]) -> str | None:
        """No cue typed the group: a known surname ending two or three words, or an acronym in running text."""
        words = [token for token in group if not self._is_connector_token(token)]
        if 2 <= len(words) <= 3 and not group[0].text.isupper():
            return self.cues.last_words.get(words[-1].key)
        acronym = words[0].text.replace(".", "") if len(words) == 1 else ""  # "U.N." too
        if 2 <= len(acronym) <= 5 and acronym.isupper() and acronym.isalpha() and not sentence.isupper():
            return self.cues.acronym_type
        return None

    def _by_pattern(self, sentence: str, mention: _Mention) -> _Mention:
        for pattern in self.cues.patterns:
            after = pattern.after.match(sentence, mention.end) if pattern.after else None
            if pattern.after is not None and after is None:
                continue  # the anchored test first: it fails for almost every mention
            context = sentence[max(0, mention.start - CONTEXT_CHARS) : mention.start]
            if pattern.before is None or pattern.before.search(context):
                end = after.end() if after else mention.end
                name = f"{mention.name} {pattern.name_tail}".strip()
                return replace(mention, end=end, name=name, type=pattern.type)
        return mention


# --- relations ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Link:
    source: _Mention  # typed
    relation: str
    target: _Mention  # typed
    moving: str  # the end at the later mention, "source" or "target"; the other end was found searching back

    def ends_with_later(self, mention: _Mention) -> tuple[_Mention, _Mention]:
        """(source, target) with the later end replaced: "funds Project Heron and Project Kestrel"."""
        return (mention, self.target) if self.moving == "source" else (self.source, mention)

    def ends_with_earlier(self, mention: _Mention) -> tuple[_Mention, _Mention]:
        """(source, target) with the earlier end replaced: "Zoë Okafor and Łukasz Nowak work at …"."""
        return (self.source, mention) if self.moving == "source" else (mention, self.target)


def _adopt_types(mentions: list[_Mention], positions: dict[tuple[int, int], int], links: list[_Link]) -> None:
    for typed in (end for link in links for end in (link.source, link.target)):
        index = positions[typed.start, typed.end]
        if mentions[index].type is None:
            mentions[index] = typed


class _Linker:
    """Relations inside one sentence: a trigger between two mentions whose types the schema allows."""

    def __init__(self, schema: ExtractionSchema, cues: _Cues) -> None:
        self.schema = schema
        self.cues = cues

    def links(self, sentence: str, mentions: list[_Mention]) -> list[_Link]:
        """Every relation the sentence states between its mentions."""
        links: list[_Link] = []
        if len(mentions) < 2:
            return links
        previous: list[_Link] = []
        mentions = list(mentions)  # typed in place as links infer types, so later links can use them
        positions = {(mention.start, mention.end): index for index, mention in enumerate(mentions)}
        for index in range(1, len(mentions)):
            gap = sentence[mentions[index - 1].end : mentions[index].start]
            if previous and self.cues.is_coordination(gap):
                # "funds Project Heron and Project Kestrel": the next mention shares the previous relation.
                current = [c for link in previous if (c := self._coordinate(link, mentions[index]))]
            else:
                current = self._triggered(sentence, mentions, index, gap)
            links.extend(current)
            previous = current
            _adopt_types(mentions, positions, current)
        return links

    def _triggered(self, sentence: str, mentions: list[_Mention], index: int, gap: str) -> list[_Link]:
        trigger = self.cues.last_trigger(gap)
        if trigger is None:
            return []
        trigger_start = mentions[index - 1].end + trigger.start
        later = mentions[index]
        # The other end is the nearest earlier mention that fits, never one behind a subject pronoun.
        searched_from = trigger_start
        for position in range(index - 1, max(index - 1 - MAX_LOOKBACK, -1), -1):
            earlier = mentions[position]
            if self._has_pronoun(sentence[earlier.end : searched_from]):
                return []
            searched_from = earlier.start
            link = self._first_fit(earlier, later, trigger.candidates, adjacent=position == index - 1)
            if link is not None:
                return [link, *self._coordinated_partners(sentence, mentions, position, link)]
        return []

    def _has_pronoun(self, text: str) -> bool:
        return any(word.casefold() in self.cues.pronouns for word in _WORD.findall(text))

    def _first_fit(
        self, earlier: _Mention, later: _Mention, candidates: tuple[tuple[str, bool], ...], adjacent: bool
    ) -> _Link | None:
        for relation, inverse in candidates:
            source, target = (later, earlier) if inverse else (earlier, later)
            link = self._typed_link(
                source, relation, target, moving="source" if inverse else "target", adjacent=adjacent
            )
            if link is not None:
                return link
        return None

    def _coordinated_partners(self, sentence: str, mentions: list[_Mention], position: int, link: _Link) -> list[_Link]:
        # "Zoë Okafor and Łukasz Nowak work at …": earlier mentions joined by "and" share the relation.
        partners = []
        for index in range(position - 1, max(position - 1 - MAX_LOOKBACK, -1), -1):
            if not self.cues.is_coordination(sentence[mentions[index].end : mentions[index + 1].start]):
                break
            source, target = link.ends_with_earlier(mentions[index])
            partner = self._typed_link(source, link.relation, target, moving=link.moving, adjacent=True)
            if partner is None:
                break
            partners.append(partner)
        return partners

    def _coordinate(self, link: _Link, mention: _Mention) -> _Link | None:
        source, target = link.ends_with_later(mention)
        return self._typed_link(source, link.relation, target, moving=link.moving, adjacent=True)

    def _typed_link(
        self, source: _Mention, relation: str, target: _Mention, *, moving: str, adjacent: bool
    ) -> _Link | None:
        types = self._fit(source, relation, target, adjacent)
        if types is None:
            return None
        return _Link(replace(source, type=types[0]), relation, replace(target, type=types[1]), moving)

    def _fit(self, source: _Mention, relation: str, target: _Mention, adjacent: bool) -> tuple[str, str] | None:
        """The (source type, target type) this relation gives the pair, or None when the schema refuses it.

        An untyped mention takes its type from the relation only when it sits right next to the trigger,
        has at least two words, and the schema leaves exactly one choice.
        """
        untyped = [mention for mention in (source, target) if mention.type is None]
        if untyped and not (adjacent and all(m.words >= MIN_WORDS_WITHOUT_CUE for m in untyped)):
            return None
        fitting = list(
            dict.fromkeys(
                (pair.source, pair.target)
                for pair in self.schema.relation_types[relation].between
                if source.type in (None, pair.source) and target.type in (None, pair.target)
            )
        )
        if len(fitting) == 1 or (fitting and not untyped):
            return fitting[0]
        return None


# --- collecting -------------------------------------------------------------------------------------------


@dataclass
class _EntityDraft:
    type: str
    names: dict[str, None] = field(default_factory=dict)  # ordered sets: first seen first
    chunk_ids: dict[str, None] = field(default_factory=dict)


@dataclass
class _RelationDraft:
    source_id: str
    type: str
    target_id: str
    evidence: str
    chunk_ids: dict[str, None] = field(default_factory=dict)


def _display_name(names: list[str]) -> str:
    """The first surface form that is not all capitals: "São Paulo" rather than a dateline's "SÃO PAULO"."""
    return next((name for name in names if not name.isupper()), names[0])


class _Collector:
    """Merges what a call finds: one entity per id, one relation per id, chunk ids and aliases unioned."""

    def __init__(self, schema: ExtractionSchema) -> None:
        self.schema = schema
        self.entities: dict[str, _EntityDraft] = {}
        self.relations: dict[str, _RelationDraft] = {}

    def entity(self, entity_type: str, name: str, chunk_id: str) -> str | None:
        if entity_type not in self.schema.entity_types or not _canonical(name):
            return None
        key = _entity_id(entity_type, name)
        draft = self.entities.setdefault(key, _EntityDraft(entity_type))
        draft.names[name] = None
        draft.chunk_ids[chunk_id] = None
        return key

    def relation(
        self,
        source: tuple[str, str],
        relation: str,
        target: tuple[str, str],
        chunk_id: str,
        evidence: str,
    ) -> None:
        """Record a relation between (type, name) ends; the one gate that refuses triples outside the schema."""
        if not self.schema.allows(source[0], relation, target[0]):
            return
        source_id, target_id = self.entity(*source, chunk_id), self.entity(*target, chunk_id)
        if source_id is None or target_id is None or source_id == target_id:
            return
        if self.schema.relation_types[relation].symmetric and target_id < source_id:
            source_id, target_id = target_id, source_id  # one edge whichever way round it was written
        key = relation_id(source_id, relation, target_id)
        draft = self.relations.setdefault(key, _RelationDraft(source_id, relation, target_id, _trim(evidence)))
        draft.chunk_ids[chunk_id] = None

    def extraction(self) -> Extraction:
        entities = [
            Entity(
                entity_id=key,
                type=draft.type,
                name=_display_name(list(draft.names)),
                aliases=[name for name in draft.names if name != _display_name(list(draft.names))],
                chunk_ids=list(draft.chunk_ids),
            )
            for key, draft in self.entities.items()
        ]
        relations = [
            Relation(
                relation_id=key,
                source_id=draft.source_id,
                type=draft.type,
                target_id=draft.target_id,
                chunk_ids=list(draft.chunk_ids),
                evidence=draft.evidence,
            )
            for key, draft in self.relations.items()
        ]
        return Extraction(entities=entities, relations=relations)


# --- the extractor ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Sentence:
    text: str
    mentions: list[_Mention]


@dataclass(frozen=True)
class _Reading:
    """What the first pass found in one chunk."""

    chunk_id: str
    cells: dict[str, tuple[str, str]]  # column role -> (entity type, name)
    text: str  # the chunk text, evidence for row and declared relations
    sentences: list[_Sentence]
    declared: list[tuple[str, str]] = field(default_factory=list)  # (type, name) the parser read off the input
    declared_links: list[Link] = field(default_factory=list)


class RuleBasedExtractor:
    """Extractor driven by the schema's cues and triggers: deterministic, offline, no model."""

    name = "rules"

    def __init__(self, schema: ExtractionSchema) -> None:
        self.schema = schema
        self._cues = _Cues(schema)
        self._finder = _MentionFinder(self._cues)
        self._linker = _Linker(schema, self._cues)
        self._cooccurring = [name for name, relation in schema.relation_types.items() if relation.cooccurrence]
        self._column_roles = {
            normalise_header(header): role for role, column in schema.columns.items() for header in column.headers
        }

    def extract(self, chunks: Sequence[Chunk]) -> Extraction:
        """Typed entities and allowed relations found in the chunks, merged by id."""
        readings = [reading for chunk in chunks for reading in self._read(chunk)]
        lexicon = self._lexicon(readings)
        collector = _Collector(self.schema)
        for reading in readings:
            self._collect_row(reading, collector)
            for sentence in reading.sentences:
                self._collect_sentence(reading.chunk_id, sentence, lexicon, collector)
        return collector.extraction()

    # First pass.

    def _read(self, chunk: Chunk) -> list[_Reading]:
        """One reading per row the chunk packs (each row's cells relate only among themselves), else its text."""
        rows = [entry.fields for entry in chunk.records if entry.fields]
        if rows:
            readings = [self._read_fields(chunk.chunk_id, fields, "") for fields in rows]
        else:
            fields = self._fields_in_text(chunk.text)
            reading = self._read_fields(chunk.chunk_id, fields, chunk.text) if fields else None
            readings = [reading or _Reading(chunk.chunk_id, {}, chunk.text, self._sentences(chunk.text))]
        for entry in chunk.records:
            readings[0].declared.extend((mention.type, mention.name) for mention in entry.mentions)
            readings[0].declared_links.extend(entry.links)
        return readings

    def _read_fields(self, chunk_id: str, fields: Mapping[str, str], text: str) -> _Reading:
        cells: dict[str, tuple[str, str]] = {}
        prose: list[_Sentence] = []
        for header, value in fields.items():
            role = self._column_roles.get(normalise_header(header))
            if role is None:
                prose.extend(self._sentences(value))  # an unmapped cell may still name things
                continue
            entity_type = self.schema.columns[role].type
            name = self._clean_cell(value, entity_type)
            if name and role not in cells:
                cells[role] = (entity_type, name)
        text = text or "; ".join(f"{header}: {value}" for header, value in fields.items() if value)
        return _Reading(chunk_id, cells, text, prose)

    def _sentences(self, text: str) -> list[_Sentence]:
        return [
            _Sentence(sentence, self._finder.find(sentence))
            for sentence in split_sentences(text, self._cues.abbreviations)
        ]

    def _fields_in_text(self, text: str) -> dict[str, str]:
        """A table row serialised as "header: value; header: value", when no fields came with the chunk."""
        if ";" not in text or ":" not in text:
            return {}  # prose, the usual case: no need to split it
        parts = [_FIELD.match(part) for part in text.split(";")]
        if len(parts) < 2 or not all(parts):
            return {}
        fields = {match.group(1).strip(): match.group(2) for match in parts if match}
        if not any(normalise_header(header) in self._column_roles for header in fields):
            return {}
        return fields

    def _clean_cell(self, value: str, entity_type: str) -> str | None:
        return clean_name(value, entity_type, self._cues.titles)

    def _lexicon(self, readings: list[_Reading]) -> dict[str, tuple[str, bool]]:
        """Names typed anywhere in the batch -> (their type, whether a firm cue typed it), when unambiguous.

        Firm: a cue, a column or the parser, and an organisation's name without its legal form ("Coral Ledger"
        after "Coral Ledger Inc"). A name only guessed (by its shape or a list of personal names), and a person's
        surname ("Blackburn" after "Peter Blackburn"), count when nothing firm typed it.
        """
        firm: dict[str, set[str]] = {}
        guessed: dict[str, set[str]] = {}
        surnames: dict[str, set[str]] = {}
        without_form: dict[str, set[str]] = {}
        for reading in readings:
            named = [(t, n, False) for t, n in (*reading.declared, *reading.cells.values())]
            found = [(m.type, m.name, m.guessed) for s in reading.sentences for m in s.mentions if m.type is not None]
            for entity_type, name, is_guess in [*named, *found]:
                key = _canonical(name)
                (guessed if is_guess else firm).setdefault(key, set()).add(entity_type)
                if " " not in key:
                    continue
                head, last = key.rsplit(" ", 1)
                if entity_type in self._cues.surname_alias_types:
                    surnames.setdefault(last, set()).add(entity_type)
                elif not is_guess and last in self._cues.legal_suffixes:
                    without_form.setdefault(head, set()).add(entity_type)
        table = {name: (next(iter(found)), False) for name, found in {**surnames, **guessed}.items() if len(found) == 1}
        for names in (without_form, firm):  # firm names last: they win
            table.update((name, (next(iter(found)), True)) for name, found in names.items() if len(found) == 1)
        return table

    # Second pass.

    def _collect_row(self, reading: _Reading, collector: _Collector) -> None:
        for entity_type, name in reading.cells.values():
            collector.entity(entity_type, name, reading.chunk_id)
        for rule in self.schema.column_relations:
            present = rule.source in reading.cells and rule.target in reading.cells
            if present and not any(role in reading.cells for role in rule.unless):
                collector.relation(
                    reading.cells[rule.source],
                    rule.type,
                    reading.cells[rule.target],
                    reading.chunk_id,
                    reading.text,
                )

    def _collect_sentence(
        self, chunk_id: str, sentence: _Sentence, lexicon: Mapping[str, tuple[str, bool]], collector: _Collector
    ) -> None:
        mentions = [self._typed(sentence.text, mention, lexicon) for mention in sentence.mentions]
        for mention in mentions:
            if mention.type is not None:
                collector.entity(mention.type, mention.name, chunk_id)
        linked: set[frozenset[tuple[str, str]]] = set()
        for link in self._linker.links(sentence.text, mentions):
            source = (link.source.type or "", link.source.name)
            target = (link.target.type or "", link.target.name)
            collector.relation(source, link.relation, target, chunk_id, sentence.text)
            linked.add(frozenset((source, target)))
        if self._cooccurring:
            self._collect_cooccurrence(chunk_id, sentence.text, mentions, linked, collector)

    def _collect_cooccurrence(
        self,
        chunk_id: str,
        sentence: str,
        mentions: list[_Mention],
        linked: set[frozenset[tuple[str, str]]],
        collector: _Collector,
    ) -> None:
        """The schema's co-occurrence relations between typed mentions of one sentence that no trigger linked."""
        ends = list(dict.fromkeys((m.type, m.name) for m in mentions if m.type is not None))[:MAX_COOCCURRING]
        for index, first in enumerate(ends):
            for second in ends[index + 1 :]:
                if first == second or frozenset((first, second)) in linked:
                    continue
                for relation in self._cooccurring:
                    if self.schema.allows(first[0], relation, second[0]):
                        collector.relation(first, relation, second, chunk_id, sentence)
                        break
                    if self.schema.allows(second[0], relation, first[0]):
                        collector.relation(second, relation, first, chunk_id, sentence)
                        break

    def _typed(self, sentence: str, mention: _Mention, lexicon: Mapping[str, tuple[str, bool]]) -> _Mention:
        if mention.type is not None and not mention.guessed:
            return mention
        known, firm = lexicon.get(_canonical(mention.name), (None, False))
        if mention.type is not None:
            return replace(mention, type=known) if firm and known is not None else mention
        if known is not None:
            return replace(mention, type=known)
        if mention.words < MIN_WORDS_WITHOUT_CUE:
            return mention  # "Okafor said": a lone word stays unclaimed
        role = self._role_nearby(sentence, mention)
        if role is not None:
            return replace(mention, type=role)
        after = _WORD_AFTER.match(sentence, mention.end)
        speaker = self._cues.speakers.get(after.group(1).casefold()) if after else None
        return mention if speaker is None else replace(mention, type=speaker, guessed=True)

    def _role_nearby(self, sentence: str, mention: _Mention) -> str | None:
        """The type a role word marks next to the name: "engineer Tomás Ferreira", "Zoë Okafor, chief …"."""
        before = _WORD.findall(sentence[max(0, mention.start - CONTEXT_CHARS) : mention.start])[-1:]
        after = sentence[mention.end : mention.end + CONTEXT_CHARS]
        apposition = _CLAUSE_END.split(after[1:], maxsplit=1)[0].split()[:4] if after[:1] == "," else []
        for word in [*before, *apposition]:
            entity_type = self._cues.roles.get(word.casefold())
            if entity_type is not None:
                return entity_type
        return None
