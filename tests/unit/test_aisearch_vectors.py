"""The AI Search sink's pure parts: index keys, batching within the service limits, the connection setting."""

import json
import re
from typing import Any

import pytest
from azure.core.credentials import AzureKeyCredential
from azure.identity import ManagedIdentityCredential
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters import aisearch_vectors
from shared.adapters.aisearch_vectors import (
    AISearchVectorSink,
    batches,
    decode_key,
    document_key,
    parse_connection_string,
)
from shared.domain import PermanentError
from shared.domain.ids import chunk_id, document_id

SERVICE_KEY = re.compile(r"[A-Za-z0-9_=-]{1,1024}")


def test_a_chunk_id_is_its_own_key() -> None:
    # GIVEN a chunk id as the pipeline makes them WHEN it becomes an index key THEN it is unchanged
    cid = chunk_id(document_id("acct", "incoming", "a.txt"), "v1", 0)
    assert document_key(cid) == cid
    assert decode_key(cid) == cid


@given(st.text(min_size=1, max_size=200))
def test_any_id_maps_to_a_valid_key_and_back(cid: str) -> None:
    # GIVEN any id WHEN it becomes a key THEN the service accepts the key and the id comes back from it
    key = document_key(cid)
    assert SERVICE_KEY.fullmatch(key)
    assert decode_key(key) == cid


@given(st.text(min_size=1, max_size=50), st.text(min_size=1, max_size=50))
def test_distinct_ids_never_share_a_key(first: str, second: str) -> None:
    if first != second:
        assert document_key(first) != document_key(second)


def test_an_id_too_long_for_a_key_is_refused() -> None:
    with pytest.raises(PermanentError) as refused:
        document_key("/" * 800)
    assert refused.value.reason_code == "vector.document_rejected"


def doc(number: int, text: str = "x") -> dict[str, Any]:
    return {"id": f"c{number}", "text": text, "embedding": [0.5] * 8}


def test_batches_hold_at_most_a_thousand_documents() -> None:
    # GIVEN 2,500 small documents WHEN batched THEN 1,000 + 1,000 + 500, in order
    sizes = [len(batch) for batch in batches([doc(i) for i in range(2500)])]
    assert sizes == [1000, 1000, 500]


def test_batches_stay_within_the_byte_budget() -> None:
    # GIVEN documents of about 1 KB each and a 10 KB budget
    documents = [doc(i, "x" * 1000) for i in range(25)]
    # WHEN batched THEN no batch's JSON exceeds the budget, and every document is in exactly one batch
    found = list(batches(documents, max_documents=1000, max_bytes=10_000))
    assert all(len(json.dumps({"value": batch})) <= 10_000 for batch in found)
    assert [d["id"] for batch in found for d in batch] == [d["id"] for d in documents]
    assert len(found) == 3


def test_a_document_larger_than_the_budget_goes_alone() -> None:
    # The service answers 413 for it; the SDK cannot split one document, so the error names it.
    found = list(batches([doc(0), doc(1, "x" * 5000), doc(2)], max_documents=1000, max_bytes=1000))
    assert [[d["id"] for d in batch] for batch in found] == [["c0"], ["c1"], ["c2"]]


def test_a_connection_string_gives_endpoint_and_key() -> None:
    value = "Endpoint=https://svc.search.windows.net;Key=secret=="
    assert parse_connection_string(value) == ("https://svc.search.windows.net", "secret==")


@pytest.mark.parametrize("value", ["Endpoint=https://svc.search.windows.net", "Key=abc", "nonsense"])
def test_an_incomplete_connection_string_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape("Endpoint=https://...;Key=...")):
        parse_connection_string(value)


class _Recorded:
    """Stands in for the sink's constructor: what `from_connection_setting` would open, without a service."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

        def record(sink: AISearchVectorSink, *args: Any, **kwargs: Any) -> None:
            self.calls.append((args, kwargs))

        monkeypatch.setattr(aisearch_vectors.AISearchVectorSink, "__init__", record)


def test_a_key_connection_setting_opens_with_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = _Recorded(monkeypatch)
    environ = {"SearchConnection": "Endpoint=https://svc.search.windows.net;Key=secret"}
    AISearchVectorSink.from_connection_setting("SearchConnection", "chunks", 384, environ)
    [(args, kwargs)] = recorded.calls
    endpoint, credential, index, dimension = args
    assert (endpoint, index, dimension) == ("https://svc.search.windows.net", "chunks", 384)
    assert isinstance(credential, AzureKeyCredential)
    assert credential.key == "secret"
    assert not kwargs.get("owns_credential")


def test_an_identity_connection_setting_opens_with_the_managed_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    recorded = _Recorded(monkeypatch)
    environ = {
        "SearchConnection__endpoint": "https://svc.search.windows.net",
        "SearchConnection__credential": "managedidentity",
        "SearchConnection__clientId": "00000000-0000-0000-0000-000000000001",
    }
    AISearchVectorSink.from_connection_setting("SearchConnection", "chunks", 384, environ)
    [(args, kwargs)] = recorded.calls
    assert args[0] == "https://svc.search.windows.net"
    assert isinstance(args[1], ManagedIdentityCredential)
    assert kwargs["owns_credential"] is True


def test_a_missing_connection_setting_says_what_to_set() -> None:
    with pytest.raises(ValueError, match="SearchConnection__endpoint"):
        AISearchVectorSink.from_connection_setting("SearchConnection", "chunks", 384, {})
