"""Enrich: normalise chunk text, pick keywords, tell the language, embed the batch in one call."""

import re
import unicodedata
from collections import Counter

from shared.domain import BatchPayload, DocumentRef
from shared.pipeline.language import detect
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports

_WORD = re.compile(r"[^\W\d_][\w'-]{2,}")
_STOPWORDS = frozenset(
    """the and for with that this from are was were has have had its into onto over under about after before
    their there they them then than also will would could should which who whom whose what when where while
    been being our your his her she him not but all any can may our out per via""".split()
)


def handle(payload: BatchPayload, document: DocumentRef, ports: Ports) -> StageOutput:
    texts = [normalise(chunk.text) for chunk in payload.chunks]
    vectors = ports.embedder.embed(texts)
    chunks = [
        chunk.model_copy(
            update={"text": text, "keywords": keywords(text), "embedding": vector, "language": detect(text)}
        )
        for chunk, text, vector in zip(payload.chunks, texts, vectors, strict=True)
    ]
    return StageOutput(payload=BatchPayload(chunks=chunks))


def normalise(text: str) -> str:
    """NFKC and single spaces, so equal text from different encodings embeds and matches the same."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def keywords(text: str, limit: int = 8) -> list[str]:
    """The most frequent non-stopwords, ties broken by first appearance (deterministic)."""
    words = [word.lower() for word in _WORD.findall(text)]
    counts = Counter(word for word in words if word not in _STOPWORDS)
    return [word for word, _ in counts.most_common(limit)]
