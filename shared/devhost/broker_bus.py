"""`Bus` on the local broker: what the devhost and the embedded runs send through."""

from collections.abc import Sequence

from shared.adapters.bus_messages import to_outgoing
from shared.devhost.broker import LocalBroker
from shared.domain import Envelope


class BrokerBus:
    """Sends envelopes to `LocalBroker` queues (created by the local host, as the Bicep template creates them on
    Azure); a queue with duplicate detection drops a MessageId it has already accepted."""

    def __init__(self, broker: LocalBroker) -> None:
        self.broker = broker

    def send(self, queue: str, envelopes: Sequence[Envelope]) -> None:
        if envelopes:
            self.broker.send(queue, [to_outgoing(envelope) for envelope in envelopes])
