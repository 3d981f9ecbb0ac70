"""What decides the entities and relations a document's chunks yield, as one short fingerprint that is part of the
document's version (shared/domain/ids.py `document_version`, computed by ingest).

A version already changes with the content and with the chunking; extraction joins them. After a change of the
schema, the extractor or its model, the same bytes are a new version, whose chunks, entities and relations replace
the old version's whole once committed. So a bulk reprocess after such a change leaves nothing that only the old
extraction found: rewriting the same version in place could not, since a MERGE adds and never takes away. And an
upload of unchanged bytes under unchanged settings is still answered `skipped: unchanged`.

Embeddings are not part of it: the index holds one document per chunk id, so embedding again overwrites in place.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from shared.config import Settings
from shared.domain.ids import stable_hash
from shared.extraction.schema import load_schema

# Bumped when a release changes what the rule extractor finds in the same text on purpose (a new rule, new lists):
# documents processed before then become a new version when processed again.
RULES_SCHEME = "rules-1"


def extraction_fingerprint(settings: Settings) -> str:
    """The fingerprint of the configured extraction: schema, extractor, and the model and prompt it runs."""
    return stable_hash("extraction", _schema_hash(settings.extraction_schema), *_extractor(settings), length=16)


def _extractor(settings: Settings) -> tuple[str, ...]:
    if settings.extractor == "llm":
        from shared.extraction.llm_prompt import PROMPT_VERSION

        deployment = settings.azure_openai_chat_deployment or ""
        return ("llm", deployment, PROMPT_VERSION, *_offline(settings.llm_fallback_extractor))
    return _offline(settings.extractor)


def _offline(name: str) -> tuple[str, ...]:
    if name == "spacy":
        from shared.extraction.statistical import MODEL

        return ("spacy", MODEL, RULES_SCHEME)  # the rules run on top of the model's names
    return ("rules", RULES_SCHEME)


@cache
def _schema_hash(path: Path | None) -> str:
    """The schema's hash, read once per process (the schema is loaded at start: a change needs a restart anyway)."""
    return load_schema(path).schema_hash
