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


_GENERATION_MARK = "-g"  # a version of generation n > 0 ends in `-g<n>`


def document_version(content_sha256: str, processing: str, generation: int = 0) -> str:
    """A document's version: its content, the fingerprint of the settings that chunk and extract it, and its
    generation.

    Changing the content, the chunking or the extraction (schema, extractor, model) makes a new version, whose chunks,
    entities and relations replace the old version's whole once it is committed, so a re-ingest after such a change
    never leaves a mix of old and new (and is not skipped as unchanged). A delete opens the document's next
    generation, so the same content uploaded again after a delete is a new version too: its chunks get new ids, and
    removing what the delete left behind can never touch them.
    """
    if generation < 0:
        raise ValueError(f"generation must be >= 0, got {generation}")
    version = stable_hash("version", content_sha256, processing, length=64)
    return f"{version}{_GENERATION_MARK}{generation}" if generation else version


def version_generation(version: str) -> int:
    """The generation a version belongs to (the inverse of `document_version`)."""
    _, mark, number = version.rpartition(_GENERATION_MARK)
    return int(number) if mark and number.isdigit() else 0


def job_id(document_id: str, version: str, base_version: str | None) -> str:
    """One processing job per (document, version, committed version it replaces).

    The base version makes re-uploading an older content after a newer one a new job, while a redelivered
    event for the same upload maps to the same job.
    """
    return stable_hash("job", document_id, version, base_version or "")


def retry_job_id(failed_job_id: str, event_id: str) -> str:
    """Another try of a failed job's content, for one upload (a redelivered event of that upload maps to it)."""
    return stable_hash("retry", failed_job_id, event_id)


def delete_job_id(document_id: str, generation: int) -> str:
    """The job removing a document's generation `generation` (a repeated request for it maps to the same job)."""
    return stable_hash("delete", document_id, str(generation))


def skip_job_id(document_id: str, version: str, event_id: str) -> str:
    """A no-op job recorded for an upload whose content is already committed."""
    return stable_hash("skip", document_id, version, event_id)


def message_id(job_id: str, stage: str, batch: int) -> str:
    """Service Bus MessageId: duplicate detection drops resends of the same batch."""
    return stable_hash("message", job_id, stage, str(batch))


def chunk_id(document_id: str, version: str, ordinal: int) -> str:
    return stable_hash("chunk", document_id, version, str(ordinal))


_NOT_IN_CANONICAL = re.compile(r"[^\w\s&-]")
_SPACES = re.compile(r"\s+")


def canonical_name(name: str) -> str:
    """Case-, accent-spacing- and punctuation-insensitive form used to key entities."""
    folded = _NOT_IN_CANONICAL.sub("", unicodedata.normalize("NFKC", name).casefold())
    return _SPACES.sub(" ", folded).strip()


def entity_id(entity_type: str, name: str) -> str:
    return stable_hash("entity", entity_type, canonical_name(name))


def relation_id(source_id: str, relation_type: str, target_id: str) -> str:
    return stable_hash("relation", source_id, relation_type, target_id)


def reprocess_job_id(bulk_id: str, document_id: str) -> str:
    """The job a bulk run starts for a document on purpose (a forced new attempt, whatever its content): one per
    (run, document), so a redelivered activity finds the job it started instead of starting another."""
    return stable_hash("reprocess", bulk_id, document_id)


def bulk_tracking_id(bulk_id: str, path: str) -> str:
    """The tracking id of what a bulk run does to one blob (W3C trace-id shaped), by which a redelivery finds it."""
    return stable_hash("bulk", bulk_id, path)
