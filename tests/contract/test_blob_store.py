"""The BlobStore contract (shared/ports.py), run against every adapter: a local folder, and Azure Blob Storage on
Azurite.

The Azurite half needs the fixtures of tests/support/azurite.py (one in-memory server per session).
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.azure_blob import CHUNK_SIZE, AzureBlobStore
from shared.adapters.local_blob import LocalFolderBlobStore
from shared.devhost.servers.azurite import ACCOUNT_NAME, AzuriteServer
from shared.domain import PermanentError, TransientError
from shared.ports import BlobStore
from tests.support.azurite import azurite_client, unique_container_name

MB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    store: BlobStore
    container: str  # exists, empty, the test's own


@pytest.fixture(params=["local", "azurite"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "local":
        container = unique_container_name()
        (tmp_path / container).mkdir()
        return Target(LocalFolderBlobStore(tmp_path), container)
    # Looked up only for this parameter, so the local half runs without starting Azurite.
    return Target(request.getfixturevalue("azure_blob_store"), request.getfixturevalue("azure_container"))


def payload(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def read_in_pieces(stream: io.BufferedIOBase | Any, piece: int) -> tuple[bytes, int]:
    """The whole stream read `piece` bytes at a time, and the largest piece it returned."""
    pieces = []
    while chunk := stream.read(piece):
        pieces.append(chunk)
    return b"".join(pieces), max((len(chunk) for chunk in pieces), default=0)


# -- the contract, for every adapter --


def test_bytes_and_file_objects_read_back_in_pieces(target: Target) -> None:
    store, container = target.store, target.container
    # GIVEN a blob uploaded as bytes and one uploaded from a file object
    text = b"first line\nsecond line\nthird line without newline"
    assert store.upload(container, "from-bytes.txt", text).size == len(text)
    assert store.upload(container, "from-file.txt", io.BytesIO(text)).size == len(text)
    for path in ("from-bytes.txt", "from-file.txt"):
        # WHEN each is read in small pieces, into a buffer, and line by line
        with store.open_read(container, path) as stream:
            data, largest = read_in_pieces(stream, 5)
        with store.open_read(container, path) as stream:
            buffer = bytearray(11)
            filled = stream.readinto(buffer)
            rest = stream.read()
        with store.open_read(container, path) as stream:
            lines = list(stream)
        # THEN every way gives the original bytes
        assert (data, largest) == (text, 5)
        assert (bytes(buffer[:filled]) + rest, filled) == (text, 11)
        assert lines == [b"first line\n", b"second line\n", b"third line without newline"]
        assert store.download_bytes(container, path) == text


def test_a_5_mb_blob_reads_back_whole_in_bounded_pieces(target: Target) -> None:
    store, container = target.store, target.container
    # GIVEN a 5 MB blob uploaded from a file object (more than one block on Azure)
    original = payload(5 * MB)
    info = store.upload(container, "big/5mb.bin", io.BytesIO(original))
    assert info.size == len(original)
    # WHEN it is read 64 KB at a time
    with store.open_read(container, "big/5mb.bin") as stream:
        data, largest = read_in_pieces(stream, 64 * 1024)
    # THEN no piece is larger than asked and the content hashes the same
    assert largest == 64 * 1024
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(original).hexdigest()
    # AND the stream seeks (archive readers jump to the end first)
    with store.open_read(container, "big/5mb.bin") as stream:
        stream.seek(-10, io.SEEK_END)
        assert stream.read() == original[-10:]
        stream.seek(3 * MB)
        assert stream.read(4) == original[3 * MB : 3 * MB + 4]


def test_properties_describe_the_blob_and_the_etag_changes_on_overwrite(target: Target) -> None:
    store, container = target.store, target.container
    # GIVEN a blob
    before = datetime.now(UTC)
    uploaded = store.upload(container, "docs/report.txt", b"version one")
    after = datetime.now(UTC)
    # WHEN its properties are read
    info = store.properties(container, "docs/report.txt")
    # THEN they describe it, and agree with what upload and list returned
    assert (info.container, info.path, info.size) == (container, "docs/report.txt", 11)
    assert info.last_modified.tzinfo is not None
    # Azure keeps whole seconds: allow for the truncation.
    assert before - timedelta(seconds=2) <= info.last_modified <= after + timedelta(seconds=2)
    assert info == uploaded
    assert list(store.list_blobs(container)) == [info]
    # WHEN it is overwritten with content of the same size
    overwritten = store.upload(container, "docs/report.txt", b"version two")
    # THEN the etag changes and the new content is served
    assert overwritten.etag != info.etag
    assert store.properties(container, "docs/report.txt").etag == overwritten.etag
    assert store.download_bytes(container, "docs/report.txt") == b"version two"


def test_upload_overwrites_whatever_the_source(target: Target) -> None:
    store, container = target.store, target.container
    store.upload(container, "x.bin", b"a longer first version")
    assert store.upload(container, "x.bin", io.BytesIO(b"second")).size == 6
    assert store.download_bytes(container, "x.bin") == b"second"
    assert store.upload(container, "x.bin", b"").size == 0
    with store.open_read(container, "x.bin") as stream:
        assert stream.read() == b""


def test_list_filters_by_prefix_across_nested_paths_in_name_order(target: Target) -> None:
    store, container = target.store, target.container
    # GIVEN blobs at several depths, uploaded out of order
    names = ["docs/b.txt", "docs/a/2.txt", "other/c.txt", "docs/a/1.txt", "docsx.txt", "top.txt"]
    for index, name in enumerate(names):
        store.upload(container, name, b"x" * (index + 1))
    # WHEN listed with and without a prefix THEN names come sorted, with their sizes
    assert [blob.path for blob in store.list_blobs(container)] == sorted(names)
    listed = list(store.list_blobs(container, prefix="docs/"))
    assert [(blob.container, blob.path, blob.size) for blob in listed] == [
        (container, "docs/a/1.txt", 4),
        (container, "docs/a/2.txt", 2),
        (container, "docs/b.txt", 1),
    ]
    assert [blob.path for blob in store.list_blobs(container, prefix="docs/a/")] == ["docs/a/1.txt", "docs/a/2.txt"]
    assert [blob.path for blob in store.list_blobs(container, prefix="docs")][-1] == "docsx.txt"
    assert list(store.list_blobs(container, prefix="nothing/")) == []


def test_a_missing_container_lists_nothing(target: Target) -> None:
    assert list(target.store.list_blobs(unique_container_name())) == []


def test_delete_is_idempotent(target: Target) -> None:
    store, container = target.store, target.container
    store.upload(container, "a/gone.txt", b"bye")
    store.upload(container, "a/kept.txt", b"stay")
    store.delete(container, "a/gone.txt")
    store.delete(container, "a/gone.txt")  # already deleted
    store.delete(container, "never/was.txt")
    store.delete(unique_container_name(), "no/container.txt")
    assert [blob.path for blob in store.list_blobs(container)] == ["a/kept.txt"]
    with pytest.raises(FileNotFoundError):
        store.properties(container, "a/gone.txt")


READS: dict[str, Callable[[BlobStore, str, str], object]] = {
    "properties": lambda store, container, path: store.properties(container, path),
    "open_read": lambda store, container, path: store.open_read(container, path).__enter__().read(),
    "download_bytes": lambda store, container, path: store.download_bytes(container, path),
}


@pytest.mark.parametrize("operation", READS)
@pytest.mark.parametrize("where", ["missing blob", "missing container"])
def test_reading_what_does_not_exist_raises_file_not_found(target: Target, operation: str, where: str) -> None:
    container = target.container if where == "missing blob" else unique_container_name()
    with pytest.raises(FileNotFoundError):
        READS[operation](target.store, container, "no/such/blob.txt")


def test_an_empty_blob_name_is_refused(target: Target) -> None:
    with pytest.raises(PermanentError) as refused:
        target.store.upload(target.container, "", b"x")
    assert refused.value.reason_code == "blob.invalid_path"


# -- Azure only --


def test_open_read_fetches_only_what_is_read(
    azurite: AzuriteServer, azure_blob_store: AzureBlobStore, azure_container: str
) -> None:
    # GIVEN a 20 MB blob, and a store that counts the bytes each GET brings back
    container = azure_container
    original = payload(20 * MB, seed=11)
    azure_blob_store.upload(container, "huge.bin", io.BytesIO(original))
    fetched: list[int] = []

    def count(pipeline_response: Any) -> None:
        if pipeline_response.http_request.method == "GET":
            fetched.append(int(pipeline_response.http_response.headers["Content-Length"]))

    counting = AzureBlobStore(azurite_client(azurite, raw_response_hook=count))
    try:
        with counting.open_read(container, "huge.bin") as stream:
            # WHEN only the first 10 bytes are read
            head = stream.read(10)
            # THEN one chunk came over the wire, not the blob
            assert head == original[:10]
            assert sum(fetched) <= CHUNK_SIZE < 5 * MB
            # AND reading on streams the rest chunk by chunk
            rest, _ = read_in_pieces(stream, MB)
        assert head + rest == original
        assert max(fetched) <= CHUNK_SIZE
        assert sum(fetched) == len(original)
    finally:
        counting.close()


def test_a_blob_overwritten_while_being_read_fails_transiently(
    azure_blob_store: AzureBlobStore, azure_container: str
) -> None:
    azure_blob_store.upload(azure_container, "moving.bin", payload(6 * MB))
    with azure_blob_store.open_read(azure_container, "moving.bin") as stream:
        stream.read(10)  # the first chunk is in
        azure_blob_store.upload(azure_container, "moving.bin", b"replaced")
        with pytest.raises(TransientError) as changed:
            stream.read(5 * MB)
    assert changed.value.reason_code == "blob.changed_while_reading"


def test_an_unreachable_service_is_a_transient_error(azurite: AzuriteServer) -> None:
    # A port nobody listens on (ours, with the port changed), and no SDK retries to wait through.
    connection = azurite.connection_string.replace(f":{azurite.port}/", ":9/")
    store = AzureBlobStore.from_connection_setting("Blobs", {"Blobs": connection}, retry_total=0)
    try:
        with pytest.raises(TransientError) as unavailable:
            store.properties("any-container", "any.txt")
        assert unavailable.value.reason_code == "blob.unavailable"
    finally:
        store.close()


@pytest.mark.parametrize("name", ["ab", "Upper", "under_score", "double--hyphen", "-leading", "x" * 64])
def test_invalid_container_names_are_refused(azure_blob_store: AzureBlobStore, name: str) -> None:
    with pytest.raises(PermanentError) as refused:
        azure_blob_store.upload(name, "a.txt", b"x")
    assert refused.value.reason_code == "blob.invalid_container"


def test_ensure_container_is_idempotent(azure_blob_store: AzureBlobStore) -> None:
    name = unique_container_name()
    azure_blob_store.ensure_container(name)
    azure_blob_store.ensure_container(name)
    assert azure_blob_store.upload(name, "a.txt", b"x").size == 1


def test_connection_setting_with_a_connection_string(azurite: AzuriteServer, azure_container: str) -> None:
    # The Functions host tries the AzureWebJobs-prefixed name first; keys are case-insensitive.
    environ = {"AzureWebJobsStorage": "unused", "AZUREWEBJOBSMYSTORAGE": azurite.connection_string}
    store = AzureBlobStore.from_connection_setting("MyStorage", environ)
    try:
        assert store.account == ACCOUNT_NAME
        assert store.upload(azure_container, "via-setting.txt", b"ok").size == 2
    finally:
        store.close()


@pytest.mark.parametrize(
    ("environ", "url", "credential"),
    [
        (
            {"AzureWebJobsStorage__accountName": "prodacct"},
            "https://prodacct.blob.core.windows.net/",
            "DefaultAzureCredential",
        ),
        (
            {"Store__blobServiceUri": "https://other.blob.core.windows.net", "Store__serviceUri": "https://x"},
            "https://other.blob.core.windows.net/",
            "DefaultAzureCredential",
        ),
        (
            {"Store__serviceUri": "https://svc.blob.core.windows.net", "Store__credential": "managedidentity"},
            "https://svc.blob.core.windows.net/",
            "ManagedIdentityCredential",
        ),
    ],
)
def test_identity_based_connection_settings(environ: dict[str, str], url: str, credential: str) -> None:
    name = next(iter(environ)).split("__")[0]
    store = AzureBlobStore.from_connection_setting(name, environ)
    try:
        assert store.service.url == url
        assert type(store.service.credential).__name__ == credential
    finally:
        store.close()


def test_a_missing_connection_setting_says_what_to_set() -> None:
    with pytest.raises(ValueError, match=r"Store__blobServiceUri"):
        AzureBlobStore.from_connection_setting("Store", {"Other": "x", "Store__unrelated": ""})


def test_list_page_walks_the_listing_in_pages_with_continuation_tokens(target: Target) -> None:
    store, container = target.store, target.container
    # GIVEN seven blobs under a prefix, names that sort differently by string and by path part ("a-b" < "a/"), and one
    # blob outside the prefix
    names = ["in/a-b.txt", "in/a/1.txt", "in/a/2.txt", "in/b.txt", "in/c.txt", "in/d.txt", "in/e.txt"]
    for name in [*reversed(names), "out/x.txt"]:
        store.upload(container, name, b"x")
    # WHEN it is walked in pages of three, each resumed from the token of the page before
    pages, token = [], None
    while True:
        page = store.list_page(container, prefix="in/", continuation=token, size=3)
        pages.append([blob.path for blob in page.blobs])
        token = page.continuation
        if token is None:
            break
    # THEN every blob under the prefix comes once, in the order list_blobs gives, no page larger than asked
    walked = [path for page_paths in pages for path in page_paths]
    assert walked == [blob.path for blob in store.list_blobs(container, prefix="in/")]
    assert sorted(walked) == sorted(names)
    assert all(len(page_paths) <= 3 for page_paths in pages)
    assert len(pages) >= 3
    # AND a missing container is one empty last page
    assert store.list_page(unique_container_name()).model_dump() == {"blobs": [], "continuation": None}
