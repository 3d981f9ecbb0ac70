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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from shared.domain import Chunk, Extraction, Link
from shared.extraction.collecting import EVIDENCE_LIMIT, Collector, canonical
from shared.extraction.cues import Cues
from shared.extraction.linking import MIN_WORDS_WITHOUT_CUE, Linker
from shared.extraction.mentions import CONTEXT_CHARS, MentionFinder
from shared.extraction.names import clean_name
from shared.extraction.schema import ExtractionSchema, normalise_header
from shared.extraction.sentences import split_sentences
from shared.extraction.tokens import WORD, Mention, retyped

__all__ = ["EVIDENCE_LIMIT", "RuleBasedExtractor", "Sentence", "split_sentences"]

MAX_COOCCURRING = 12  # names of one sentence paired by co-occurrence: a longer list is a table, not a statement
_CLAUSE_END = re.compile(r"[,.;:()]")
_WORD_AFTER = re.compile(r"\s+([\w-]+)")
_FIELD = re.compile(r"^\s*([^:;]{1,40}):\s*(.*?)\s*$")


class Sentence(NamedTuple):
    text: str
    mentions: list[Mention]


@dataclass(slots=True)
class _Reading:
    """What the first pass found in one chunk."""

    chunk_id: str
    cells: dict[str, tuple[str, str]]  # column role -> (entity type, name)
    text: str  # the chunk text, evidence for row and declared relations
    sentences: list[Sentence]
    declared: list[tuple[str, str]] = field(default_factory=list)  # (type, name) the parser read off the input
    declared_links: list[Link] = field(default_factory=list)


def _note(types: dict[str, str], name: str, entity_type: str) -> None:
    """Record a name's type: its one type, or "" (ambiguous) once it has been given two."""
    known = types.get(name)
    if known is None:
        types[name] = entity_type
    elif known != entity_type:
        types[name] = ""


class RuleBasedExtractor:
    """Extractor driven by the schema's cues and triggers: deterministic, offline, no model."""

    name = "rules"

    def __init__(self, schema: ExtractionSchema) -> None:
        self.schema = schema
        self._cues = Cues(schema)
        self._finder = MentionFinder(self._cues)
        self._linker = Linker(schema, self._cues)
        self._cooccurring = [name for name, relation in schema.relation_types.items() if relation.cooccurrence]
        # (type named first, type named second) -> (the first co-occurrence relation allowing them, in schema order,
        # and whether it runs from the second to the first), looked up once per pair of names.
        self._cooccurrence_pairs: dict[tuple[str, str], tuple[str, bool]] = {}
        for name in self._cooccurring:
            for pair in schema.relation_types[name].between:
                self._cooccurrence_pairs.setdefault((pair.source, pair.target), (name, False))
                self._cooccurrence_pairs.setdefault((pair.target, pair.source), (name, True))
        self._column_roles = {
            normalise_header(header): role for role, column in schema.columns.items() for header in column.headers
        }

    def extract(self, chunks: Sequence[Chunk]) -> Extraction:
        """Typed entities and allowed relations found in the chunks, merged by id."""
        readings = [reading for chunk in chunks for reading in self._read(chunk)]
        lexicon = self._lexicon(readings)
        collector = Collector(self.schema)
        for reading in readings:
            if reading.cells:  # prose has no row
                self._collect_row(reading, collector)
            for sentence in reading.sentences:
                if sentence.mentions:  # a sentence without a name adds nothing
                    self._collect_sentence(reading.chunk_id, sentence, lexicon, collector)
        return collector.extraction()

    # First pass.

    def _read(self, chunk: Chunk) -> list[_Reading]:
        """One reading per row the chunk packs (each row's cells relate only among themselves), else its text."""
        records, text = chunk.records, chunk.text
        rows = [entry.fields for entry in records if entry.fields] if records else None
        if rows:
            readings = [self._read_fields(chunk.chunk_id, fields, "") for fields in rows]
        else:
            fields = self._fields_in_text(text)
            readings = [
                self._read_fields(chunk.chunk_id, fields, text)
                if fields
                else _Reading(chunk.chunk_id, {}, text, self._sentences(text))
            ]
        for entry in records:
            readings[0].declared.extend((mention.type, mention.name) for mention in entry.mentions)
            readings[0].declared_links.extend(entry.links)
        return readings

    def _read_fields(self, chunk_id: str, fields: Mapping[str, str], text: str) -> _Reading:
        cells: dict[str, tuple[str, str]] = {}
        prose: list[Sentence] = []
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

    def _sentences(self, text: str) -> list[Sentence]:
        find = self._finder.find
        # tuple.__new__: no NamedTuple __new__ (a Python function) to run per sentence.
        sentences = split_sentences(text, self._cues.abbreviations)
        return [tuple.__new__(Sentence, (sentence, find(sentence))) for sentence in sentences]

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
        # name -> its one type, or "" once a second type is seen: only unambiguous names are kept
        firm: dict[str, str] = {}
        guessed: dict[str, str] = {}
        surnames: dict[str, str] = {}
        without_form: dict[str, str] = {}
        typed: dict[tuple[str, str, bool], None] = {}  # (type, name, guessed), each once: names recur in a batch
        for reading in readings:
            if reading.declared or reading.cells:
                typed.update(((t, n, False), None) for t, n in (*reading.declared, *reading.cells.values()))
            for sentence in reading.sentences:
                for mention in sentence.mentions:
                    if mention.type is not None:
                        typed[mention.type, mention.name, mention.guessed] = None
        surname_types, legal_suffixes = self._cues.surname_alias_types, self._cues.legal_suffixes
        for entity_type, name, is_guess in typed:
            key = canonical(name)
            _note(guessed if is_guess else firm, key, entity_type)
            if " " not in key:
                continue
            head, last = key.rsplit(" ", 1)
            if entity_type in surname_types:
                _note(surnames, last, entity_type)
            elif not is_guess and last in legal_suffixes:
                _note(without_form, head, entity_type)
        table = {name: (found, False) for name, found in {**surnames, **guessed}.items() if found}
        for names in (without_form, firm):  # firm names last: they win
            table.update((name, (found, True)) for name, found in names.items() if found)
        return table

    # Second pass.

    def _collect_row(self, reading: _Reading, collector: Collector) -> None:
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
        self, chunk_id: str, sentence: Sentence, lexicon: Mapping[str, tuple[str, bool]], collector: Collector
    ) -> None:
        mentions = [
            mention
            if mention.type is not None and not mention.guessed
            else self._typed(sentence.text, mention, lexicon)
            for mention in sentence.mentions
        ]
        ids: dict[tuple[str, str], str] = {}  # (type, name) -> entity id, of the typed mentions in text order
        for mention in mentions:
            if mention.type is not None:
                found = collector.entity(mention.type, mention.name, chunk_id)
                if found is not None:
                    ids[mention.type, mention.name] = found
        linked: set[frozenset[tuple[str, str]]] = set()
        for link in self._linker.links(sentence.text, mentions) if len(mentions) > 1 else ():
            source = (link.source.type or "", link.source.name)
            target = (link.target.type or "", link.target.name)
            collector.relation(source, link.relation, target, chunk_id, sentence.text)
            linked.add(frozenset((source, target)))
        if self._cooccurring and len(ids) > 1:
            self._collect_cooccurrence(chunk_id, sentence.text, ids, linked, collector)

    def _collect_cooccurrence(
        self,
        chunk_id: str,
        sentence: str,
        ids: dict[tuple[str, str], str],
        linked: set[frozenset[tuple[str, str]]],
        collector: Collector,
    ) -> None:
        """The schema's co-occurrence relations between typed mentions of one sentence that no trigger linked.

        `ids`: (type, name) -> entity id of the sentence's typed mentions, in text order, recorded for this chunk.
        Its weight is the number of chunks it was seen in (its chunk_ids, a set): a redelivered batch adds none.
        """
        ends = list(ids.items())[:MAX_COOCCURRING]
        pairs = self._cooccurrence_pairs
        for index, (first, first_id) in enumerate(ends):
            for second, second_id in ends[index + 1 :]:
                fitting = pairs.get((first[0], second[0]))
                if fitting is None or (linked and frozenset((first, second)) in linked):
                    continue
                relation, reverse = fitting
                if first[0] == second[0]:
                    reverse = second_id < first_id  # two ends of one type: one edge whichever is named first
                source, target = ((second[0], second_id), (first[0], first_id))
                if not reverse:
                    source, target = target, source
                collector.relation_of_entities(source, relation, target, chunk_id, sentence)

    def _typed(self, sentence: str, mention: Mention, lexicon: Mapping[str, tuple[str, bool]]) -> Mention:
        if mention.type is not None and not mention.guessed:
            return mention
        known, firm = lexicon.get(canonical(mention.name), (None, False))
        if mention.type is not None:
            return retyped(mention, known) if firm and known is not None else mention
        if known is not None:
            return retyped(mention, known)
        if mention.words < MIN_WORDS_WITHOUT_CUE:
            return mention  # "Okafor said": a lone word stays unclaimed
        role = self._role_nearby(sentence, mention)
        if role is not None:
            return retyped(mention, role)
        after = _WORD_AFTER.match(sentence, mention.end)
        speaker = self._cues.speakers.get(after.group(1).casefold()) if after else None
        return mention if speaker is None else retyped(mention, speaker, guessed=True)

    def _role_nearby(self, sentence: str, mention: Mention) -> str | None:
        """The type a role word marks next to the name: "engineer Tomás Ferreira", "Zoë Okafor, chief …"."""
        before = WORD.findall(sentence[max(0, mention.start - CONTEXT_CHARS) : mention.start])[-1:]
        after = sentence[mention.end : mention.end + CONTEXT_CHARS]
        apposition = _CLAUSE_END.split(after[1:], maxsplit=1)[0].split()[:4] if after[:1] == "," else []
        for word in [*before, *apposition]:
            entity_type = self._cues.roles.get(word.casefold())
            if entity_type is not None:
                return entity_type
        return None
