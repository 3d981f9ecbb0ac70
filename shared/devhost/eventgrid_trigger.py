"""Event Grid triggers: the local host publishes the blob events Azure's Event Grid would push to them.

On Azure an Event Grid subscription on the storage account pushes events to `eventGridTrigger` functions, through
the host's `/runtime/webhooks/eventgrid` endpoint. Azurite publishes no events, so here the host plays Event Grid's
part for what the subscription in infra/ delivers: a `Microsoft.Storage.BlobDeleted` event for each blob gone from
a container a blob trigger watches (the blob triggers' receipts say which blobs were there). Events may also be
POSTed by hand to `/runtime/webhooks/eventgrid?functionName=<name>`, as with Core Tools. A function that raises is
called again with back-off, as Event Grid retries; after `max_tries` the event is dropped with an error in the log
(Event Grid then dead-letters it to the subscription's dead-letter container, when one is configured).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

from azure.functions import meta

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.invoke import invoke

log = logging.getLogger(__name__)

TRIGGER = "eventGridTrigger"
BLOB_DELETED = "Microsoft.Storage.BlobDeleted"
_RETRY_DELAY = 0.2  # seconds, times the tries so far: a quick local stand-in for Event Grid's back-off


def blob_deleted_event(account: str, container: str, name: str, blob_url: str) -> dict[str, Any]:
    """A BlobDeleted event in the Event Grid schema, as Blob Storage publishes it."""
    return {
        "id": str(uuid.uuid4()),
        "topic": f"/subscriptions/local/resourceGroups/local/providers/Microsoft.Storage/storageAccounts/{account}",
        "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
        "eventType": BLOB_DELETED,
        "eventTime": datetime.now(UTC).isoformat(),
        "data": {"api": "DeleteBlob", "blobType": "BlockBlob", "url": blob_url},
        "dataVersion": "",
        "metadataVersion": "1",
    }


class EventGridDispatcher:
    """Delivers events to the app's Event Grid-triggered functions on the host's workers, with retries."""

    def __init__(self, functions: list[FunctionSpec], executor: Executor, *, max_tries: int = 5) -> None:
        self.functions = {spec.name: spec for spec in functions if spec.trigger_type == TRIGGER}
        self.executor = executor
        self.max_tries = max_tries
        self._lock = threading.Lock()
        self._running = 0
        self._retries: list[tuple[float, str, dict[str, Any], int]] = []  # (due, function, event, tries so far)

    def publish(self, event: dict[str, Any]) -> int:
        """Deliver the event to every Event Grid-triggered function (each is a subscription); returns how many."""
        for name in self.functions:
            self._start(name, event, 0)
        return len(self.functions)

    def deliver(self, function: str, event: dict[str, Any]) -> bool:
        """Deliver the event to one function (the webhook); False when it has no Event Grid trigger."""
        if function not in self.functions:
            return False
        self._start(function, event, 0)
        return True

    def poll(self) -> int:
        """Start the retries that are due; returns how many started."""
        now = time.monotonic()
        with self._lock:
            due = [retry for retry in self._retries if retry[0] <= now]
            self._retries = [retry for retry in self._retries if retry[0] > now]
        for _, function, event, tries in due:
            self._start(function, event, tries)
        return len(due)

    def busy(self) -> bool:
        """A call is running or a failed event waits for its next try."""
        with self._lock:
            return bool(self._running or self._retries)

    def _start(self, function: str, event: dict[str, Any], tries: int) -> None:
        with self._lock:
            self._running += 1
        self.executor.submit(self._run, function, event, tries)

    def _run(self, function: str, event: dict[str, Any], tries: int) -> None:
        spec = self.functions[function]
        try:
            argument = (
                meta.get_binding_registry()
                .get(TRIGGER)
                .decode(meta.Datum(json.dumps(event), "json"), trigger_metadata={})
            )
            invoke(spec, {spec.trigger["name"]: argument})
        except Exception as error:
            tries += 1
            if tries < self.max_tries:
                log.warning("function %s failed on event %s (try %d): %s", function, event.get("id"), tries, error)
                with self._lock:
                    self._retries.append((time.monotonic() + _RETRY_DELAY * tries, function, event, tries))
            else:
                log.error("event %s dropped after %d tries of %s: %s", event.get("id"), tries, function, error)
        finally:
            with self._lock:
                self._running -= 1
