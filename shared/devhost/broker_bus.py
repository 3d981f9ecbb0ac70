"""`Bus` on the local broker, and its registration as the `devhost` bus backend of the app's wiring.

The app's wiring (shared/wiring.py) never imports the local host: the host registers this backend when it starts,
so `TRIBUTARY_BUS=devhost` works under the local host and is a clear `config.backend_unavailable` anywhere else.
"""

from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

from shared.adapters.bus_messages import to_outgoing
from shared.config import Settings
from shared.devhost.broker import LocalBroker, MessagingEntityNotFoundError
from shared.domain import Envelope
from shared.wiring import Backend, register


class BrokerBus:
    """Sends envelopes to `LocalBroker` queues (created by the local host, as the Bicep template creates them on
    Azure); a queue with duplicate detection drops a MessageId it has already accepted."""

    def __init__(self, broker: LocalBroker) -> None:
        self.broker = broker

    def max_delivery_count(self, queue: str) -> int | None:
        try:
            return self.broker.get_queue(queue).max_delivery_count
        except MessagingEntityNotFoundError:
            return None  # not created yet: sending to it fails with bus.entity_not_found

    def send(self, queue: str, envelopes: Sequence[Envelope]) -> None:
        if envelopes:
            self.broker.send(queue, [to_outgoing(envelope) for envelope in envelopes])


def broker_path(settings: Settings) -> Path:
    """The local broker's file: one place names it for the app and for the host."""
    return settings.data_dir / "broker.sqlite"


def open_broker(settings: Settings) -> LocalBroker:
    """The local broker under the settings' data directory."""
    return LocalBroker(broker_path(settings))  # each queue keeps its own properties (local_services.ensure_queues)


def _open_bus(settings: Settings, environ: Mapping[str, str], stack: ExitStack) -> BrokerBus:
    broker = open_broker(settings)
    stack.callback(broker.close)
    return BrokerBus(broker)


def register_devhost_bus() -> None:
    """Make `TRIBUTARY_BUS=devhost` choosable in this process (idempotent)."""
    register(
        Backend("bus", "devhost", "TRIBUTARY_BUS", True, _open_bus, __name__, on_azure="set TRIBUTARY_BUS=servicebus")
    )
