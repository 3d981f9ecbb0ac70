"""The Function app's ports: opened on the first invocation in a worker process and kept for the next ones.

The worker imports `function_app.py` once per process and calls functions from several threads, so the ports are
built once under a lock and shared. Which adapters back them comes from settings alone, so the same code runs on
Azure, under the local host and under Core Tools.
"""

import threading
from contextlib import ExitStack
from pathlib import Path

from shared.adapters.falkordb_graph import FalkorDBGraphSink
from shared.config import SERVICEBUS_CONNECTION, STORAGE_CONNECTION, Settings
from shared.ports import Bus, Ports
from shared.runtime import embedded_ports, open_job_store

_lock = threading.Lock()
_opened: tuple[Ports, ExitStack] | None = None


def app_ports() -> Ports:
    """The process's ports, opened on first use."""
    global _opened
    with _lock:
        if _opened is None:
            _opened = _open(Settings())
        return _opened[0]


def close_app_ports() -> None:
    """Close every port; the next `app_ports()` opens them again (the local host calls this when it stops)."""
    global _opened
    with _lock:
        if _opened is not None:
            _opened[1].close()
            _opened = None


def _open(settings: Settings) -> tuple[Ports, ExitStack]:
    from shared.adapters.azure_blob import AzureBlobStore

    with ExitStack() as stack:
        blobs = AzureBlobStore.from_connection_setting(STORAGE_CONNECTION)
        stack.callback(blobs.close)
        bus = _bus(settings, stack)
        jobs = open_job_store(settings)
        stack.callback(jobs.close)
        graph = FalkorDBGraphSink(_falkordb_url(settings), settings.falkordb_graph)
        stack.callback(graph.close)
        graph.ensure_schema()
        ports = embedded_ports(settings, jobs=jobs, graph=graph, bus=bus, blobs=blobs)
        stack.callback(ports.vectors.close)
        return ports, stack.pop_all()  # on success the caller owns the callbacks; on failure they run here


def _bus(settings: Settings, stack: ExitStack) -> Bus:
    if settings.bus == "servicebus":
        from shared.adapters.servicebus_bus import ServiceBusBus

        servicebus = ServiceBusBus.from_connection_setting(SERVICEBUS_CONNECTION)
        stack.callback(servicebus.close)
        return servicebus
    from shared.devhost.broker import LocalBroker
    from shared.devhost.broker_bus import BrokerBus

    broker = LocalBroker(
        broker_path(settings),
        lock_duration=settings.devhost_lock_seconds,
        max_delivery_count=settings.max_delivery_count,
    )
    stack.callback(broker.close)
    return BrokerBus(broker)


def broker_path(settings: Settings) -> Path:
    """The local broker's file: one place names it for the app and for the host."""
    return settings.data_dir / "broker.sqlite"


def _falkordb_url(settings: Settings) -> str:
    if settings.falkordb_url:
        return settings.falkordb_url
    from shared.devhost.servers.falkordb import ensure_running

    return ensure_running(settings.data_dir / "falkordb").url
