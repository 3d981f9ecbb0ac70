"""Mentions of one sentence: runs of capitalised name words, split and typed by the schema's cues."""

import re
from typing import Any

from shared.extraction.cues import MEMO_CHARS, Cues, Split
from shared.extraction.tokens import CAPITALISED, TOKEN, WORD, Mention, Token, looks_like_name, name_runs, retyped

# " 2", " 10 7 2 1": small whole numbers right after a name; not "1996", "2.5", "6-3" or "2nd".
_SCORE = r" \d{1,3}(?!\w|[.,:/-]\d)"
_SCORES = re.compile(f"(?:{_SCORE})+")
_ANY_SCORE = re.compile(_SCORE)
MAX_UNTYPED_WORDS = 4
MAX_GROUP_TOKENS = 16  # a longer capitalised run is a Title Case headline or junk, not a sequence of names
NAME_WORD_MEMO = 1 << 16  # words remembered as name words or not; cleared when full
GROUP_MEMO = 1 << 15  # groups of several words remembered with their mentions; cleared when full
RUN_MEMO = 1 << 15  # runs of capitalised words remembered with their mentions; cleared when full
Relative = tuple[Any, ...]  # a Mention's fields, offsets from the start of its run
RunMemo = dict[str, tuple[Relative, ...]]
CONTEXT_CHARS = 80  # how far before a mention cue words are looked for; keeps every look-behind bounded


class MentionFinder:
    """Finds capitalised name sequences in a sentence and types them by the schema's cues."""

    def __init__(self, cues: Cues) -> None:
        self.cues = cues
        # Capitalised word -> its key (casefolded) when it can be part of a name, else "" (memo).
        self._name_words: dict[str, str] = {}
        # (group text, locative before it, sentence all capitals) -> its mentions, offsets from the group's start.
        self._groups: dict[tuple[str, bool, bool], tuple[Relative, ...]] = {}
        # [sentence all capitals][run text] -> its mentions, offsets from the run's start; and by whether a
        # locative stands before it too, for the runs whose first word needs to know ("in Florence"). Keyed on the
        # text alone, a string: no tuple to build per run, and nothing the garbage collector has to follow.
        self._runs: tuple[RunMemo, RunMemo] = ({}, {})
        self._runs_in_context: dict[tuple[bool, bool], RunMemo] = {
            (shouting, after): {} for shouting in (False, True) for after in (False, True)
        }
        self._name_run = name_runs(cues.particles | cues.head_joiners)

    def find(self, sentence: str) -> list[Mention]:
        """Mentions of one sentence, in order; untyped ones are kept for the second pass."""
        mentions = []
        shouting = sentence.isupper()  # acronyms are no cue in a sentence all in capitals
        runs = self._runs[shouting]
        screen = self.cues.pattern_screen
        new = tuple.__new__  # skips the NamedTuple's __new__, a Python function: this builds most mentions
        for run in self._name_run.finditer(sentence):
            found = runs.get(run.group())  # most runs: seen before, one look-up
            if found is None:
                found = self._run_mentions(sentence, run, shouting)
            start = run.start()
            for relative in found:
                mention = new(Mention, (relative[0] + start, relative[1] + start, *relative[2:]))
                # One anchored test of every pattern's words after an untyped name first: it almost always fails.
                if relative[3] is None and (screen is None or screen.match(sentence, mention.end)):
                    mention = self._by_pattern(sentence, mention)
                mentions.append(mention)
        # The score test anywhere first: most sentences with digits hold no score ("1996", "2.5").
        if self.cues.team_type is not None and _ANY_SCORE.search(sentence):
            return self._teams(sentence, mentions, self.cues.team_type)
        return mentions

    def _run_mentions(self, sentence: str, run: re.Match[str], shouting: bool) -> tuple[Relative, ...]:
        """The mentions of one run of capitalised words, classified once: the same runs recur sentence after sentence.

        What classifying a run reads besides its own text: whether the sentence is all capitals, and whether a
        locative stands before it when its first word is a name that needs one; every other context it reads lies
        inside the run. Both are in a key; mentions are kept relative to the run's start (patterns and scores,
        which read what follows, are applied afterwards).
        """
        start = run.start()
        first_word = run.group(1)
        key = self._name_words.get(first_word)
        if key is None:
            key = self._name_key(first_word)
        in_context = key in self.cues.locative_words
        after_locative = in_context and self._after_locative(sentence, start)
        memo = self._runs_in_context[shouting, after_locative] if in_context else self._runs[shouting]
        text = run.group()
        found = memo.get(text)
        if found is None:
            if run.end(1) == run.end():  # one word (most runs): no grouping to do
                classified = []  # a word that cannot be part of a name names nothing
                if key:
                    token = tuple.__new__(Token, (first_word, start, run.end(), key, False))
                    classified = self._classify_word(sentence, token)
            else:
                classified = self._classify_run(sentence, run, shouting)
            # Flat tuples, not lists: a tuple of plain values leaves the garbage collector's care once examined.
            # Containers that survive bring the next full collection sooner, and one costs 30-60 ms in this process.
            found = tuple([(m.start - start, m.end - start, *m[2:]) for m in classified])
            if len(text) > MEMO_CHARS:
                return found
            if len(memo) > RUN_MEMO:
                memo.clear()
            memo[text] = found
        return found

    def _classify_run(self, sentence: str, run: re.Match[str], shouting: bool) -> list[Mention]:
        found: list[Mention] = []
        for group in self._name_groups(sentence, run.start(), run.end()):
            if len(group) == 1:  # most groups: one word, typed by one look-up
                found.extend(self._classify_word(sentence, group[0]))
            elif len(group) <= MAX_GROUP_TOKENS:
                found.extend(self._classify_group(sentence, group, shouting))
        return found

    def _teams(self, sentence: str, mentions: list[Mention], team_type: str) -> list[Mention]:
        """Sports results: "Barcelona 2 Valencia 1" (two names before scores) or a standings row "Barcelona 10 7 2
        1 22 9 23" (a name before three numbers or more) name teams, though the names are places."""
        scored: dict[int, int] = {}  # mention index -> how many numbers follow it
        for index, mention in enumerate(mentions):
            if mention.type is None or mention.type in self.cues.teamable:
                numbers = _SCORES.match(sentence, mention.end)
                if numbers:
                    scored[index] = numbers.group().count(" ")  # one space before each number
        if len(scored) < 2 and not any(count >= 3 for count in scored.values()):
            return mentions
        return [retyped(m, team_type, guessed=False) if i in scored else m for i, m in enumerate(mentions)]

    def _classify_group(self, sentence: str, group: list[Token], shouting: bool) -> list[Mention]:
        """`_classify` of a group of several words, remembered: the same names recur batch after batch.

        What the classification reads besides the group's own text: whether a locative stands before it (only for
        a first word that needs one) and whether the sentence is all capitals (acronyms). Both are in the key;
        the mentions are kept relative to the group's start.
        """
        start, end = group[0].start, group[-1].end
        first = self.cues.single_words.get(group[0].key)
        after_locative = first is not None and first[2] and self._after_locative(sentence, group[0].start)
        key = (sentence[start:end], after_locative, shouting)
        found = self._groups.get(key)
        if found is None:
            found = tuple([(m.start - start, m.end - start, *m[2:]) for m in self._classify(sentence, group)])
            if len(self._groups) > GROUP_MEMO:
                self._groups.clear()
            self._groups[key] = found
        return [tuple.__new__(Mention, (m[0] + start, m[1] + start, *m[2:])) for m in found]

    def _name_key(self, text: str) -> str:
        key = text.casefold()
        if key in self.cues.stopwords or not looks_like_name(text):
            key = ""
        if len(self._name_words) > NAME_WORD_MEMO:
            self._name_words.clear()
        self._name_words[text] = key
        return key

    def _name_groups(self, sentence: str, start: int, end: int) -> list[list[Token]]:
        """Groups of name words in sentence[start:end], only its capitalised words tokenised: what lies between two
        of them either continues a name (one space), joins it (one connector word between single spaces) or ends it.
        """
        groups: list[list[Token]] = []
        current: list[Token] = []
        name_words = self._name_words
        honorifics = self.cues.honorifics
        previous_end = -1
        # Not `endpos`: a word's look-aheads read past the run's end ("JAMES'S’" is one word, "JAMES'S" a possessive).
        for match in CAPITALISED.finditer(sentence, start):
            if match.start() >= end:
                break
            text = match.group(1)
            key = name_words.get(text)
            if key is None:
                key = self._name_key(text)
            if not key:
                continue  # "Of" in "University Of Lisbon" may still join; the gap decides below
            start = match.start()
            token = tuple.__new__(Token, (text, start, match.end(1), key, False))  # no Python __new__ to run
            if current:
                if start == previous_end + 1 and sentence[previous_end] == " ":
                    current.append(token)
                    previous_end = token.end
                    continue
                previous = current[-1]
                gap = sentence[previous_end:start]
                if gap == ". " and previous.key in honorifics:  # "Dr. Zoë Okafor"
                    current.append(token)
                    previous_end = token.end
                    continue
                connector = self._connector(previous, gap)
                if connector is not None:
                    current.extend((connector, token))
                    previous_end = token.end
                    continue
                groups.append(current)
            current = [token]
            previous_end = token.end
        if current:
            groups.append(current)
        return groups

    def _connector(self, previous: Token, gap: str) -> Token | None:
        # "Rio de Janeiro", "Marsh & Pike", and "of"/"for" only after a head word: "University of Lisbon".
        word = gap[1:-1]
        if len(gap) < 3 or gap[0] != " " or gap[-1] != " ":
            return None
        key = word.casefold()
        joins = key in self.cues.particles or (key in self.cues.head_joiners and previous.key in self.cues.heads)
        if joins and TOKEN.fullmatch(word):
            start = previous.end + 1
            return Token(word, start, start + len(word), key, connector=True)
        return None

    def _strip_connectors(self, group: list[Token]) -> list[Token]:
        if not group or (not group[0].connector and not group[-1].connector):
            return group  # most groups: a connector only ever stands inside (groups are not changed once built)
        start, end = 0, len(group)
        while start < end and group[start].connector:
            start += 1
        while end > start and group[end - 1].connector:
            end -= 1
        return group[start:end]

    def _word_count(self, group: list[Token]) -> int:
        count = len(group)
        for token in group:
            if token.connector:
                count -= 1
        return count

    def _mention(
        self, sentence: str, group: list[Token], entity_type: str | None, listed: bool = False, guessed: bool = False
    ) -> Mention:
        start, end = group[0].start, group[-1].end
        fields = (start, end, sentence[start:end], entity_type, self._word_count(group), guessed, listed)
        return tuple.__new__(Mention, fields)

    def _first_words(self, group: list[Token], count: int) -> int:
        """Index just past the first `count` name words of the group."""
        seen = 0
        for index, token in enumerate(group):
            seen += not token.connector
            if seen == count:
                return index + 1
        return len(group)

    def _classify(self, sentence: str, group: list[Token]) -> list[Mention]:
        if len(group) == 1:
            return self._classify_word(sentence, group[0])
        group = self._strip_connectors(group)
        if not group:
            return []
        if self.cues.no_split_applies([token.key for token in group]):
            return self._untyped(sentence, group)  # most new groups: no word of theirs is a cue
        titled = self._split_by_title(sentence, group)
        if titled is not None:
            return titled
        # The splits in their order; the mention records whether a packaged list typed it (listed) or only a list
        # of personal names did (guessed). A split is a 4-tuple, never empty: `or` takes the first that applies.
        listed = guessed = False
        found = self._split_by_head(group) or self._split_by_suffix(group) or self._split_by_gazetteer(group)
        if found is None:
            found, listed = self._split_by_known_whole(sentence, group), True
        if found is None:
            found, listed, guessed = self._split_by_first_word(group), False, True
        if found is None:
            found, listed, guessed = self._split_by_lexicon(group), True, False
        if found is None:
            return self._untyped(sentence, group)
        before, typed, entity_type, after = found
        mention = self._mention(sentence, typed, entity_type, listed, guessed)
        if not before and not after:
            return [mention]  # the whole group: nothing left to classify
        return [*self._classify(sentence, before), mention, *self._classify(sentence, after)]

    def _untyped(self, sentence: str, group: list[Token]) -> list[Mention]:
        """A group no split applies to: one mention typed by its shape at most, none if it is too long."""
        if self._word_count(group) > MAX_UNTYPED_WORDS:
            return []
        shape = self._type_by_shape(sentence, group)
        return [self._mention(sentence, group, shape, guessed=shape is not None)]

    def _classify_word(self, sentence: str, token: Token) -> list[Mention]:
        """`_classify` of a one-word group (most groups), the splits that can apply to one word, in their order."""
        if token.connector:
            return []
        known = self.cues.single_words.get(token.key)
        if known is not None:
            entity_type, listed, needs_locative = known
            if entity_type is None:
                return []  # "Chairman" alone names no one
            # "Florence" alone may be a person; "in Florence" is the city.
            if not needs_locative or self._after_locative(sentence, token.start):
                return [tuple.__new__(Mention, (token.start, token.end, token.text, entity_type, 1, False, listed))]
        shape = self._acronym_type(sentence, token.text)
        return [tuple.__new__(Mention, (token.start, token.end, token.text, shape, 1, shape is not None, False))]

    def _split_by_title(self, sentence: str, group: list[Token]) -> list[Mention] | None:
        """'Dr Zoë Okafor', 'Managing Director Amara Nwosu': the last title word marks the name after it."""
        titles = self.cues.titles
        last = -1
        for index, token in enumerate(group):
            if token.key in titles:
                last = index
        if last < 0:
            return None
        if all(token.key in titles for token in group if not token.connector):
            return []  # "Chief Scientist" alone names no one
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

    def _split_by_head(self, group: list[Token]) -> Split | None:
        entity_type = self.cues.heads.get(group[0].key)
        if entity_type is None or self._word_count(group) < 2:
            return None
        kept = self._first_words(group, self.cues.max_words[entity_type])
        return [], group[:kept], entity_type, group[kept:]

    def _split_by_suffix(self, group: list[Token]) -> Split | None:
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

    def _split_by_gazetteer(self, group: list[Token]) -> Split | None:
        keys = [token.key for token in group]
        if self.cues.gazetteer_starts.isdisjoint(keys):
            return None  # most groups: no name of the gazetteer starts at any of its words
        for length in range(min(self.cues.longest_known, len(group)), 0, -1):
            for start in range(len(group) - length + 1):
                entity_type = self.cues.gazetteer.get(tuple(keys[start : start + length]))
                if entity_type is not None:
                    return group[:start], group[start : start + length], entity_type, group[start + length :]
        return None

    def _split_by_known_whole(self, sentence: str, group: list[Token]) -> Split | None:
        """The whole group is a known name ("Santa Clara", "Florence"): no part of it names a person.

        A city of one word that is also a person's name ("Florence", "Jackson") needs a locative before it.
        """
        key = tuple(token.key for token in group)
        entity_type = self.cues.known.get(key) or self.cues.known_in_context.get(key)
        if entity_type is None:
            return None
        if len(key) == 1 and self.cues.is_personal_word(key[0]) and not self._after_locative(sentence, group[0].start):
            return None
        return [], group, entity_type, []

    def _after_locative(self, sentence: str, start: int) -> bool:
        before = WORD.findall(sentence[max(0, start - CONTEXT_CHARS) : start])
        return bool(before) and before[-1].casefold() in self.cues.locatives

    def _split_by_first_word(self, group: list[Token]) -> Split | None:
        """A known first name and at least one more name word: "Peter Blackburn", "Bill Clinton"."""
        entity_type = self.cues.first_words.get(group[0].key)
        if entity_type is None or self._word_count(group) < 2 or group[0].text.isupper():
            return None
        kept = self._first_words(group, self.cues.max_words[entity_type])
        return [], group[:kept], entity_type, group[kept:]

    def _split_by_lexicon(self, group: list[Token]) -> Split | None:
        """The longest `known` name inside the group ("Japan" in "JAPAN GET LUCKY WIN")."""
        keys = [token.key for token in group]
        if self.cues.known_starts.isdisjoint(keys):
            return None  # no known name starts at any of its words
        for length in range(min(self.cues.longest_lexicon_name, len(group)), 0, -1):
            for start in range(len(group) - length + 1):
                entity_type = self.cues.known.get(tuple(keys[start : start + length]))
                if entity_type is not None:
                    return group[:start], group[start : start + length], entity_type, group[start + length :]
        return None

    def _type_by_shape(self, sentence: str, group: list[Token]) -> str | None:
        """No cue typed the group: a known surname ending two or three words, or an acronym in running text."""
        words = [token for token in group if not token.connector]
        if 2 <= len(words) <= 3 and not group[0].text.isupper():
            return self.cues.last_words.get(words[-1].key)
        return self._acronym_type(sentence, words[0].text) if len(words) == 1 else None

    def _acronym_type(self, sentence: str, word: str) -> str | None:
        """The schema's acronym type for an acronym ("NASA", "U.N.") in a sentence not all in capitals."""
        acronym = word.replace(".", "")
        if 2 <= len(acronym) <= 5 and acronym.isupper() and acronym.isalpha() and not sentence.isupper():
            return self.cues.acronym_type
        return None

    def _by_pattern(self, sentence: str, mention: Mention) -> Mention:
        for pattern in self.cues.patterns:
            after = pattern.after.match(sentence, mention.end) if pattern.after else None
            if pattern.after is not None and after is None:
                continue  # the anchored test first: it fails for almost every mention
            context = sentence[max(0, mention.start - CONTEXT_CHARS) : mention.start]
            if pattern.before is None or pattern.before.search(context):
                end = after.end() if after else mention.end
                name = f"{mention.name} {pattern.name_tail}".strip()
                return mention._replace(end=end, name=name, type=pattern.type)
        return mention
