"""The local Functions host: loads the very same function_app.py and drives its triggers (DESIGN.md §6).

One loop starts invocations on a thread pool: blob triggers from the storage account (Azurite locally), Service
Bus triggers from the durable local broker, Durable Functions orchestrations and activities (durable/), and, when
asked, HTTP triggers on a real local server. State lives in files under the data directory (broker, blob receipts,
durable task hub, keys), so a host killed mid-run and started again finishes the work: unsettled messages come back
when their locks expire, unfinished blobs are delivered again, orchestrations resume from their history.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from shared.adapters.azure_blob import AzureBlobStore
from shared.app_ports import close_app_ports
from shared.config import STORAGE_CONNECTION, Settings
from shared.devhost import environment, eventgrid
from shared.devhost.app_loader import LoadedApp, load_app
from shared.devhost.blob_trigger import POISON_QUEUE, BlobTriggerWatcher
from shared.devhost.broker_bus import open_broker, register_devhost_bus
from shared.devhost.durable.service import DurableService, has_durable_functions
from shared.devhost.eventgrid_trigger import EventGridDispatcher, blob_deleted_event
from shared.devhost.host_config import HostConfig, load_host_config
from shared.devhost.http_server import HttpServer, load_or_create_keys
from shared.devhost.indexing import IndexedFunctions, index_functions
from shared.devhost.invoke import invoke
from shared.devhost.local_services import ensure_containers, ensure_queues
from shared.devhost.receipts import BlobReceipts
from shared.devhost.servicebus_trigger import ServiceBusDispatcher
from shared.ports import BlobStore

log = logging.getLogger(__name__)

APP_SCRIPT = Path(__file__).resolve().parents[2] / "function_app.py"
_MESSAGE_POLL = 0.02  # seconds between broker polls when nothing started
_BLOB_POLL = 0.5  # seconds between container listings (Event Grid pushes on Azure; listing is the local stand-in)


def worker_threads(settings: Mapping[str, str]) -> int:
    """The Python worker's thread pool: PYTHON_THREADPOOL_THREAD_COUNT, else the worker's own default (that of
    `ThreadPoolExecutor`: min(32, CPUs + 4))."""
    configured = settings.get("PYTHON_THREADPOOL_THREAD_COUNT", "")
    return int(configured) if configured.strip() else min(32, (os.cpu_count() or 1) + 4)


class HostIdleTimeoutError(TimeoutError):
    """`run_until_idle` ran out of time with work still pending."""


class DevHost:
    """Use as a context manager: `with DevHost(settings=...) as host: host.run_until_idle()` or `host.start()`."""

    def __init__(
        self,
        script: Path = APP_SCRIPT,
        *,
        settings: Mapping[str, str] | None = None,
        serve_http: bool = False,
        http_port: int = 0,
    ) -> None:
        self.script = script.resolve()
        self.app_settings = environment.app_settings(self.script.parent, settings)
        self.serve_http = serve_http
        self.http_port = http_port
        self.config: HostConfig = load_host_config(self.script.parent / "host.json")
        self.http: HttpServer | None = None
        self.durable: DurableService | None = None
        self._stack = ExitStack()
        self._stores: dict[str, AzureBlobStore] = {}
        self._stopping = threading.Event()
        self._loop_thread: threading.Thread | None = None
        self._last_listing = 0.0

    # -- lifecycle

    def __enter__(self) -> Self:
        try:
            self._open()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None):
        self.stop()

    def _open(self) -> None:
        self._stack.enter_context(environment.applied(self.app_settings))
        self.settings = Settings()
        self.app: LoadedApp = load_app(self.script)
        # Against the whole environment, the app settings just applied included, as the Functions host resolves.
        self.indexed: IndexedFunctions = index_functions(self.app.functions, os.environ)
        for message in self.indexed.errors.values():
            log.warning(message)
        register_devhost_bus()  # the app's TRIBUTARY_BUS=devhost is this host's broker
        self.broker = open_broker(self.settings)
        self._stack.callback(self.broker.close)
        ensure_queues(self.broker, self.settings)  # the Bicep template creates them on Azure
        receipts = BlobReceipts(self.settings.data_dir / "devhost.sqlite")
        self._stack.callback(receipts.close)
        self._stack.callback(close_app_ports)  # after the pool drained (callbacks run in reverse order)
        functions = list(self.indexed.functions)
        # One pool for every invocation, as the Python worker has: what the host hands over beyond it waits.
        self.executor = ThreadPoolExecutor(worker_threads(self.app_settings), "devhost")
        self._stack.callback(self.executor.shutdown, wait=True)
        # The app's containers: the Bicep template creates them on Azure, the local host here.
        ensure_containers(self.blob_store(STORAGE_CONNECTION), self.settings)
        self.messages = ServiceBusDispatcher(functions, self.broker, self.config.service_bus, self.executor)
        self.events = EventGridDispatcher(functions, self.executor)
        self.blobs = BlobTriggerWatcher(
            functions,
            self.config.blobs,
            self.blob_store,
            receipts,
            self.broker,
            self.executor,
            on_deleted=self._publish_blob_deleted,
        )
        if has_durable_functions(functions):
            self.durable = DurableService(
                functions,
                self.settings.data_dir,
                self.executor,
                lambda spec, inputs: invoke(spec, inputs).result,
                load_or_create_keys(self.settings.data_dir, self.app_settings),
                self.config.durable,
            )
            self._stack.callback(self.durable.close)  # before the pool shuts down: it waits for its own work
        if self.serve_http:
            keys = load_or_create_keys(self.settings.data_dir, self.app_settings)
            self.http = HttpServer(
                self.indexed.by_trigger("httpTrigger"),
                lambda spec, inputs: invoke(spec, inputs).result,
                keys,
                port=self.http_port,
                route_prefix=self.config.http.route_prefix,
            )
            self.http.add_handler(eventgrid.PATH, eventgrid.blob_webhook(self.blobs, keys))
            self.http.add_handler(eventgrid.EVENTGRID_PATH, eventgrid.eventgrid_webhook(self.events, keys))
            self.http.start()
            if self.durable is not None:
                self.durable.attach(self.http)
            self._stack.callback(self.http.stop)

    def _publish_blob_deleted(self, store: BlobStore, container: str, name: str) -> None:
        service = getattr(store, "service", None)  # the Azure SDK client, for the blob's URL as Event Grid gives it
        base = service.url.rstrip("/") if service is not None else f"https://{store.account}.blob.core.windows.net"
        self.events.publish(blob_deleted_event(store.account, container, name, f"{base}/{container}/{name}"))

    @property
    def errors(self) -> dict[str, str]:
        """By function name, why it does not run: not indexed, or its listener did not start (the host's messages)."""
        durable = self.durable.engine.errors if self.durable is not None else {}
        return self.indexed.errors | self.messages.errors | durable

    def blob_store(self, connection: str) -> AzureBlobStore:
        """The storage account a binding's connection setting names (one client per connection)."""
        if connection not in self._stores:
            store = AzureBlobStore.from_connection_setting(connection)
            self._stack.callback(store.close)
            self._stores[connection] = store
        return self._stores[connection]

    def start(self) -> None:
        """Run the trigger loop in the background until `stop()`."""
        self._loop_thread = threading.Thread(target=self._loop, name="devhost-loop", daemon=True)
        self._loop_thread.start()

    def stop(self) -> None:
        """Stop starting work, let running invocations finish, then close everything."""
        self._stopping.set()
        if self._loop_thread is not None:
            self._loop_thread.join()
        self._stack.close()

    # -- running

    def step(self) -> int:
        """Start whatever can start now; returns how many invocations started."""
        started = 0
        now = time.monotonic()
        if now - self._last_listing >= _BLOB_POLL:
            self._last_listing = now
            started += self.blobs.poll()
        durable = self.durable.engine.poll() if self.durable is not None else 0
        return started + self.events.poll() + self.messages.poll() + durable

    def run_until_idle(self, timeout: float = 300.0) -> None:
        """Drive the triggers in this thread until no blob, message or invocation is left (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.step() == 0 and self._idle():
                self._last_listing = 0.0  # one last look at the containers before calling it done
                if self.step() == 0 and self._idle():
                    return
            time.sleep(_MESSAGE_POLL)
        raise HostIdleTimeoutError(f"work still pending after {timeout:.0f} s: {self.status()}")

    def _idle(self) -> bool:
        return (
            not self.blobs.busy()
            and not self.events.busy()
            and not self.messages.busy()
            and self.messages.pending() == 0
            and (self.durable is None or not self.durable.engine.busy())
        )

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                started = self.step()
            except Exception:  # a storage hiccup must not end the host; the next round tries again
                log.exception("trigger loop")
                started = 0
            if not started:
                self._stopping.wait(_MESSAGE_POLL)

    def status(self) -> dict[str, Any]:
        """Queue counts per Service Bus queue (and the poison queue), for `tributary dev` and error messages."""
        queues = [*self.messages.queues, POISON_QUEUE]
        return {queue: self.broker.counts(queue).model_dump() for queue in queues}
