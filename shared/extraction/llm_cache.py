"""The LLM extractor's response cache: each chunk text's checked answer, kept as a blob in the work container.

Keyed by (chunk text sha256, extraction schema hash, model deployment, prompt version): an answer depends on
nothing else, so a re-ingest of the same text, a redelivered batch, or the same paragraph in another file costs no
request. Per chunk rather than per request, so it hits whatever the batching.

Why blobs and not the job store: the entries are write-once, content-addressed and read by key, which is what blob
storage is; every worker already reaches the work container (claim checks) under the same identity; an entry of a
few KB costs a blob write, whereas in Cosmos DB it would cost request units on the store every stage's bookkeeping
waits on, and would grow the job store by the corpus' answers. A lifecycle rule on the `llm-cache/` prefix can age
entries out; a change of schema, model or prompt version simply stops reading the old ones.

The cache is an optimisation: an entry that cannot be read or written is logged and treated as a miss.
"""

from __future__ import annotations

import hashlib
import logging

from pydantic import ValidationError

from shared.domain import TributaryError
from shared.extraction.llm_prompt import ChunkFacts
from shared.ports import BlobStore

PREFIX = "llm-cache"
log = logging.getLogger(__name__)


class AnswerCache:
    def __init__(self, blobs: BlobStore, container: str, *, model: str, schema_hash: str, prompt_version: str) -> None:
        self._blobs = blobs
        self._container = container
        # Deployment names are [A-Za-z0-9_.-]; hashed anyway so any name makes a valid blob path.
        self._scope = hashlib.sha256(f"{model}\x1f{schema_hash}\x1f{prompt_version}".encode()).hexdigest()[:24]
        self.hits = 0
        self.misses = 0

    def path(self, text: str) -> str:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{PREFIX}/{self._scope}/{digest[:2]}/{digest}.json"

    def get(self, text: str) -> ChunkFacts | None:
        """The cached facts of this text, or None."""
        path = self.path(text)
        try:
            facts = ChunkFacts.model_validate_json(self._blobs.download_bytes(self._container, path))
        except FileNotFoundError:
            facts = None
        except (OSError, TributaryError, ValidationError, ValueError) as error:
            log.warning("LLM cache entry %s unreadable, treated as a miss: %s", path, error)
            facts = None
        if facts is None:
            self.misses += 1
        else:
            self.hits += 1
        return facts

    def put(self, text: str, facts: ChunkFacts) -> None:
        path = self.path(text)
        try:
            self._blobs.upload(self._container, path, facts.model_dump_json().encode("utf-8"))
        except (OSError, TributaryError) as error:
            log.warning("LLM cache entry %s not written: %s", path, error)
