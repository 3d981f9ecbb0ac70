"""Relations inside one sentence: a trigger phrase between two mentions whose types the schema allows."""

from dataclasses import dataclass

from shared.extraction.cues import Cues
from shared.extraction.schema import ExtractionSchema
from shared.extraction.tokens import WORD, Mention, retyped

MIN_WORDS_WITHOUT_CUE = 2  # a lone capitalised word is too often a sentence opener or a common noun
MAX_LOOKBACK = 8  # mentions searched back from a trigger for the relation's other end


@dataclass(frozen=True)
class _Link:
    source: Mention  # typed
    relation: str
    target: Mention  # typed
    moving: str  # the end at the later mention, "source" or "target"; the other end was found searching back

    def ends_with_later(self, mention: Mention) -> tuple[Mention, Mention]:
        """(source, target) with the later end replaced: "funds Project Heron and Project Kestrel"."""
        return (mention, self.target) if self.moving == "source" else (self.source, mention)

    def ends_with_earlier(self, mention: Mention) -> tuple[Mention, Mention]:
        """(source, target) with the earlier end replaced: "Zoë Okafor and Łukasz Nowak work at …"."""
        return (self.source, mention) if self.moving == "source" else (mention, self.target)


def _adopt_types(mentions: list[Mention], positions: dict[tuple[int, int], int], links: list[_Link]) -> None:
    for typed in (end for link in links for end in (link.source, link.target)):
        index = positions[typed.start, typed.end]
        if mentions[index].type is None:
            mentions[index] = typed


class Linker:
    """Relations inside one sentence: a trigger between two mentions whose types the schema allows."""

    def __init__(self, schema: ExtractionSchema, cues: Cues) -> None:
        self.schema = schema
        self.cues = cues

    def links(self, sentence: str, mentions: list[Mention]) -> list[_Link]:
        """Every relation the sentence states between its mentions."""
        links: list[_Link] = []
        if len(mentions) < 2 or not self.cues.may_hold_trigger(sentence[mentions[0].end : mentions[-1].start]):
            return links  # a link needs a trigger in a gap: coordination only extends one
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

    def _triggered(self, sentence: str, mentions: list[Mention], index: int, gap: str) -> list[_Link]:
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
        return any(word.casefold() in self.cues.pronouns for word in WORD.findall(text))

    def _first_fit(
        self, earlier: Mention, later: Mention, candidates: tuple[tuple[str, bool], ...], adjacent: bool
    ) -> _Link | None:
        for relation, inverse in candidates:
            source, target = (later, earlier) if inverse else (earlier, later)
            link = self._typed_link(
                source, relation, target, moving="source" if inverse else "target", adjacent=adjacent
            )
            if link is not None:
                return link
        return None

    def _coordinated_partners(self, sentence: str, mentions: list[Mention], position: int, link: _Link) -> list[_Link]:
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

    def _coordinate(self, link: _Link, mention: Mention) -> _Link | None:
        source, target = link.ends_with_later(mention)
        return self._typed_link(source, link.relation, target, moving=link.moving, adjacent=True)

    def _typed_link(
        self, source: Mention, relation: str, target: Mention, *, moving: str, adjacent: bool
    ) -> _Link | None:
        types = self._fit(source, relation, target, adjacent)
        if types is None:
            return None
        return _Link(retyped(source, types[0]), relation, retyped(target, types[1]), moving)

    def _fit(self, source: Mention, relation: str, target: Mention, adjacent: bool) -> tuple[str, str] | None:
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
