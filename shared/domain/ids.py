"""Deterministic identifiers (DESIGN.md §3): the same input always yields the same id, so every write is an upsert."""

import hashlib
import re
import unicodedata

_SEPARATOR = "\x1f"  # unit separator: cannot appear in a blob path or a name, so parts never run together


def stable_hash(*parts: str, length: int = 32) -> str:
    """Hex digest of the parts, joined unambiguously."""
    digest = hashlib.sha256(_SEPARATOR.join(parts).encode("utf-8")).hexdigest()
    return digest[:length]


def document_id(account: str, container: str, blob_path: str) -> str:
    """Stable across versions: the identity of a blob path."""
    return stable_hash("document", account, container, blob_path)


def document_version(content_sha256: str, chunking: str) -> str:
    """A document's version: its content and the fingerprint of the settings that chunk it.

    Either changing makes a new version, whose chunks replace the old version's whole once it is committed, so a
    re-ingest after a chunking change never leaves a mix of old and new chunks (and is not skipped as unchanged).
    """
    return stable_hash("version", content_sha256, chunking, length=64)


def job_id(document_id: str, version: str, base_version: str | None) -> str:
    """One processing job per (document, version, committed version it replaces).

    The base version makes re-uploading an older content after a newer one a new job, while a redelivered
    event for the same upload maps to the same job.
    """
    return stable_hash("job", document_id, version, base_version or "")


def skip_job_id(document_id: str, version: str, event_id: str) -> str:
    """A no-op job recorded for an upload whose content is already committed."""
    return stable_hash("skip", document_id, version, event_id)


def message_id(job_id: str, stage: str, batch: int) -> str:
    """Service Bus MessageId: duplicate detection drops resends of the same batch."""
    return stable_hash("message", job_id, stage, str(batch))


def chunk_id(document_id: str, version: str, ordinal: int) -> str:
    return stable_hash("chunk", document_id, version, str(ordinal))


def canonical_name(name: str) -> str:
    """Case-, accent-spacing- and punctuation-insensitive form used to key entities."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    folded = re.sub(r"[^\w\s&-]", "", folded)
    return re.sub(r"\s+", " ", folded).strip()


def entity_id(entity_type: str, name: str) -> str:
    return stable_hash("entity", entity_type, canonical_name(name))


def relation_id(source_id: str, relation_type: str, target_id: str) -> str:
    return stable_hash("relation", source_id, relation_type, target_id)
