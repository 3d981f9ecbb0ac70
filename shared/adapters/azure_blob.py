"""BlobStore over Azure Blob Storage (azure-storage-blob): the production adapter, tested against Azurite.

Memory stays bounded whatever the client's settings: reads are ranged GETs of at most `chunk_size` bytes pinned to
the ETag seen on open, and stream uploads stage blocks of `chunk_size` and commit them at the end (the blob appears
whole or not at all, like the local folder's rename).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    IncompleteReadError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobBlock, BlobClient, BlobServiceClient

from shared.connections import connection_section, token_credential
from shared.domain import PermanentError, Reason, TransientError
from shared.ports import BlobInfo, BlobPage
from shared.streams import read_up_to

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

CHUNK_SIZE = 4 * 1024 * 1024  # per GET and per staged block: Azure's own default chunk size
MAX_BLOB_NAME = 1024
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
_CONTAINER_NAME = re.compile(r"[a-z0-9](?:-?[a-z0-9])+")  # no leading, trailing or doubled hyphen
_SPECIAL_CONTAINERS = frozenset({"$root", "$logs", "$web"})
_STORAGE_SUFFIX = "core.windows.net"


class AzureBlobStore:
    """Containers and blobs of one storage account; blob names pass through as given ("a/b/c" nests)."""

    def __init__(
        self,
        service: BlobServiceClient,
        account: str | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
        credential: TokenCredential | None = None,
    ) -> None:
        """`credential`: a token credential this store owns and closes (from_connection_setting passes it)."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.service = service
        self.account = account or service.account_name or "unknown"
        self.chunk_size = chunk_size
        self._credential = credential

    @classmethod
    def from_connection_setting(
        cls, name: str, environ: Mapping[str, str] | None = None, **client_options: Any
    ) -> AzureBlobStore:
        """The store for a Functions connection setting, resolved the way the blob extension resolves it.

        `AzureWebJobs<name>` then `<name>` (each also under `ConnectionStrings__`): a value is a connection string;
        otherwise `<name>__accountName`, `<name>__blobServiceUri` or `<name>__serviceUri` name the account, reached
        with a token credential (`__credential=managedidentity` + `__clientId`, `__tenantId` + `__clientId` +
        `__clientSecret`, else DefaultAzureCredential, which tries managed identity before developer logins).
        `client_options` go to the BlobServiceClient (e.g. `retry_total`).
        """
        value, children = connection_section(name, os.environ if environ is None else environ)
        if value:
            return cls(BlobServiceClient.from_connection_string(value, **client_options))
        if children.get("accountname"):
            url = f"https://{children['accountname']}.blob.{_STORAGE_SUFFIX}"
        else:
            url = children.get("blobserviceuri") or children.get("serviceuri") or ""
        if not url:
            raise ValueError(
                f"storage connection {name!r} is not configured: set {name} to a connection string, or "
                f"{name}__blobServiceUri / {name}__serviceUri (or {name}__accountName) for an identity-based one"
            )
        credential = token_credential(children)
        return cls(BlobServiceClient(url, credential=credential, **client_options), credential=credential)

    def ensure_container(self, container: str) -> None:
        """Create the container if it does not exist yet."""
        _check_container(container)
        # An existing container is fine (suppressed before translation sees it).
        with _translated(f"container {container}"), contextlib.suppress(ResourceExistsError):
            self.service.create_container(container)

    def open_read(self, container: str, path: str) -> AbstractContextManager[BinaryIO]:
        what = f"{container}/{path}"
        blob = self._blob(container, path)
        with _translated(what):
            properties = blob.get_blob_properties()
        raw = _RangeReader(blob, properties.size, properties.etag, self.chunk_size, what)
        return io.BufferedReader(raw, buffer_size=self.chunk_size)

    def upload(self, container: str, path: str, data: bytes | BinaryIO) -> BlobInfo:
        blob = self._blob(container, path)
        with _translated(f"{container}/{path}"):
            if isinstance(data, bytes | bytearray | memoryview):
                size = len(data)
                result = blob.upload_blob(bytes(data), overwrite=True)
            else:
                result, size = self._upload_stream(blob, data)
        return _info(container, path, size, result["etag"], result["last_modified"])

    def download_bytes(self, container: str, path: str) -> bytes:
        with _translated(f"{container}/{path}"):
            return self._blob(container, path).download_blob().readall()

    def properties(self, container: str, path: str) -> BlobInfo:
        with _translated(f"{container}/{path}"):
            properties = self._blob(container, path).get_blob_properties()
        info = _info(container, path, properties.size, properties.etag, properties.last_modified)
        return info.model_copy(update={"metadata": dict(properties.metadata or {})})

    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        """In name order, page by page; a missing container lists nothing (as an empty folder would)."""
        _check_container(container)
        pages = self.service.get_container_client(container).list_blobs(name_starts_with=prefix or None)
        with _translated(f"container {container}"):
            try:
                for item in pages:
                    yield _info(container, item.name, item.size, item.etag, item.last_modified)
            except ResourceNotFoundError:
                return

    def list_page(self, container: str, prefix: str = "", continuation: str | None = None, size: int = 500) -> BlobPage:
        """One page of the listing, resumed from the service's own continuation token (its NextMarker)."""
        _check_container(container)
        listing = self.service.get_container_client(container).list_blobs(
            name_starts_with=prefix or None, results_per_page=size
        )
        pages: Any = listing.by_page(continuation_token=continuation)  # an ItemPaged pager: it has the token
        with _translated(f"container {container}"):
            try:
                page: Any = next(pages, [])
                blobs = [_info(container, item.name, item.size, item.etag, item.last_modified) for item in page]
            except ResourceNotFoundError:  # a missing container lists nothing, as list_blobs
                return BlobPage(blobs=[])
        return BlobPage(blobs=blobs, continuation=pages.continuation_token or None)

    def delete(self, container: str, path: str) -> None:
        # Already gone (or never there) is fine: deleting is idempotent.
        with _translated(f"{container}/{path}"), contextlib.suppress(ResourceNotFoundError):
            # Snapshots go with the blob: Azure refuses to delete a blob that still has some.
            self._blob(container, path).delete_blob(delete_snapshots="include")

    def close(self) -> None:
        self.service.close()
        if self._credential is not None and hasattr(self._credential, "close"):
            self._credential.close()

    def _blob(self, container: str, path: str) -> BlobClient:
        _check_container(container)
        if not path or len(path) > MAX_BLOB_NAME:
            raise PermanentError(Reason.BLOB_INVALID_PATH, f"{container}/{path[:100]}")
        return self.service.get_blob_client(container, path)

    def _upload_stream(self, blob: BlobClient, stream: BinaryIO) -> tuple[dict[str, Any], int]:
        block = read_up_to(stream.read, self.chunk_size)
        if len(block) < self.chunk_size:  # it all fits in one request
            return blob.upload_blob(block, overwrite=True), len(block)
        # Ids unique to this upload: a concurrent upload of the same name cannot mix its blocks into ours.
        upload_id = uuid.uuid4().hex
        block_ids: list[str] = []
        size = 0
        while block:
            block_ids.append(f"{upload_id}-{len(block_ids):08d}")  # same length for every block, as Azure requires
            blob.stage_block(block_ids[-1], block)
            size += len(block)
            block = read_up_to(stream.read, self.chunk_size)
        return blob.commit_block_list([BlobBlock(block_id) for block_id in block_ids]), size


class _RangeReader(io.RawIOBase):
    """A blob as a seekable raw stream: each read is one ranged GET, pinned to the ETag seen on open."""

    def __init__(self, blob: BlobClient, size: int, etag: str, chunk_size: int, what: str) -> None:
        super().__init__()
        self._blob = blob
        self._size = size
        self._etag = etag
        self._chunk_size = chunk_size
        self._what = what
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        data = self._fetch(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        # io.RawIOBase.readall would fetch 8 KB per request.
        pieces = []
        while piece := self._fetch(self._chunk_size):
            pieces.append(piece)
        return b"".join(pieces)

    def _fetch(self, wanted: int) -> bytes:
        length = min(wanted, self._chunk_size, self._size - self._position)
        if length <= 0:
            return b""
        with _translated(self._what):
            try:
                downloader = self._blob.download_blob(
                    offset=self._position, length=length, etag=self._etag, match_condition=MatchConditions.IfNotModified
                )
                data = downloader.readall()
            except ResourceModifiedError as error:
                # Overwritten while we read: the pieces would mix two versions. A redelivery reads the new one.
                raise TransientError(Reason.BLOB_CHANGED_WHILE_READING, self._what) from error
        self._position += len(data)
        return data


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Azure SDK errors as the port's: FileNotFoundError for anything missing, TransientError when retrying helps."""
    try:
        yield
    except ResourceNotFoundError as error:
        raise FileNotFoundError(errno.ENOENT, f"{what} does not exist ({_error_code(error)})", what) from error
    except (ServiceRequestError, ServiceResponseError, IncompleteReadError) as error:
        raise TransientError(Reason.BLOB_UNAVAILABLE, f"{what}: {type(error).__name__}: {error}") from error
    except HttpResponseError as error:
        if error.status_code in _TRANSIENT_STATUS:
            detail = f"{what}: HTTP {error.status_code} {_error_code(error)}"
            raise TransientError(Reason.BLOB_UNAVAILABLE, detail) from error
        raise


def _error_code(error: Exception) -> object:
    # The storage SDK sets `error_code` on the errors it raises (process_storage_error); azure-core's own have none.
    return getattr(error, "error_code", None)


def _info(container: str, path: str, size: int, etag: str, last_modified: datetime) -> BlobInfo:
    # Azure quotes the ETag header but not the ETag in listings: one form for both.
    return BlobInfo(container=container, path=path, size=size, etag=etag.strip('"'), last_modified=last_modified)


def _check_container(container: str) -> None:
    valid = 3 <= len(container) <= 63 and _CONTAINER_NAME.fullmatch(container) is not None
    if not valid and container not in _SPECIAL_CONTAINERS:
        raise PermanentError(
            Reason.BLOB_INVALID_CONTAINER, f"{container[:100]!r}: 3-63 lowercase letters, digits and single hyphens"
        )
