"""The servers the embedded default needs, started by the project: Azurite (storage) and FalkorDB (graph).

Each persists under the data directory and is reused when a previous run left it running; only a server started
here is stopped here. The result is the app settings that point the functions at them, as a developer would
write them into local.settings.json by hand. The data directory is held for one host meanwhile (data_dir_lock).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path

from shared.adapters.azure_blob import AzureBlobStore
from shared.config import STORAGE_CONNECTION, Settings
from shared.devhost.blob_trigger import POISON_QUEUE
from shared.devhost.broker import LocalBroker, QueueProperties
from shared.devhost.data_dir_lock import data_dir_held
from shared.devhost.errors import StartupError
from shared.devhost.servers.azurite import LOG_FILE as AZURITE_LOG
from shared.devhost.servers.azurite import ensure_running as ensure_azurite
from shared.devhost.servers.falkordb import LOG_FILE as FALKORDB_LOG
from shared.devhost.servers.falkordb import ensure_running as ensure_falkordb
from shared.domain import TransientError
from shared.wiring import DEVELOPMENT_STORAGE


@contextmanager
def local_services(settings: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """Hold the data directory and start what `settings` leaves to the embedded default; yields the settings that
    reach it. StartupError when another host holds the folder or a server is not installed. Servers started here
    are stopped on the way out; servers found running are left alone."""
    data_dir = Path(settings.get("TRIBUTARY_DATA_DIR", ".tributary"))
    resolved = dict(settings)
    with ExitStack() as stack:
        stack.enter_context(data_dir_held(data_dir))  # released last: after the servers started here are stopped
        if settings.get(STORAGE_CONNECTION, DEVELOPMENT_STORAGE) == DEVELOPMENT_STORAGE:
            with _startup_failure(data_dir / "azurite", AZURITE_LOG):
                azurite = ensure_azurite(data_dir / "azurite")
            if azurite.started_here:
                stack.callback(azurite.stop)
            resolved[STORAGE_CONNECTION] = azurite.connection_string
        if not settings.get("TRIBUTARY_FALKORDB_URL"):
            with _startup_failure(data_dir / "falkordb", FALKORDB_LOG):
                falkordb = ensure_falkordb(data_dir / "falkordb")
            if falkordb.started_here:
                stack.callback(falkordb.stop)
            resolved["TRIBUTARY_FALKORDB_URL"] = falkordb.url
        yield resolved


@contextmanager
def _startup_failure(server_dir: Path, log_file: str) -> Iterator[None]:
    """A server that would not start (or answer) as a start-up failure, pointing at its log."""
    try:
        yield
    except TransientError as error:
        raise StartupError(
            error.reason_code,
            error.detail,
            f"read `tail -n 50 {server_dir / log_file}` for the cause; moving {server_dir} aside starts it empty",
        ) from error


def ensure_containers(store: AzureBlobStore, settings: Settings) -> None:
    """The containers the app reads and writes (on Azure the Bicep template creates them)."""
    for container in (settings.incoming_container, settings.work_container):
        store.ensure_container(container)


def ensure_queues(broker: LocalBroker, settings: Settings) -> None:
    """The app's queues with the properties the Bicep template gives them on Azure: the stage queues with duplicate
    detection (deterministic MessageIds make resends no-ops) and the app's max delivery count; and the blob
    trigger's poison queue, which the Functions host creates itself, plain."""
    lock = timedelta(seconds=settings.devhost_lock_seconds)
    stage = QueueProperties(
        lock_duration=lock,
        max_delivery_count=settings.max_delivery_count,
        requires_duplicate_detection=True,
        # The Bicep template gives the queues the window the app is told (TRIBUTARY_DUPLICATE_DETECTION_WINDOW_SECONDS).
        duplicate_detection_history_time_window=timedelta(seconds=settings.duplicate_detection_window_seconds),
    )
    for queue in settings.queues.values():
        broker.create_queue(queue, stage)
    broker.create_queue(POISON_QUEUE, QueueProperties(lock_duration=lock))
