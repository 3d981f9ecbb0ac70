"""VectorSink over Azure AI Search (azure-search-documents): one index of chunks with their embeddings.

The index is created or updated from code at start. Writes are `mergeOrUpload` keyed on the chunk id, in batches
within the service's limits; documents a 207 answer reports as throttled or busy are resent with backoff. A search
without text is a pure vector query; its cosine `@search.score` (`1 / (2 - cosine)`) is turned back into the cosine
similarity the port reports, so scores compare across adapters. With text it is hybrid: the keyword query on `text`
and the vector query go in one request and the service fuses them by RRF; with `semantic` (it is billed) the
service's semantic ranker reorders that answer using the index's semantic configuration. Search filters become OData
`$filter` expressions of `eq` comparisons on quoted literals. The index description records the embedder (its name
and dimension) as JSON, and an index recorded for another embedder is refused at open. A document's (or version's)
chunks are deleted by finding their keys with a filter on `document_id` (and `version`) and deleting them in batches,
until the filter finds none.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.search.documents import SearchClient
from azure.search.documents.indexes import SearchIndexClient
from azure.search.documents.indexes.models import (
    HnswAlgorithmConfiguration,
    HnswParameters,
    SearchableField,
    SearchField,
    SearchFieldDataType,
    SearchIndex,
    SemanticConfiguration,
    SemanticField,
    SemanticPrioritizedFields,
    SemanticSearch,
    SimpleField,
    VectorSearch,
    VectorSearchProfile,
)
from azure.search.documents.models import VectorizedQuery, VectorQuery

from shared.adapters.vector_checks import check_embedding, check_query
from shared.connections import close_credential, endpoint_connection, keyed_endpoint, token_credential
from shared.domain import Chunk, DocumentRef, PermanentError, Reason, TransientError
from shared.domain.search_filter import SearchFilter, folders_of
from shared.ports import VectorHit

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

KEY_FIELD = "id"
VECTOR_FIELD = "embedding"
_VECTOR_TYPE = "Collection(Edm.Single)"  # float32 vectors
_STRINGS_TYPE = "Collection(Edm.String)"
_PROFILE = "chunk-vectors"
_ALGORITHM = "chunk-hnsw"
SEMANTIC_CONFIGURATION = "chunk-semantic"
_HIT_FIELDS = [KEY_FIELD, "document_id", "version", "text"]
# Service limits per docs/search.index request: 1,000 documents and 16 MB; the byte budget leaves room for the
# envelope and for the SDK's float formatting differing from ours.
MAX_BATCH_DOCUMENTS = 1000
MAX_BATCH_BYTES = 15 * 1024 * 1024
# Per-document status codes the service documents as worth retrying: a version conflict, the index busy, throttled.
RETRYABLE_DOCUMENT_STATUS = frozenset({409, 422, 429, 503})
# Whole-request statuses that may clear up by themselves (the SDK has already retried them by the time we see one).
_TRANSIENT_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
# A key may hold letters, digits, `_`, `-` and `=`: ids of the first kind go as they are, any other is encoded, and
# the `=` that only encoded keys contain tells them apart, so the mapping is reversible and collision-free.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,1023}")
_ENCODED = "k="
_MAX_KEY = 1024


class AISearchVectorSink:
    """`VectorSink` on one Azure AI Search index; vector-only scores are cosine similarity (1 = same direction)."""

    def __init__(
        self,
        endpoint: str,
        credential: AzureKeyCredential | TokenCredential,
        index_name: str,
        dimension: int,
        *,
        embedder: str | None = None,
        semantic: bool = False,
        owns_credential: bool = False,
        document_retries: int = 4,
        retry_delay: float = 0.5,
        max_batch_documents: int = MAX_BATCH_DOCUMENTS,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        **client_options: Any,
    ) -> None:
        """`embedder` names the embedder of the vectors (recorded with a new index, checked against an existing one;
        None checks the dimension only); `semantic` asks for the semantic ranker on hybrid searches.
        `client_options` go to both SDK clients (e.g. `retry_total`, `retry_backoff_factor`)."""
        self.endpoint = endpoint
        self.index_name = index_name
        self.dimension = dimension
        self.embedder = embedder
        self.semantic = semantic
        self.document_retries = document_retries
        self.retry_delay = retry_delay
        self.max_batch_documents = max_batch_documents
        self.max_batch_bytes = max_batch_bytes
        self._credential = credential
        self._owns_credential = owns_credential
        self._indexes = SearchIndexClient(endpoint, credential, **client_options)
        self._documents = SearchClient(endpoint, index_name, credential, **client_options)
        try:
            with _translated():
                self._ensure_index()
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_connection_setting(
        cls,
        name: str,
        index_name: str,
        dimension: int,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> AISearchVectorSink:
        """The sink for a Functions connection setting (e.g. `SearchConnection`), read as the host reads it.

        A value is a connection string `Endpoint=https://<service>.search.windows.net;Key=<admin key>`. Otherwise
        `<name>__endpoint` names the service, reached with a token credential (`__credential=managedidentity` +
        `__clientId`, or `__tenantId` + `__clientId` + `__clientSecret`, else DefaultAzureCredential); the identity
        needs the "Search Index Data Contributor" and "Search Service Contributor" roles.
        """
        endpoint, key, children = endpoint_connection(name, os.environ if environ is None else environ, "AI Search")
        if key:
            return cls(endpoint, AzureKeyCredential(key), index_name, dimension, **options)
        credential = token_credential(children)
        return cls(endpoint, credential, index_name, dimension, owns_credential=True, **options)

    # -- the port

    def upsert(self, chunks: Sequence[Chunk], document: DocumentRef | None = None) -> None:
        """Merge-or-upload on chunk id; every chunk must carry a finite embedding of the index's dimension."""
        latest = {chunk.chunk_id: chunk for chunk in chunks}  # one batch may not name a key twice
        for chunk in latest.values():
            check_embedding(chunk, self.dimension)
        documents = [_document(chunk, document) for chunk in latest.values()]
        for batch in batches(documents, self.max_batch_documents, self.max_batch_bytes):
            with _translated():
                self._index_with_retries(batch)

    def count(self) -> int:
        """Documents in the index (one per chunk id); the service counts what it has made searchable so far."""
        with _translated():
            return int(self._documents.get_document_count())

    def search(
        self, vector: Sequence[float], k: int = 5, *, text: str | None = None, filter: SearchFilter | None = None
    ) -> list[VectorHit]:
        """The `k` best chunks `filter` selects: by cosine similarity, or hybrid (keyword + vector, fused by the
        service's RRF, then reordered by its semantic ranker when enabled) when `text` is given."""
        check_query(vector, self.dimension)
        hybrid = bool(text and text.strip())
        if k <= 0 or not (hybrid or any(vector)):
            return []
        nearest = VectorizedQuery(vector=[float(v) for v in vector], k_nearest_neighbors=k, fields=VECTOR_FIELD)
        queries: list[VectorQuery] = [nearest]
        options: dict[str, Any] = {"search_text": text, "search_fields": ["text"]} if hybrid else {"search_text": None}
        if hybrid and self.semantic:
            options |= {"query_type": "semantic", "semantic_configuration_name": SEMANTIC_CONFIGURATION}
        with _translated():
            results = list(
                self._documents.search(
                    **options,
                    vector_queries=queries if any(vector) else None,  # a zero vector has no direction to compare
                    filter=filter_odata(filter) if filter else None,
                    top=k,
                    select=_HIT_FIELDS,
                )
            )
        return [_hit(row, hybrid) for row in results]

    def delete_version(self, document_id: str, version: str) -> None:
        """Delete the version's chunks: find their keys by filter, delete them in batches, until none is left."""
        self._delete_matching(document_filter(document_id, version))

    def delete_document(self, document_id: str) -> None:
        """Delete every chunk of the document the same way; an unknown document is a no-op."""
        self._delete_matching(document_filter(document_id))

    def document_versions(self, document_id: str) -> dict[str, int]:
        """Version → number of the document's chunks the index has made searchable."""
        versions: dict[str, int] = {}
        with _translated():
            while True:
                # One chunk of a version not seen yet, then that version's count: exact, one round trip per version.
                clauses = [document_filter(document_id), *(f"version ne {odata_literal(v)}" for v in versions)]
                found = list(
                    self._documents.search(search_text=None, filter=" and ".join(clauses), select=["version"], top=1)
                )
                if not found:
                    return versions
                version = str(found[0]["version"])
                counted = self._documents.search(
                    search_text=None, filter=document_filter(document_id, version), top=0, include_total_count=True
                )
                versions[version] = int(counted.get_count() or 0)

    def close(self) -> None:
        """Close both clients (and a credential this sink owns); calling it again does nothing."""
        for client in (self._documents, self._indexes):
            with contextlib.suppress(Exception):
                client.close()
        if self._owns_credential:
            close_credential(self._credential)

    # -- the index

    def index_definition(self) -> SearchIndex:
        """The index this sink writes: chunk fields, filterable ids, and an HNSW cosine profile for the vectors."""
        string = SearchFieldDataType.STRING
        return SearchIndex(
            name=self.index_name,
            description=json.dumps({"embedder": self.embedder, "dimension": self.dimension}),
            fields=[
                SimpleField(name=KEY_FIELD, type=string, key=True, filterable=True),
                SimpleField(name="document_id", type=string, filterable=True, facetable=True),
                SearchableField(name="path", filterable=True),  # searchable: the semantic ranker's title
                SimpleField(name="folders", type=_STRINGS_TYPE, filterable=True),
                SimpleField(name="content_type", type=string, filterable=True, facetable=True),
                SimpleField(name="language", type=string, filterable=True, facetable=True),
                SimpleField(name="version", type=string, filterable=True),
                SimpleField(name="ordinal", type=SearchFieldDataType.INT32, filterable=True, sortable=True),
                SimpleField(name="locator", type=string, filterable=True),
                SearchableField(name="text"),
                SearchField(
                    name=VECTOR_FIELD,
                    type=_VECTOR_TYPE,
                    searchable=True,
                    retrievable=False,  # vectors are never read back; not returning them keeps answers small
                    vector_search_dimensions=self.dimension,
                    vector_search_profile_name=_PROFILE,
                ),
            ],
            vector_search=VectorSearch(
                algorithms=[HnswAlgorithmConfiguration(name=_ALGORITHM, parameters=HnswParameters(metric="cosine"))],
                profiles=[VectorSearchProfile(name=_PROFILE, algorithm_configuration_name=_ALGORITHM)],
            ),
            semantic_search=SemanticSearch(
                default_configuration_name=SEMANTIC_CONFIGURATION,
                configurations=[
                    SemanticConfiguration(
                        name=SEMANTIC_CONFIGURATION,
                        prioritized_fields=SemanticPrioritizedFields(
                            title_field=SemanticField(field_name="path"),
                            content_fields=[SemanticField(field_name="text")],
                        ),
                    )
                ],
            ),
        )

    def _ensure_index(self) -> None:
        try:
            existing = self._indexes.get_index(self.index_name)
        except ResourceNotFoundError:
            existing = None
        if existing is not None:
            self._check_embedder(existing)
        self._indexes.create_or_update_index(self.index_definition())

    def _check_embedder(self, existing: SearchIndex) -> None:
        """Refuse an index whose vectors another embedder made: another dimension (which the service could not change
        in place anyway), or another name recorded in its description."""
        dimension = next((f.vector_search_dimensions for f in existing.fields if f.name == VECTOR_FIELD), None)
        name = recorded_embedder(existing.description)
        other_name = bool(name and self.embedder and name != self.embedder)
        if (dimension is not None and dimension != self.dimension) or other_name:
            raise PermanentError(
                Reason.VECTOR_DIMENSION_MISMATCH,
                f"index {self.index_name!r} holds vectors of {name or 'an unrecorded embedder'} ({dimension} "
                f"dimensions), not of {self.embedder or 'this embedder'} ({self.dimension})",
            )

    # -- writes

    def _delete_matching(self, where: str) -> None:
        """Delete what `where` selects, a page of keys at a time, until a search finds no key left to delete.

        The service makes a delete visible about a second later, so a page may still show keys this call deleted:
        a full page of those is asked for again after a pause; a short one means nothing else is left.
        """
        deleted: set[str] = set()
        stale_pages = 0
        while True:
            with _translated():
                found = self._documents.search(
                    search_text=None, filter=where, select=[KEY_FIELD], top=self.max_batch_documents
                )
                keys = [str(row[KEY_FIELD]) for row in found]
            fresh = [key for key in keys if key not in deleted]
            if not fresh:
                if len(keys) < self.max_batch_documents:
                    return
                stale_pages += 1
                if stale_pages > self.document_retries:
                    raise TransientError(
                        Reason.VECTOR_PARTIAL_FAILURE,
                        f"deleted chunks still found by {where!r} in {self.index_name!r}: the index has not caught up",
                    )
                time.sleep(min(self.retry_delay * 2 ** (stale_pages - 1), 8.0))
                continue
            stale_pages = 0
            with _translated():
                self._index_with_retries([{KEY_FIELD: key} for key in fresh], self._documents.delete_documents)
            deleted.update(fresh)

    def _index_with_retries(
        self, documents: list[dict[str, Any]], send: Callable[[list[dict[str, Any]]], list[Any]] | None = None
    ) -> None:
        """Send one batch (merge-or-upload unless `send` says otherwise); resend the documents a 207 reports as
        retryable, with backoff, a few times."""
        send = send or self._documents.merge_or_upload_documents
        pending = documents
        for attempt in range(self.document_retries + 1):
            if attempt:
                time.sleep(min(self.retry_delay * 2 ** (attempt - 1), 8.0))
            results = send(pending)
            failed = {result.key: result for result in results if not result.succeeded}
            rejected = [r for r in failed.values() if r.status_code not in RETRYABLE_DOCUMENT_STATUS]
            if rejected:
                raise PermanentError(
                    Reason.VECTOR_DOCUMENT_REJECTED,
                    f"{len(rejected)} chunk(s) refused by index {self.index_name!r}: {_summary(rejected)}",
                )
            pending = [document for document in pending if document[KEY_FIELD] in failed]
            if not pending:
                return
        raise TransientError(
            Reason.VECTOR_PARTIAL_FAILURE,
            f"{len(pending)} chunk(s) still failing in {self.index_name!r} after {self.document_retries} "
            f"retries: {_summary(failed.values())}",
        )


def batches(
    documents: Sequence[dict[str, Any]], max_documents: int = MAX_BATCH_DOCUMENTS, max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[list[dict[str, Any]]]:
    """Consecutive batches of at most `max_documents` documents and about `max_bytes` of JSON each."""
    batch: list[dict[str, Any]] = []
    size = 0
    for document in documents:
        # The action marker the SDK adds, a separator, and the document as JSON.
        weight = len(json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()) + 40
        if batch and (len(batch) >= max_documents or size + weight > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(document)
        size += weight
    if batch:
        yield batch


def recorded_embedder(description: str | None) -> str | None:
    """The embedder name an index description records (as this sink writes it), or None."""
    try:
        recorded = json.loads(description or "")
    except ValueError:
        return None
    name = recorded.get("embedder") if isinstance(recorded, dict) else None
    return name if isinstance(name, str) else None


def filter_odata(where: SearchFilter) -> str | None:
    """The OData `$filter` a search filter stands for: `eq` comparisons on quoted literals, never the user's text."""
    clauses = [
        _any_of("document_id", where.document_id),
        _any_of("path", where.path),
        # the folders field lists every folder a path lies under, so one equality covers any depth
        _any_of("folders", where.folder, collection=True),
        _any_of("content_type", where.content_type),
        _any_of("language", where.language),
    ]
    return " and ".join(clause for clause in clauses if clause) or None


def _any_of(field: str, values: Sequence[str], collection: bool = False) -> str:
    if not values:
        return ""
    if collection:
        return f"{field}/any(f: " + " or ".join(f"f eq {odata_literal(v)}" for v in values) + ")"
    return "(" + " or ".join(f"{field} eq {odata_literal(v)}" for v in values) + ")"


def document_filter(document_id: str, version: str | None = None) -> str:
    """The OData filter selecting the document's (or one version's) chunks."""
    where = f"document_id eq {odata_literal(document_id)}"
    return where if version is None else f"{where} and version eq {odata_literal(version)}"


def odata_literal(value: str) -> str:
    """`value` as an OData string literal: ids are hex, but nothing the filter is built from is trusted."""
    return "'" + value.replace("'", "''") + "'"


def document_key(chunk_id: str) -> str:
    """The index key for a chunk id: itself when the service allows it, else a reversible URL-safe base64 form."""
    if _PLAIN_KEY.fullmatch(chunk_id):
        return chunk_id
    key = _ENCODED + base64.urlsafe_b64encode(chunk_id.encode("utf-8")).decode("ascii").rstrip("=")
    if len(key) > _MAX_KEY:
        raise PermanentError(Reason.VECTOR_DOCUMENT_REJECTED, f"chunk id too long for an index key: {chunk_id[:80]}…")
    return key


def decode_key(key: str) -> str:
    """The chunk id of an index key (`document_key` reversed)."""
    if not key.startswith(_ENCODED):
        return key
    encoded = key[len(_ENCODED) :]
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("utf-8")


def parse_connection_string(value: str) -> tuple[str, str]:
    """(endpoint, key) of `Endpoint=...;Key=...`; ValueError when either is missing."""
    return keyed_endpoint(value, "an AI Search")


def _document(chunk: Chunk, document: DocumentRef | None) -> dict[str, Any]:
    return {
        KEY_FIELD: document_key(chunk.chunk_id),
        "document_id": chunk.document_id,
        "path": document.path if document else None,
        "folders": folders_of(document.path) if document else [],
        "content_type": document.content_type if document else None,
        "language": chunk.language,
        "version": chunk.version,
        "ordinal": chunk.ordinal,
        "locator": chunk.locator,
        "text": chunk.text,
        VECTOR_FIELD: [float(value) for value in chunk.embedding or ()],
    }


def _hit(row: Mapping[str, Any], hybrid: bool) -> VectorHit:
    if hybrid:  # the semantic ranker's score when it ran, else the RRF score of the fused answer
        score = float(row.get("@search.reranker_score") or row["@search.score"])
    else:
        score = 2.0 - 1.0 / float(row["@search.score"])  # the service scores cosine as 1 / (2 - cosine)
    return VectorHit(
        chunk_id=decode_key(row[KEY_FIELD]),
        document_id=row["document_id"],
        version=row["version"],
        text=row["text"],
        score=score,
    )


def _summary(results: Any) -> str:
    shown = [f"{decode_key(r.key)}: {r.status_code} {r.error_message or ''}".strip() for r in list(results)[:3]]
    return "; ".join(shown)


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """SDK errors as the pipeline's: transient ones retried, the others dead-lettered with a reason code."""
    try:
        yield
    except (PermanentError, TransientError):
        raise
    except ClientAuthenticationError as error:
        raise PermanentError(Reason.VECTOR_ACCESS_DENIED, _message(error)) from error
    except HttpResponseError as error:
        status = error.status_code
        if status is None or status in _TRANSIENT_STATUS:
            raise TransientError(Reason.VECTOR_UNAVAILABLE, _message(error)) from error
        if status in (401, 403):
            raise PermanentError(Reason.VECTOR_ACCESS_DENIED, _message(error)) from error
        raise PermanentError(Reason.VECTOR_REQUEST_REJECTED, _message(error)) from error
    except (ServiceRequestError, ServiceResponseError) as error:  # connection refused, reset, timed out
        raise TransientError(Reason.VECTOR_UNAVAILABLE, _message(error)) from error
    except AzureError as error:
        raise TransientError(Reason.VECTOR_UNAVAILABLE, _message(error)) from error


def _message(error: AzureError) -> str:
    """The service's own message (its JSON `error.message`) when there is one, else the SDK's first line."""
    detail = getattr(getattr(error, "error", None), "message", None)
    text = detail or (str(error).strip().splitlines() or [type(error).__name__])[0]
    status = getattr(error, "status_code", None)
    return f"{status} {text}" if status else text
