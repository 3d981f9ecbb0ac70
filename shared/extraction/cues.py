"""The schema's cues for the rule extractor, compiled once: word lookups, the gazetteer, the packaged lists,
patterns and one trigger regex."""

import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from shared.extraction.lexicons import Key, lexicon
from shared.extraction.schema import NAME_PLACEHOLDER, ROLE_PLACEHOLDER, ExtractionSchema
from shared.extraction.tokens import WORD, WORD_RUN, Token, tokens, word_run_keys, word_runs

CANDIDATES_MEMO = 1 << 12  # trigger texts remembered with their relations; cleared when full
TRIGGER_MEMO = 1 << 14  # gaps holding a trigger's rare word, remembered with the trigger found; cleared when full
MEMO_CHARS = 200  # longer texts are not remembered: they seldom recur, and the memos' memory stays bounded
COORDINATORS = frozenset({",", "and", ", and", "&", "as well as"})
_COORDINATION_WORD = re.compile(r"[\w-]+|[,&]")


Split = tuple[list[Token], list[Token], str, list[Token]]  # before, the typed name, its type, after


@dataclass(frozen=True)
class Pattern:
    type: str
    before: re.Pattern[str] | None
    after: re.Pattern[str] | None
    name_tail: str  # the words after {name}, capitalised, appended to the name


def compile_pattern(pattern: str, entity_type: str) -> Pattern:
    before_text, after_text = pattern.split(NAME_PLACEHOLDER)
    before_words, after_words = before_text.split(), after_text.split()
    before = after = None
    if before_words:
        before = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, before_words)) + r"\s+$", re.IGNORECASE)
    if after_words:
        after = re.compile(r"\s+" + r"\s+".join(map(re.escape, after_words)) + r"(?!\w)", re.IGNORECASE)
    tail = " ".join(word[:1].upper() + word[1:] for word in after_words)
    return Pattern(entity_type, before, after, tail)


class Trigger(NamedTuple):  # a tuple of plain values: remembered per gap, and the garbage collector lets it go
    """A trigger phrase found in a gap, with the relations it may express (in schema order)."""

    start: int
    end: int
    candidates: tuple[tuple[str, bool], ...]  # (relation type, inverse)


class Cues:
    """The schema's cues compiled once: word lookups, the gazetteer, patterns and one trigger regex."""

    def __init__(self, schema: ExtractionSchema) -> None:
        self.titles: dict[str, str] = {}  # honorific or role word -> the type it marks
        self.roles: dict[str, str] = {}
        self.heads: dict[str, str] = {}
        self.suffixes: dict[str, str] = {}
        self.gazetteer: dict[tuple[str, ...], str] = {}
        self.patterns: list[Pattern] = []
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
                key = tuple(t.key for t in tokens(unicodedata.normalize("NFC", known)))
                self.gazetteer.setdefault(key, type_name)
            self.patterns.extend(compile_pattern(pattern, type_name) for pattern in cues.patterns)
        self.longest_known = max((len(key) for key in self.gazetteer), default=0)
        self.gazetteer_starts = frozenset(key[0] for key in self.gazetteer if key)
        # Every pattern has words after the name: one anchored regex of them all screens a mention first.
        afters = [pattern.after.pattern for pattern in self.patterns if pattern.after is not None]
        self.pattern_screen = (
            re.compile("|".join(afters), re.IGNORECASE) if afters and len(afters) == len(self.patterns) else None
        )
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
        self.team_type = next((name for name, spec in schema.entity_types.items() if spec.cues.score_teams), None)
        # The types a results line may retype as teams: any but the team type and those of people (a golfer's
        # "Ernie Els 66 69 70" stays a person).
        self.teamable = frozenset(
            name
            for name, spec in schema.entity_types.items()
            if name != self.team_type and not spec.cues.honorifics and not spec.cues.surname_aliases
        )
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
                return [max(WORD_RUN.findall(role), key=len) for role in role_words]
            return [max((run for word in phrase.split() for run in WORD_RUN.findall(word)), key=len)]

        keys = {key for phrase in phrases for key in key_words(phrase)}
        self._trigger_keys = word_run_keys(keys)
        self._shortest_key = min(map(len, keys), default=0)
        self._candidates_memo: dict[str, tuple[tuple[str, bool], ...]] = {}
        self._trigger_memo: dict[str, Trigger | None] = {}
        longest = max((len(WORD.findall(phrase.replace(ROLE_PLACEHOLDER, "x"))) for phrase in phrases), default=0)
        self._tail_words = longest + self.max_words_after_trigger

        def regex(phrase: str) -> str:
            words = [role_pattern if w == ROLE_PLACEHOLDER else re.escape(w) for w in phrase.split()]
            return r"\s+".join(words)

        # Literal phrases before templated ones, longer before shorter: the alternation takes the first that
        # matches at a position, and "is funded by" must win over "funded".
        ordered = sorted(phrases, key=lambda p: (ROLE_PLACEHOLDER in p, -len(p)))
        search = r"(?<!\w)(?:" + "|".join(regex(p) for p in ordered) + r")(?!\w)"
        self._trigger_search = re.compile(search, re.IGNORECASE)
        # The phrases are casefolded: an ASCII text lower-cased matches them at the same offsets without IGNORECASE,
        # under which the engine tries every alternative at every word (about five times slower).
        self._trigger_search_ascii = re.compile(search)
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
    def single_words(self) -> dict[str, tuple[str | None, bool, bool]]:
        """A one-word name's key -> (its type, typed by a packaged list, needs a locative before it), with the
        precedence of the whole-name cues (gazetteer, then `known`, then `known_in_context`); a title word maps to
        type None (alone, it names no one). Built once, so that a one-word group costs one look-up."""
        table: dict[str, tuple[str | None, bool, bool]] = {}
        for (word, *longer), entity_type in self.known_in_context.items():
            if not longer:
                table[word] = (entity_type, True, self.is_personal_word(word))
        for (word, *longer), entity_type in self.known.items():
            if not longer:
                table[word] = (entity_type, True, False)
        for (word, *longer), entity_type in self.gazetteer.items():
            if not longer:
                table[word] = (entity_type, False, False)
        table.update((word, (None, False, False)) for word in self.titles)
        return table

    @cached_property
    def locative_words(self) -> frozenset[str]:
        """Words whose name is typed by whether a locative stands before it ("in Florence"): a one-word name that
        needs one, and a personal word that is a whole known name (a split part of a longer group asks too)."""
        words = {word for word, (_, _, needs_locative) in self.single_words.items() if needs_locative}
        for table in (self.known, self.known_in_context):
            words.update(key[0] for key in table if len(key) == 1 and self.is_personal_word(key[0]))
        return frozenset(words)

    @cached_property
    def known_starts(self) -> frozenset[str]:
        """The first words of the `known` names: a group none of whose words is one holds none."""
        return frozenset(key[0] for key in self.known if key)

    @cached_property
    def _split_words(self) -> tuple[frozenset[str], frozenset[str]]:
        """(words that let a split apply wherever they stand in a group, those that do as its first word)."""
        anywhere = {*self.titles, *self.suffixes, *self.legal_suffixes, *self.gazetteer_starts, *self.known_starts}
        anywhere.update(key[0] for key in self.known_in_context if key)
        return frozenset(anywhere), frozenset({*self.heads, *self.first_words})

    def no_split_applies(self, keys: list[str]) -> bool:
        """Whether no split of a group of several words can apply, by its words' keys: none is a title or a suffix,
        none starts a name of the gazetteer or the packaged lists, and the first is neither a head nor a first name.

        MentionFinder's splits in one set test; the splits themselves decide when this says one may apply.
        """
        anywhere, first = self._split_words
        return keys[0] not in first and anywhere.isdisjoint(keys)

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

    def suffix_type(self, token: "Token") -> str | None:
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

    def may_hold_trigger(self, text: str) -> bool:
        """Whether the text holds a trigger's rare word: most gaps ("and", ",", "said") and many sentences do not."""
        return len(text) >= self._shortest_key and not self._trigger_keys.isdisjoint(word_runs(text))

    def last_trigger(self, gap: str) -> Trigger | None:
        """The trigger nearest the end of a gap, if few enough words follow it."""
        if not self.may_hold_trigger(gap):  # one set test instead of the alternation
            return None
        # Gaps recur ("works at", ", which is based in"): the alternation runs once per gap text.
        if gap in self._trigger_memo:
            return self._trigger_memo[gap]
        found = self._last_trigger(gap)
        if len(gap) > MEMO_CHARS:
            return found
        if len(self._trigger_memo) > TRIGGER_MEMO:
            self._trigger_memo.clear()
        self._trigger_memo[gap] = found
        return found

    def _last_trigger(self, gap: str) -> Trigger | None:
        # Only the gap's last words can hold it: at most max_words_after_trigger words follow a trigger.
        starts = [word.start() for word in WORD.finditer(gap)]
        offset = starts[-self._tail_words] if len(starts) > self._tail_words else 0
        tail = gap[offset:]
        if offset and self._trigger_keys.isdisjoint(word_runs(tail)):
            return None
        if not self._trigger_phrases:
            return None
        if tail.isascii():
            matches = list(self._trigger_search_ascii.finditer(tail.lower()))
        else:
            matches = list(self._trigger_search.finditer(tail))
        if not matches:
            return None
        match = matches[-1]
        if len(WORD.findall(tail[match.end() :])) > self.max_words_after_trigger:
            return None
        return Trigger(offset + match.start(), offset + match.end(), self._candidates(match.group()))

    def _candidates(self, found: str) -> tuple[tuple[str, bool], ...]:
        """The relations of every phrase the found text is (in schema order), remembered: triggers recur."""
        candidates = self._candidates_memo.get(found)
        if candidates is None:
            candidates = tuple(
                candidate
                for phrase, phrase_candidates in self._trigger_phrases
                if phrase.fullmatch(found)
                for candidate in phrase_candidates
            )
            if len(self._candidates_memo) > CANDIDATES_MEMO:
                self._candidates_memo.clear()
            self._candidates_memo[found] = candidates
        return candidates
