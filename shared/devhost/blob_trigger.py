"""Blob triggers: deliver each new blob version to its function, retry failures, poison after the threshold.

On Azure a `source=EventGrid` blob trigger is pushed a BlobCreated event; Azurite emits none, so the local host
plays Event Grid's part by listing the container (Azure's own local samples POST the event by hand instead).
A blob version (name + ETag) is delivered until its function returns; a failing one is tried again, and after
`poisonBlobThreshold` tries a message naming it goes to the `webjobs-blobtrigger-poison` queue, as the host does.
The trigger argument is built by the SDK's converters: an SDK-type `BlobClient` (azurefunctions-extensions) from
model binding data, or a `func.InputStream` holding the content for functions that ask for one.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import azurefunctions.extensions.base as extension_base
from azure.functions import meta
from pydantic import BaseModel, ConfigDict

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.broker import LocalBroker
from shared.devhost.broker_models import OutgoingMessage
from shared.devhost.host_config import BlobOptions
from shared.devhost.invoke import invoke
from shared.devhost.receipts import BlobReceipts, ReceiptStatus
from shared.ports import BlobInfo, BlobStore

log = logging.getLogger(__name__)

TRIGGER = "blobTrigger"
POISON_QUEUE = "webjobs-blobtrigger-poison"
_RETRY_DELAY = 0.2  # seconds, times the tries so far: a quick local stand-in for the host's retry pacing


class ModelBindingData(BaseModel):
    """What the host sends for an SDK-type binding (the worker's protobuf message of the same name)."""

    model_config = ConfigDict(frozen=True)

    version: str = "1.0"
    source: str = "AzureStorageBlobs"
    content_type: str = "application/json"
    content: str


@dataclass
class _Watch:
    spec: FunctionSpec
    connection: str
    container: str
    prefix: str
    pattern: re.Pattern[str]
    store: BlobStore


class BlobTriggerWatcher:
    """Finds blob versions not yet handled and starts their functions; `poll()` is called by the host's loop."""

    def __init__(
        self,
        functions: list[FunctionSpec],
        options: BlobOptions,
        store_for: Callable[[str], BlobStore],
        receipts: BlobReceipts,
        broker: LocalBroker,
        executor: Executor,
        on_deleted: Callable[[BlobStore, str, str], None] | None = None,
    ) -> None:
        self.options = options
        self.receipts = receipts
        self.broker = broker
        self.executor = executor
        self.on_deleted = on_deleted
        self._lock = threading.Lock()
        self._in_flight: set[tuple[str, str, str]] = set()
        self._retry_at: dict[tuple[str, str, str], float] = {}
        self._settled: dict[tuple[str, str, str], str] = {}  # blob -> the ETag whose receipt is done or poison
        self._watches = [_watch(spec, store_for) for spec in functions if spec.trigger_type == TRIGGER]

    def poll(self) -> int:
        """Start a call for every blob version that needs one (within maxDegreeOfParallelism), and report the blobs
        gone since the last listing to `on_deleted` (once each: their receipts go)."""
        started = 0
        for watch in self._watches:
            listed: set[str] = set()
            listed_at = time.time()  # a receipt written after this may be of a blob the listing missed
            for info in watch.store.list_blobs(watch.container, watch.prefix):
                listed.add(info.path)
                key = (watch.spec.name, watch.container, info.path)
                if not watch.pattern.fullmatch(info.path) or not self._due(key, info):
                    continue
                with self._lock:
                    if len(self._in_flight) >= self.options.max_degree_of_parallelism:
                        continue  # no room now: the next listing starts it
                    self._in_flight.add(key)
                self.executor.submit(self._run, watch, watch.container, info)
                started += 1
            started += self._report_deleted(watch, listed, listed_at)
        return started

    def _report_deleted(self, watch: _Watch, listed: set[str], listed_at: float) -> int:
        """Blobs with a receipt that the listing no longer shows were deleted: say so once, then forget them."""
        gone = self.receipts.names(watch.spec.name, watch.container, listed_at) - listed
        with self._lock:
            gone -= {key[2] for key in self._in_flight if key[:2] == (watch.spec.name, watch.container)}
        for name in sorted(gone):
            if self.on_deleted is not None:
                self.on_deleted(watch.store, watch.container, name)
            self.receipts.forget(watch.spec.name, watch.container, name)
            with self._lock:
                self._settled.pop((watch.spec.name, watch.container, name), None)
                self._retry_at.pop((watch.spec.name, watch.container, name), None)
        return len(gone) if self.on_deleted is not None else 0

    def deliver(self, function: str, blob_url: str) -> bool:
        """Deliver one BlobCreated event at once (the Event Grid webhook); False when `function` has no blob trigger
        or the blob is not in its storage account. The blob goes to the function whatever its container: on Azure
        the blob extension does not compare an event with the trigger's path either, so the function must (and
        ingest does). A version already handled is not run again, as the receipts say."""
        for watch in self._watches:
            if watch.spec.name != function:
                continue
            location = blob_location(blob_url, watch.store.account)
            if location is None:
                return False
            container, name = location
            info = watch.store.properties(container, name)
            key = (function, container, name)
            if not self._due(key, info):
                return True
            with self._lock:
                self._in_flight.add(key)
            self.executor.submit(self._run, watch, container, info)
            return True
        return False

    def busy(self) -> bool:
        """A call is running or a failed blob waits for its next try."""
        with self._lock:
            return bool(self._in_flight or self._retry_at)

    def _due(self, key: tuple[str, str, str], info: BlobInfo) -> bool:
        with self._lock:
            if self._settled.get(key) == info.etag:
                return False  # known from an earlier round: no receipt lookup for every blob on every listing
            if key in self._in_flight or self._retry_at.get(key, 0.0) > time.monotonic():
                return False
        receipt = self.receipts.get(*key)
        if receipt is not None and receipt.etag == info.etag and receipt.status is not ReceiptStatus.FAILED:
            with self._lock:
                self._settled[key] = info.etag
            return False
        return True

    def _run(self, watch: _Watch, container: str, info: BlobInfo) -> None:
        key = (watch.spec.name, container, info.path)
        try:
            invoke(watch.spec, {watch.spec.trigger["name"]: trigger_input(watch, container, info)})
        except Exception as error:
            log.exception("function %s failed on blob %s/%s", watch.spec.name, container, info.path)
            self._failed(watch, container, info, f"{type(error).__name__}: {error}")
        else:
            self.receipts.record(*key, info.etag, ReceiptStatus.DONE)
            with self._lock:
                self._retry_at.pop(key, None)
        finally:
            with self._lock:
                self._in_flight.discard(key)

    def _failed(self, watch: _Watch, container: str, info: BlobInfo, error: str) -> None:
        key = (watch.spec.name, container, info.path)
        tries = self.receipts.record(*key, info.etag, ReceiptStatus.FAILED, error)
        if tries < self.options.poison_blob_threshold:
            with self._lock:
                self._retry_at[key] = time.monotonic() + _RETRY_DELAY * tries
            return
        self.receipts.set_status(*key, ReceiptStatus.POISON)
        with self._lock:
            self._retry_at.pop(key, None)
        self.broker.send(POISON_QUEUE, [_poison_message(watch, container, info)])
        log.error("blob %s/%s is poison after %d tries: %s", container, info.path, tries, error)


def trigger_input(watch: _Watch, container: str, info: BlobInfo) -> Any:
    """The function's argument, as the worker would build it for the parameter's annotation."""
    annotation = watch.spec.annotations.get(watch.spec.trigger["name"])
    sdk_registry = extension_base.get_binding_registry()
    if sdk_registry is not None and sdk_registry.check_supported_type(annotation):
        content = {"Connection": watch.connection, "ContainerName": container, "BlobName": info.path}
        data = ModelBindingData(content=json.dumps(content))
        converter = sdk_registry.get(TRIGGER)
        return converter.decode(
            extension_base.Datum(data, "model_binding_data"), trigger_metadata={}, pytype=annotation
        )
    # A func.InputStream parameter: the worker hands over the whole content, so only small blobs suit it.
    body = watch.store.download_bytes(container, info.path)
    properties = {"Length": info.size, "ETag": info.etag, "LastModified": info.last_modified.isoformat()}
    metadata = {
        "BlobTrigger": meta.Datum(f"{container}/{info.path}", "string"),
        "Properties": meta.Datum(json.dumps(properties), "json"),
    }
    return meta.get_binding_registry().get(TRIGGER).decode(meta.Datum(body, "bytes"), trigger_metadata=metadata)


def _poison_message(watch: _Watch, container: str, info: BlobInfo) -> OutgoingMessage:
    # The body the Functions host writes to its poison queue.
    body = {
        "Type": "BlobTrigger",
        "FunctionId": f"Host.Functions.{watch.spec.name}",
        "BlobType": "BlockBlob",
        "ContainerName": container,
        "BlobName": info.path,
        "ETag": info.etag,
    }
    return OutgoingMessage(
        body=json.dumps(body).encode(),
        message_id=f"poison:{watch.spec.name}:{container}/{info.path}:{info.etag}",
        content_type="application/json",
    )


def blob_location(url: str, account: str) -> tuple[str, str] | None:
    """(container, blob name) of a blob URL in `account`: https://<account>.blob.core.windows.net/<container>/<name>,
    or path style as Azurite serves it, http://host:port/<account>/<container>/<name>. None for another account."""
    parts = urlsplit(url)
    segments = unquote(parts.path).lstrip("/").split("/")
    if not (parts.hostname or "").startswith(f"{account}."):
        if segments[0] != account:
            return None
        segments = segments[1:]
    if len(segments) < 2 or not segments[0] or not segments[-1]:
        return None
    return segments[0], "/".join(segments[1:])


def _watch(spec: FunctionSpec, store_for: Callable[[str], BlobStore]) -> _Watch:
    """Split `container/some/prefix/{name}` (resolved at indexing) into the container, a listing prefix and a
    full-name pattern."""
    path = spec.trigger["path"]
    container, _, blob_pattern = path.partition("/")
    prefix = blob_pattern.split("{", 1)[0]
    pattern = "".join(
        "(?P<{}>.+)".format(part[1:-1].split(":")[0]) if part.startswith("{") else re.escape(part)
        for part in re.split(r"(\{[^}]+\})", blob_pattern)
        if part
    )
    connection = spec.trigger.get("connection") or "AzureWebJobsStorage"
    return _Watch(spec, connection, container, prefix, re.compile(pattern), store_for(connection))
