"""Contract suite for `VectorSink`: every vector adapter must pass it unchanged.

Adapters run here: LanceDB (in-process); Azure AI Search through the real SDK against the local stand-in of its REST
API (tests/support/search_standin.py), and against a real service when `TRIBUTARY_TEST_SEARCH_ENDPOINT` is set (with
`TRIBUTARY_TEST_SEARCH_KEY`, else a token credential: `az login` or a managed identity). An adapter is added as
another entry of `OPENERS`: a function that opens the sink on a location (and may ask for session fixtures) for an
embedder's name and dimension, so the suite can also check that reopening it sees the same rows, and that reopening
it for another embedder is refused.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
import pytest
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError
from azure.search.documents import SearchClient
from azure.search.documents.indexes import SearchIndexClient
from azure.search.documents.models import VectorizedQuery

from shared.adapters.aisearch_vectors import AISearchVectorSink
from shared.adapters.lancedb_vectors import LanceDBVectorSink, chunk_schema
from shared.connections import token_credential
from shared.domain import Chunk, DocumentRef, PermanentError, TransientError
from shared.domain.ids import chunk_id, document_id
from shared.domain.search_filter import SearchFilter, parse_filter
from shared.ports import VectorSink
from tests.support.search_standin import SearchStandIn

DIMENSION = 8
EMBEDDER = "test-embedder-8"
DOCUMENT = document_id("testaccount", "incoming", "notes.txt")
LIVE_ENDPOINT = os.environ.get("TRIBUTARY_TEST_SEARCH_ENDPOINT", "")
LIVE_KEY = os.environ.get("TRIBUTARY_TEST_SEARCH_KEY", "")
# The SDK retries a throttled or failed request itself; the stand-in need not make the tests wait for its backoff.
QUICK_RETRIES: dict[str, Any] = {"retry_backoff_factor": 0.01, "retry_delay": 0.0}


def index_name(location: Path, prefix: str = "t") -> str:
    """An index name of this test's own (lower case, digits and dashes), the same on every reopen."""
    return f"{prefix}-{hashlib.sha256(str(location).encode()).hexdigest()[:20]}"


def open_standin_sink(
    location: Path, request: pytest.FixtureRequest, dimension: int = DIMENSION, **options: Any
) -> AISearchVectorSink:
    standin: SearchStandIn = request.getfixturevalue("search_standin")
    options = QUICK_RETRIES | {"embedder": EMBEDDER} | options
    return AISearchVectorSink(standin.endpoint, AzureKeyCredential("any"), index_name(location), dimension, **options)


class _SettledSink:
    """A live sink that waits after each write: the service makes new documents searchable about a second later."""

    def __init__(self, sink: AISearchVectorSink, settle: float = 2.0) -> None:
        self._sink, self._settle = sink, settle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sink, name)

    def upsert(self, chunks: Sequence[Chunk], document: DocumentRef | None = None) -> None:
        try:
            self._sink.upsert(chunks, document)
        finally:
            time.sleep(self._settle)

    def count(self) -> int:
        return self._sink.count()

    def delete_version(self, document_id: str, version: str) -> None:
        try:
            self._sink.delete_version(document_id, version)
        finally:
            time.sleep(self._settle)

    def delete_document(self, document_id: str) -> None:
        try:
            self._sink.delete_document(document_id)
        finally:
            time.sleep(self._settle)

    def document_versions(self, document_id: str) -> dict[str, int]:
        return self._sink.document_versions(document_id)

    def search(
        self, vector: Sequence[float], k: int = 5, *, text: str | None = None, filter: SearchFilter | None = None
    ) -> Any:
        return self._sink.search(vector, k, text=text, filter=filter)

    def close(self) -> None:
        self._sink.close()


def open_live_sink(
    location: Path, request: pytest.FixtureRequest, dimension: int = DIMENSION, embedder: str = EMBEDDER
) -> Any:
    if not LIVE_ENDPOINT:
        pytest.skip("the live Azure AI Search run needs TRIBUTARY_TEST_SEARCH_ENDPOINT (+ TRIBUTARY_TEST_SEARCH_KEY)")
    credential = AzureKeyCredential(LIVE_KEY) if LIVE_KEY else token_credential({})
    name = index_name(location, prefix=f"tributary-test-{os.getpid()}")
    sink = AISearchVectorSink(LIVE_ENDPOINT, credential, name, dimension, embedder=embedder)
    request.addfinalizer(lambda: _delete_live_index(credential, name))
    return _SettledSink(sink)


def _delete_live_index(credential: Any, name: str) -> None:
    from azure.search.documents.indexes import SearchIndexClient

    with SearchIndexClient(LIVE_ENDPOINT, credential) as client:
        client.delete_index(name)


def open_lancedb_sink(
    location: Path, request: pytest.FixtureRequest, dimension: int = DIMENSION, embedder: str = EMBEDDER
) -> LanceDBVectorSink:
    return LanceDBVectorSink(location, "chunks", dimension, embedder=embedder)


Opener = Callable[..., Any]  # (location, request, dimension=, embedder=) -> the sink
OPENERS: dict[str, Opener] = {
    "lancedb": open_lancedb_sink,
    "aisearch": open_standin_sink,
    "aisearch-live": open_live_sink,
}


@pytest.fixture(params=sorted(OPENERS))
def open_sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Opens (or reopens) the adapter's sink on this test's own location (for another embedder if told)."""
    opened: list[Any] = []

    def open_(**embedder: Any) -> Any:
        opened.append(OPENERS[request.param](tmp_path / "vectors", request, **embedder))
        return opened[-1]

    yield open_
    for sink in opened:
        sink.close()


@pytest.fixture
def sink(open_sink: Callable[..., Any]) -> Any:
    return open_sink()


def axis(index: int, tilt: float = 0.0) -> list[float]:
    """A unit vector along `index`, optionally tilted towards the next axis."""
    vector = np.zeros(DIMENSION)
    vector[index] = 1.0
    vector[(index + 1) % DIMENSION] = tilt
    return (vector / np.linalg.norm(vector)).tolist()


def make_chunk(ordinal: int, text: str, embedding: list[float] | None, version: str = "v1") -> Chunk:
    return Chunk(
        chunk_id=chunk_id(DOCUMENT, version, ordinal),
        document_id=DOCUMENT,
        version=version,
        ordinal=ordinal,
        text=text,
        locator=f"line {ordinal + 1}",
        embedding=embedding,
    )


def three_chunks() -> list[Chunk]:
    return [make_chunk(i, f"chunk {i}", axis(i)) for i in range(3)]


def test_is_a_vector_sink(sink: Any) -> None:
    assert isinstance(sink, VectorSink)


def test_upsert_is_idempotent(sink: Any) -> None:
    # GIVEN three chunks already upserted
    chunks = three_chunks()
    sink.upsert(chunks)
    # WHEN the same chunks are upserted again (a redelivery), and an empty batch too
    sink.upsert(chunks)
    sink.upsert([])
    # THEN there is still one row per chunk
    assert sink.count() == 3


def test_an_upsert_replaces_text_and_vector_of_the_same_id(sink: Any) -> None:
    # GIVEN a stored chunk
    sink.upsert(three_chunks())
    # WHEN the same chunk id arrives with new text and a new vector
    sink.upsert([make_chunk(0, "rewritten", axis(5))])
    # THEN the row is replaced, not added
    assert sink.count() == 3
    [hit] = sink.search(axis(5), k=1)
    assert (hit.chunk_id, hit.text) == (chunk_id(DOCUMENT, "v1", 0), "rewritten")
    assert all(hit.text != "chunk 0" for hit in sink.search(axis(0), k=3))


def test_the_same_id_twice_in_one_batch_keeps_the_last(sink: Any) -> None:
    # GIVEN one batch naming the same chunk twice WHEN it is upserted
    sink.upsert([make_chunk(0, "first", axis(0)), make_chunk(0, "second", axis(1))])
    # THEN one row holds the later one
    assert sink.count() == 1
    assert sink.search(axis(1), k=1)[0].text == "second"


@pytest.mark.parametrize(
    "embedding",
    [None, [], [0.1] * (DIMENSION - 1), [0.1] * (DIMENSION + 1), [math.nan] * DIMENSION, [math.inf] * DIMENSION],
    ids=["missing", "empty", "too-short", "too-long", "nan", "inf"],
)
def test_a_bad_embedding_refuses_the_whole_batch(sink: Any, embedding: list[float] | None) -> None:
    # GIVEN a batch where one chunk's embedding is missing or malformed
    batch = [*three_chunks(), make_chunk(3, "bad", embedding)]
    # WHEN it is upserted THEN it is refused with the reason code, and nothing is written
    with pytest.raises(PermanentError) as refused:
        sink.upsert(batch)
    assert refused.value.reason_code == "vector.bad_embedding"
    assert sink.count() == 0


def test_search_returns_the_nearest_first(sink: Any) -> None:
    # GIVEN chunks along three axes
    sink.upsert(three_chunks())
    # WHEN searching near axis 1, tilted slightly towards axis 2
    hits = sink.search(axis(1, tilt=0.3), k=2)
    # THEN the chunk on axis 1 comes first, then axis 2, with similarity scores (higher is closer)
    assert [hit.text for hit in hits] == ["chunk 1", "chunk 2"]
    assert hits[0].score > hits[1].score
    assert hits[0].score == pytest.approx(1 / math.sqrt(1.09), abs=1e-5)  # cosine similarity
    assert hits[0].document_id == DOCUMENT
    # AND an exact match scores 1, and k caps the number of hits
    assert sink.search(axis(0), k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(sink.search(axis(0), k=10)) == 3


def test_reopening_the_location_sees_the_rows(open_sink: Callable[..., Any]) -> None:
    # GIVEN rows written by one sink that is then closed (an earlier CLI run)
    first = open_sink()
    first.upsert(three_chunks())
    first.close()
    # WHEN the same location is opened again
    second = open_sink()
    # THEN it sees the rows, and upserts stay idempotent across the reopen
    assert second.count() == 3
    assert second.search(axis(2), k=1)[0].text == "chunk 2"
    second.upsert(three_chunks())
    assert second.count() == 3


# -- versions and deletes --

OTHER = document_id("testaccount", "incoming", "other.txt")
OTHER_DOCUMENT = document_id("testaccount", "incoming", "notes/todo.md")


def two_versions_and_another_document() -> tuple[list[Chunk], list[Chunk], list[Chunk]]:
    """v1 (three chunks) and v2 (two) of DOCUMENT side by side, and one chunk of another document."""
    old = [make_chunk(i, f"old {i}", axis(i)) for i in range(3)]
    new = [make_chunk(i, f"new {i}", axis(i, tilt=0.1), version="v2") for i in range(2)]
    other = [make_chunk(0, "other", axis(0, tilt=0.2)).model_copy(update={"document_id": OTHER, "chunk_id": "o0"})]
    return old, new, other


def test_document_versions_counts_the_chunks_of_each_version(sink: Any) -> None:
    old, new, other = two_versions_and_another_document()
    sink.upsert([*old, *new, *other])
    assert sink.document_versions(DOCUMENT) == {"v1": 3, "v2": 2}
    assert sink.document_versions(OTHER) == {"v1": 1}
    assert sink.document_versions("no-such-document") == {}


def test_delete_version_removes_that_version_only(sink: Any) -> None:
    # GIVEN two versions of a document side by side, and another document
    old, new, other = two_versions_and_another_document()
    sink.upsert([*old, *new, *other])
    # WHEN the old version is deleted
    sink.delete_version(DOCUMENT, "v1")
    # THEN only the new version and the other document are left, and search no longer finds old text
    assert sink.document_versions(DOCUMENT) == {"v2": 2}
    assert sink.count() == 3
    hits = sink.search(axis(0), k=10)
    assert sorted(hit.text for hit in hits) == ["new 0", "new 1", "other"]
    # AND deleting it again, or a version never written, changes nothing
    sink.delete_version(DOCUMENT, "v1")
    sink.delete_version(DOCUMENT, "v9")
    assert sink.count() == 3
    assert sink.document_versions(DOCUMENT) == {"v2": 2}


def test_delete_document_removes_every_version_and_nothing_else(sink: Any) -> None:
    old, new, other = two_versions_and_another_document()
    sink.upsert([*old, *new, *other])
    sink.delete_document(DOCUMENT)
    assert sink.document_versions(DOCUMENT) == {}
    assert [hit.text for hit in sink.search(axis(0), k=10)] == ["other"]
    # AND deleting it again, or a document never written, is a no-op
    sink.delete_document(DOCUMENT)
    sink.delete_document("no-such-document")
    assert sink.count() == 1


@pytest.mark.parametrize("hostile", ["o'brien", "x' OR '1'='1", "x') OR (1=1", "a\\' or document_id ne '"])
def test_ids_in_a_delete_filter_are_quoted_not_trusted(sink: Any, hostile: str) -> None:
    # GIVEN a document whose id and version hold quotes and filter syntax, beside an ordinary one
    odd = make_chunk(0, "odd", axis(0)).model_copy(
        update={"chunk_id": "odd-0", "document_id": hostile, "version": hostile}
    )
    sink.upsert([odd, *three_chunks()])
    assert sink.document_versions(hostile) == {hostile: 1}
    # WHEN the odd one's version and then the document are deleted
    sink.delete_version(hostile, hostile)
    sink.delete_document(hostile)
    # THEN only its chunk went
    assert sink.count() == 3
    assert sink.document_versions(DOCUMENT) == {"v1": 3}


# -- the embedder recorded with the index --


@pytest.mark.parametrize(
    "other", [{"embedder": "another-model-8"}, {"dimension": 16, "embedder": "test-embedder-16"}, {"dimension": 16}]
)
def test_opening_the_index_for_another_embedder_is_refused(open_sink: Callable[..., Any], other: dict) -> None:
    # GIVEN an index written by one embedder (its name and dimension recorded with it)
    open_sink().upsert(three_chunks())
    # WHEN it is opened for an embedder of another name or dimension
    # THEN that is refused with the reason code, naming both
    with pytest.raises(PermanentError) as refused:
        open_sink(**other)
    assert refused.value.reason_code == "vector.dimension_mismatch"
    assert EMBEDDER in str(refused.value)
    # AND the index is untouched: the right embedder still opens it and finds the rows
    again = open_sink()
    assert again.count() == 3
    assert again.search(axis(1), k=1)[0].text == "chunk 1"


# -- hybrid search (vector + keyword) --


def far_keyword_chunk() -> Chunk:
    """A chunk whose vector is far from every query below, holding a word no other chunk has."""
    return make_chunk(7, "invoice for quartz crystals", axis(7))


def test_a_keyword_only_match_is_found_when_text_is_given(sink: Any) -> None:
    # GIVEN chunks along axes 0-5 and one far away (axis 7) that holds the word "quartz"
    sink.upsert([*[make_chunk(i, f"chunk {i}", axis(i)) for i in range(6)], far_keyword_chunk()])
    query = axis(0, tilt=0.3)
    # WHEN searching by vector alone THEN the far chunk is not among the two nearest
    assert "invoice for quartz crystals" not in [hit.text for hit in sink.search(query, k=2)]
    # WHEN the same search carries the text "quartz" THEN the keyword match is found, beside the nearest chunk
    hits = sink.search(query, k=2, text="quartz")
    assert sorted(hit.text for hit in hits) == ["chunk 0", "invoice for quartz crystals"]


def test_an_exact_term_lifts_a_chunk_above_a_nearer_one(sink: Any) -> None:
    # GIVEN a chunk nearest to the query vector and a slightly farther one holding the query's term
    sink.upsert([make_chunk(0, "alpha report", axis(0)), make_chunk(1, "quartz budget", axis(1)), *others()])
    query = axis(0, tilt=0.5)
    assert [hit.text for hit in sink.search(query, k=2)] == ["alpha report", "quartz budget"]
    # WHEN the search carries the term THEN the chunk holding it comes first, scores falling
    hits = sink.search(query, k=2, text="quartz")
    assert [hit.text for hit in hits] == ["quartz budget", "alpha report"]
    assert hits[0].score > hits[1].score > 0


def test_text_matching_nothing_leaves_the_vector_ranking(sink: Any) -> None:
    # GIVEN chunks along axes WHEN the text matches no chunk THEN the order is the vector one
    sink.upsert(three_chunks())
    hits = sink.search(axis(1, tilt=0.3), k=2, text="zeppelin")
    assert [hit.text for hit in hits] == ["chunk 1", "chunk 2"]


@pytest.mark.parametrize("text", ['"quartz', "text:quartz", "(quartz", "quartz) OR ("])
def test_query_text_holding_query_syntax_is_searched_for_its_words(sink: Any, text: str) -> None:
    # GIVEN chunks, one holding "quartz" WHEN the text carries quotes, field prefixes or brackets
    sink.upsert([*three_chunks(), far_keyword_chunk()])
    hits = sink.search(axis(0, tilt=0.3), k=2, text=text)
    # THEN it is no error, and the word still finds its chunk
    assert "invoice for quartz crystals" in [hit.text for hit in hits]


def test_a_zero_vector_with_text_finds_by_the_words_alone(sink: Any) -> None:
    # GIVEN chunks, one holding "quartz" WHEN the query vector is zero (a text with no words the embedder knows)
    sink.upsert([*three_chunks(), far_keyword_chunk()])
    zero = [0.0] * DIMENSION
    # THEN the vector half matches nothing, and the keyword half still finds the chunk
    assert sink.search(zero, k=3) == []
    assert [hit.text for hit in sink.search(zero, k=3, text="quartz")] == ["invoice for quartz crystals"]


def others() -> list[Chunk]:
    return [make_chunk(i, f"filler {i}", axis(i)) for i in range(2, 6)]


# -- filters --

REPORT = DocumentRef(
    account="testaccount",
    container="incoming",
    path="reports/2024/q1.txt",
    document_id=DOCUMENT,
    version="v1",
    size=10,
    content_type="text/plain",
)
NOTE = REPORT.model_copy(
    update={"path": "notes/todo.md", "document_id": OTHER_DOCUMENT, "content_type": "text/markdown"}
)


def two_documents(sink: Any) -> None:
    """Three chunks of the report (axes 0-2) and two of the note (axes 0 and 3, tilted), each with its document."""
    sink.upsert([chunk.model_copy(update={"language": "en"}) for chunk in three_chunks()], REPORT)
    note = [
        make_chunk(i, f"note {i}", axis(a, tilt=0.1)).model_copy(
            update={"document_id": OTHER_DOCUMENT, "chunk_id": f"note-{i}", "language": language}
        )
        for i, (a, language) in enumerate(((0, "de"), (3, None)))
    ]
    sink.upsert(note, NOTE)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (f"document_id:{DOCUMENT}", {"chunk 0", "chunk 1", "chunk 2"}),
        ("path:notes/todo.md", {"note 0", "note 1"}),
        ("folder:reports", {"chunk 0", "chunk 1", "chunk 2"}),
        ("folder:reports/2024/", {"chunk 0", "chunk 1", "chunk 2"}),
        ("folder:report", set()),  # a folder, not a string prefix
        ("folder:notes/todo.md", set()),  # a file is not a folder
        ("content_type:text/markdown", {"note 0", "note 1"}),
        ("language:de", {"note 0"}),
        ("language:en language:de", {"chunk 0", "chunk 1", "chunk 2", "note 0"}),  # a chunk of no language: neither
        ("folder:notes path:reports/2024/q1.txt", set()),  # different fields: all must hold
        ("path:notes/todo.md path:reports/2024/q1.txt", {"chunk 0", "chunk 1", "chunk 2", "note 0", "note 1"}),
        (f"document_id:{OTHER_DOCUMENT} content_type:text/markdown", {"note 0", "note 1"}),
    ],
)
def test_a_filter_keeps_only_the_chunks_it_selects(sink: Any, expression: str, expected: set[str]) -> None:
    # GIVEN chunks of two documents in different folders and of different types
    two_documents(sink)
    where = parse_filter(expression)
    # WHEN searching with the filter, by vector and hybrid THEN only the selected chunks come back
    assert {hit.text for hit in sink.search(axis(0), k=10, filter=where)} == expected
    assert {hit.text for hit in sink.search(axis(0), k=10, text="note chunk", filter=where)} == expected


def test_a_filter_applies_before_the_top_k(sink: Any) -> None:
    # GIVEN the report's chunks nearer the query than the note's
    two_documents(sink)
    # WHEN asking for one chunk of the note THEN it is the note's nearest, not nothing
    [hit] = sink.search(axis(0), k=1, filter=parse_filter("path:notes/todo.md"))
    assert hit.text == "note 0"


HOSTILE_VALUES = [
    "x' or 1 eq 1 or 'a",
    "' or ''='",
    "x') or (1=1",
    "x' OR '1'='1",
    "a\\' or document_id ne '",
    "') or starts_with(path, '",
    "o'brien\"s notes",
]


@pytest.mark.parametrize("hostile", HOSTILE_VALUES)
def test_filter_values_are_quoted_not_trusted(sink: Any, hostile: str) -> None:
    # GIVEN the two documents, and a third whose path is itself hostile
    two_documents(sink)
    odd = REPORT.model_copy(update={"path": f"odd/{hostile}", "document_id": "odd"})
    sink.upsert([make_chunk(0, "odd", axis(5)).model_copy(update={"document_id": "odd", "chunk_id": "odd-0"})], odd)
    for field in ("document_id", "path", "folder", "content_type", "language"):
        # WHEN a filter value holds filter syntax THEN it matches as a plain value: nothing here
        where = SearchFilter.model_validate({field: [hostile]})
        assert sink.search(axis(0), k=10, filter=where) == []
        assert sink.search(axis(0), k=10, text="chunk", filter=where) == []
    # AND the document whose path holds it is found by exactly that path, and only it
    hits = sink.search(axis(0), k=10, filter=SearchFilter(path=(f"odd/{hostile}",)))
    assert [hit.text for hit in hits] == ["odd"]


def test_chunks_written_without_their_document_are_left_out_by_path_filters(sink: Any) -> None:
    # GIVEN chunks upserted without a document (no path or content type stored)
    sink.upsert(three_chunks())
    # WHEN filtering on a path or folder THEN they do not match, while a document filter still does
    assert sink.search(axis(0), k=10, filter=parse_filter("folder:reports")) == []
    assert len(sink.search(axis(0), k=10, filter=parse_filter(f"document_id:{DOCUMENT}"))) == 3


# -- LanceDB specifics --


def test_lancedb_a_table_made_before_the_filter_columns_gains_them_at_open(tmp_path: Path) -> None:
    # GIVEN a table written with the columns of an earlier version (no path or content type, no embedder recorded)
    added = ("path", "content_type", "language")
    earlier = pa.schema([field for field in chunk_schema(DIMENSION) if field.name not in added])
    rows = [
        {
            **chunk.model_dump(include={"document_id", "version", "ordinal", "text", "locator"}),
            "id": chunk.chunk_id,
            "vector": chunk.embedding,
        }
        for chunk in three_chunks()
    ]
    lancedb.connect(str(tmp_path)).create_table("chunks", data=pa.Table.from_pylist(rows, schema=earlier))
    # WHEN the sink opens it THEN it is kept, with its rows, and new chunks are stored with their document
    sink = LanceDBVectorSink(tmp_path, "chunks", DIMENSION, embedder=EMBEDDER)
    assert sink.count() == 3
    sink.upsert([make_chunk(3, "chunk 3", axis(3))], REPORT)
    assert [hit.text for hit in sink.search(axis(3), k=5, filter=parse_filter("folder:reports"))] == ["chunk 3"]
    assert len(sink.search(axis(0), k=5, text="chunk", filter=parse_filter(f"document_id:{DOCUMENT}"))) == 4


def test_lancedb_optimize_keeps_table_growth_bounded(tmp_path: Path) -> None:
    # GIVEN a table written to several times (every write is a new version on disk)
    sink = LanceDBVectorSink(tmp_path, "chunks", DIMENSION)
    for text in ("a", "b", "c", "d"):
        sink.upsert([make_chunk(0, text, axis(0)), make_chunk(1, text, axis(1))])
    assert sink.version_count() > 4
    # WHEN it is optimised at the end of a run
    sink.optimize()
    # THEN one version remains, with the latest rows
    assert sink.version_count() == 1
    assert sink.count() == 2
    assert sink.search(axis(1), k=1)[0].text == "d"


# -- AI Search specifics (the real SDK against the stand-in, faults injected there) --


@pytest.fixture
def standin(search_standin: SearchStandIn) -> Iterator[SearchStandIn]:
    yield search_standin
    search_standin.clear_faults()  # a test that fails early must not leave its faults to the next one


def open_aisearch(location: Path, request: pytest.FixtureRequest, **options: Any) -> AISearchVectorSink:
    sink = open_standin_sink(location, request, **options)
    request.addfinalizer(sink.close)
    return sink


def test_aisearch_resends_the_documents_a_207_reports_as_throttled(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN an index whose next answer is a 207 where two of three chunks are throttled
    sink = open_aisearch(tmp_path, request)
    chunks = three_chunks()
    standin.fail_keys_in_next_index_requests([chunks[0].chunk_id, chunks[2].chunk_id], status=429)
    # WHEN the chunks are upserted
    sink.upsert(chunks)
    # THEN the two are resent alone, and every chunk is stored
    assert standin.index_requests[sink.index_name] == 2
    assert sink.count() == 3
    assert sink.search(axis(2), k=1)[0].text == "chunk 2"


def test_aisearch_gives_up_on_documents_still_failing_as_a_transient_error(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN an index that keeps answering 207 with one chunk busy (503)
    sink = open_aisearch(tmp_path, request, document_retries=2)
    chunks = three_chunks()
    standin.fail_keys_in_next_index_requests([chunks[1].chunk_id], count=10, status=503)
    # WHEN the chunks are upserted THEN after the first send and two resends the failure is transient, with its code
    with pytest.raises(TransientError) as failed:
        sink.upsert(chunks)
    assert failed.value.reason_code == "vector.partial_failure"
    assert chunks[1].chunk_id in str(failed.value)
    assert standin.index_requests[sink.index_name] == 3
    # AND the chunks that were accepted are stored (a redelivery upserts them again, idempotently)
    assert sink.count() == 2


def test_aisearch_dead_letters_a_document_the_index_refuses(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN an index that refuses one chunk for good (400 in a 207)
    sink = open_aisearch(tmp_path, request)
    chunks = three_chunks()
    standin.fail_keys_in_next_index_requests([chunks[0].chunk_id], status=400)
    # WHEN the chunks are upserted THEN that is permanent at once, without resending
    with pytest.raises(PermanentError) as refused:
        sink.upsert(chunks)
    assert refused.value.reason_code == "vector.document_rejected"
    assert standin.index_requests[sink.index_name] == 1


def test_aisearch_a_busy_service_is_a_transient_error(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN a service answering every index request with 503 (the SDK retries a 503 three times itself)
    sink = open_aisearch(tmp_path, request)
    standin.fail_next_index_requests(4, status=503)
    # WHEN chunks are upserted THEN the failure is transient, with the unavailable code
    with pytest.raises(TransientError) as failed:
        sink.upsert(three_chunks())
    assert failed.value.reason_code == "vector.unavailable"
    assert standin.index_requests[sink.index_name] == 4
    # AND once the service answers again the same upsert goes through
    sink.upsert(three_chunks())
    assert sink.count() == 3


def test_aisearch_a_throttled_request_is_a_transient_error(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN a 429 without Retry-After (the SDK resends a POST only for 500/503/504, or when told when to)
    sink = open_aisearch(tmp_path, request)
    standin.fail_next_index_requests(1, status=429)
    # WHEN chunks are upserted THEN the failure is transient at once, and the message's redelivery retries it
    with pytest.raises(TransientError) as failed:
        sink.upsert(three_chunks())
    assert failed.value.reason_code == "vector.unavailable"
    assert standin.index_requests[sink.index_name] == 1


def test_aisearch_a_throttled_request_with_retry_after_is_resent_by_the_sdk(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN one 429 that says when to come back WHEN chunks are upserted THEN the SDK's resend makes it invisible
    sink = open_aisearch(tmp_path, request)
    standin.fail_next_index_requests(1, status=429, retry_after=0.1)
    sink.upsert(three_chunks())
    assert standin.index_requests[sink.index_name] == 2
    assert sink.count() == 3


def test_aisearch_a_refused_credential_is_permanent(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN a service that refuses the key WHEN chunks are upserted THEN that is permanent, with its code
    sink = open_aisearch(tmp_path, request)
    standin.fail_next_index_requests(1, status=403)
    with pytest.raises(PermanentError) as refused:
        sink.upsert(three_chunks())
    assert refused.value.reason_code == "vector.access_denied"


def over_a_request(count: int) -> list[Chunk]:
    """`count` distinct v1 chunks: more than one index request of the service's 1,000 documents can carry."""
    return [make_chunk(i, f"chunk {i}", axis(i % DIMENSION, tilt=i / count)) for i in range(count)]


def test_aisearch_upserts_in_batches_within_the_service_limit(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN 2,500 chunks
    sink = open_aisearch(tmp_path, request)
    chunks = over_a_request(2500)
    # WHEN they are upserted THEN they go in three requests of at most 1,000 documents, and all are stored
    sink.upsert(chunks)
    assert standin.index_requests[sink.index_name] == 3
    assert sink.count() == 2500


def test_aisearch_keeps_chunk_ids_the_service_would_refuse_as_keys(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN chunk ids with characters an index key may not hold
    sink = open_aisearch(tmp_path, request)
    odd = [
        make_chunk(i, f"chunk {i}", axis(i)).model_copy(update={"chunk_id": cid})
        for i, cid in enumerate(["notes.txt#1", "_leading", "ü/ß 3"])
    ]
    # WHEN they are upserted and searched THEN each comes back under its own id
    sink.upsert(odd)
    assert sink.count() == 3
    assert [sink.search(axis(i), k=1)[0].chunk_id for i in range(3)] == ["notes.txt#1", "_leading", "ü/ß 3"]


def test_aisearch_opens_from_a_connection_string_setting(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN a Functions-style connection setting holding an endpoint and a key
    environ = {"SearchConnection": f"Endpoint={standin.endpoint};Key=any"}
    # WHEN the sink is opened from it THEN it creates its index and writes to it
    sink = AISearchVectorSink.from_connection_setting("SearchConnection", index_name(tmp_path), DIMENSION, environ)
    request.addfinalizer(sink.close)
    sink.upsert(three_chunks())
    assert sink.count() == 3


def test_aisearch_deletes_a_large_version_in_batches_within_the_service_limit(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN 2,500 chunks of v1 and one of v2
    sink = open_aisearch(tmp_path, request)
    old = over_a_request(2500)
    sink.upsert([*old, make_chunk(0, "kept", axis(0), version="v2")])
    sent = standin.index_requests[sink.index_name]
    # WHEN v1 is deleted
    sink.delete_version(DOCUMENT, "v1")
    # THEN it took three delete requests of at most 1,000 keys, and only v2 is left
    assert standin.index_requests[sink.index_name] - sent == 3
    assert sink.document_versions(DOCUMENT) == {"v2": 1}


def test_aisearch_a_delete_the_service_throttles_is_resent_then_transient(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN a version whose delete is answered with a 207 where one key keeps being throttled
    sink = open_aisearch(tmp_path, request, document_retries=1)
    chunks = three_chunks()
    sink.upsert(chunks)
    standin.fail_keys_in_next_index_requests([chunks[1].chunk_id], count=2, status=429)
    # WHEN it is deleted THEN that fails as retryable with its code, the others are gone
    with pytest.raises(TransientError) as failed:
        sink.delete_version(DOCUMENT, "v1")
    assert failed.value.reason_code == "vector.partial_failure"
    assert sink.document_versions(DOCUMENT) == {"v1": 1}
    # AND running the delete again finishes it
    sink.delete_version(DOCUMENT, "v1")
    assert sink.count() == 0


def test_the_standin_deletes_filters_and_counts_as_the_service_does(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN chunks of two documents in an index (the delete-by-document step to come needs these calls)
    sink = open_aisearch(tmp_path, request)
    other = document_id("testaccount", "incoming", "other.txt")
    sink.upsert([*three_chunks(), make_chunk(3, "other", axis(3)).model_copy(update={"document_id": other})])
    client = SearchClient(standin.endpoint, sink.index_name, AzureKeyCredential("any"))
    request.addfinalizer(client.close)
    # WHEN one document's chunks are found by filter, counted, and deleted through the SDK
    found = client.search(
        search_text=None, filter=f"document_id eq '{DOCUMENT}'", select=["id"], include_total_count=True
    )
    keys = [row["id"] for row in found]
    assert found.get_count() == 3
    results = client.delete_documents([{"id": key} for key in keys])
    # THEN each delete succeeded and only the other document's chunk is left
    assert all(result.succeeded for result in results)
    assert sink.count() == 1
    assert [hit.text for hit in sink.search(axis(3), k=5)] == ["other"]


def test_the_standin_fuses_text_and_vector_rankings_by_rrf_as_the_service_documents(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # GIVEN chunk 0 nearest the vector, chunk 1 next and the only one holding "budget", chunk 2 farther
    sink = open_aisearch(tmp_path, request)
    sink.upsert([make_chunk(0, "alpha", axis(0)), make_chunk(1, "budget", axis(1)), make_chunk(2, "gamma", axis(2))])
    client = SearchClient(standin.endpoint, sink.index_name, AzureKeyCredential("any"))
    request.addfinalizer(client.close)
    # WHEN one request carries the text and the vector query, through the SDK
    vector = VectorizedQuery(vector=axis(0, tilt=0.5), k_nearest_neighbors=3, fields="embedding")
    rows = list(client.search(search_text="budget", vector_queries=[vector], select=["text"]))
    # THEN each document scores the sum of 1 / (60 + rank) over the lists it is in (ranks from 1)
    scores = {row["text"]: row["@search.score"] for row in rows}
    assert scores == pytest.approx({"budget": 1 / 61 + 1 / 62, "alpha": 1 / 61, "gamma": 1 / 63})
    assert [row["text"] for row in rows] == ["budget", "alpha", "gamma"]


@pytest.mark.parametrize("expression", ["ordinal gt 1", "search.ismatch('x')", "text eq 'a' or", "text eq 'a"])
def test_the_standin_refuses_a_filter_outside_its_subset(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest, expression: str
) -> None:
    # GIVEN an index WHEN the SDK sends a filter the stand-in does not evaluate THEN it answers 400, not a guess
    sink = open_aisearch(tmp_path, request)
    client = SearchClient(standin.endpoint, sink.index_name, AzureKeyCredential("any"))
    request.addfinalizer(client.close)
    with pytest.raises(HttpResponseError) as refused:
        list(client.search(search_text=None, filter=expression))
    assert refused.value.status_code == 400


@pytest.mark.parametrize("semantic", [False, True])
def test_aisearch_asks_for_the_semantic_ranker_only_when_enabled(
    standin: SearchStandIn, tmp_path: Path, request: pytest.FixtureRequest, semantic: bool
) -> None:
    # GIVEN a sink with the semantic ranker on or off
    sink = open_aisearch(tmp_path, request, semantic=semantic)
    sink.upsert(three_chunks())
    # WHEN a hybrid and a vector-only search run
    sink.search(axis(0), k=2, text="chunk")
    sink.search(axis(0), k=2)
    hybrid, vector_only = standin.search_bodies[sink.index_name][-2:]
    # THEN the hybrid one sent the text with the vector, and the semantic query only when enabled
    assert (hybrid["search"], hybrid["searchFields"], len(hybrid["vectorQueries"])) == ("chunk", "text", 1)
    assert hybrid.get("queryType") == ("semantic" if semantic else None)
    assert hybrid.get("semanticConfiguration") == ("chunk-semantic" if semantic else None)
    assert "search" not in vector_only
    assert "queryType" not in vector_only


def test_aisearch_records_the_embedder_with_the_index(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # GIVEN a new index WHEN the sink creates it THEN its description names the embedder and its dimension, and the
    # index has the semantic configuration the ranker needs
    sink = open_aisearch(tmp_path, request)
    standin: SearchStandIn = request.getfixturevalue("search_standin")
    with SearchIndexClient(standin.endpoint, AzureKeyCredential("any")) as indexes:
        index = indexes.get_index(sink.index_name)
    assert json.loads(index.description) == {"embedder": EMBEDDER, "dimension": DIMENSION}
    [configuration] = index.semantic_search.configurations
    assert configuration.prioritized_fields.title_field.field_name == "path"
