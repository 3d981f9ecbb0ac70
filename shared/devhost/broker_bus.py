"""`Bus` on the local broker, and its registration as the `devhost` bus backend of the app's wiring.

The app's wiring (shared/wiring.py) never imports the local host: the host registers this backend when it starts,
so `TRIBUTARY_BUS=devhost` works under the local host and is a clear `config.backend_unavailable` anywhere else.
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import timedelta
from pathlib import Path

from shared.adapters.bus_messages import to_outgoing
from shared.config import Settings
from shared.devhost.broker import LocalBroker, MessageLockLostError, MessagingEntityNotFoundError, ReceivedMessage
from shared.domain import Envelope
from shared.ports import DeadLetter, DeadLetterReceiver
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

    # -- dead letters (shared.ports.DeadLetterQueues)

    def duplicate_detection_window(self, queue: str) -> timedelta | None:
        properties = self.broker.get_queue(queue)  # MessagingEntityNotFoundError for a queue never created
        if not properties.requires_duplicate_detection:
            return timedelta(0)
        return properties.duplicate_detection_history_time_window

    def peek_dead_letters(self, queue: str, max_messages: int) -> list[DeadLetter]:
        return [_dead_letter(message) for message in self.broker.peek_dead_letters(queue, max_messages)]

    @contextmanager
    def dead_letter_receiver(self, queue: str) -> Iterator[DeadLetterReceiver]:
        self.broker.get_queue(queue)  # fail now for a queue never created
        receiver = _BrokerDeadLetterReceiver(self.broker, queue)
        try:
            yield receiver
        finally:
            receiver.release_all()

    def resend(self, queue: str, message: DeadLetter) -> None:
        self.broker.send(queue, [message.resend()])


class _BrokerDeadLetterReceiver:
    def __init__(self, broker: LocalBroker, queue: str) -> None:
        self.broker = broker
        self.queue = queue
        self._locked: dict[str, ReceivedMessage] = {}  # lock token -> the broker's message, to settle it

    def receive(self, max_messages: int) -> list[DeadLetter]:
        received = self.broker.receive_dead_letters(self.queue, max_messages) if max_messages > 0 else []
        for message in received:
            self._locked[message.lock_token or ""] = message
        return [_dead_letter(message) for message in received]

    def complete(self, message: DeadLetter) -> None:
        self.broker.complete(self._locked.pop(message.lock_token or ""))

    def release(self, message: DeadLetter) -> None:
        self.broker.abandon(self._locked.pop(message.lock_token or ""))

    def release_all(self) -> None:
        for token in list(self._locked):
            with suppress(MessageLockLostError):  # lapsed already: released all the same
                self.broker.abandon(self._locked.pop(token))


def _dead_letter(message: ReceivedMessage) -> DeadLetter:
    return DeadLetter(
        queue=message.queue,
        sequence_number=message.sequence_number,
        message_id=message.message_id,
        body=message.body,
        application_properties=message.application_properties,
        content_type=message.content_type,
        subject=message.subject,
        correlation_id=message.correlation_id,
        delivery_count=message.delivery_count,
        enqueued_time=message.enqueued_time,
        dead_letter_reason=message.dead_letter_reason,
        dead_letter_error_description=message.dead_letter_error_description,
        lock_token=message.lock_token,
    )


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
