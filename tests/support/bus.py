"""Bus fixtures: the contract suite drives every backend through one small driver, in the broker's vocabulary.

Fixtures:
- `fake_clock` (function): a `FakeClock` the tests move by hand.
- `broker` (function): a `LocalBroker` on a fresh file, on the fake clock, with the queue `contract` created as the
  stage queues are (duplicate detection on, window 600 s; lock 30 s; 10 deliveries).
- `bus_driver` (function, parametrised "broker" | "servicebus"): a `BusDriver` sending through the Bus port adapter
  and receiving/settling through the backend's own API. The Service Bus case runs only when
  `TRIBUTARY_TEST_SERVICEBUS_CONNECTION` (a connection string) and `TRIBUTARY_TEST_SERVICEBUS_QUEUE` (a queue of its
  own, with duplicate detection on and maxDeliveryCount 10: it is drained before each test) are set.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from azure.servicebus import (
    ServiceBusClient,
    ServiceBusReceivedMessage,
    ServiceBusReceiveMode,
    ServiceBusReceiver,
    ServiceBusSubQueue,
)

from shared.adapters.bus_messages import to_outgoing
from shared.adapters.servicebus_bus import ServiceBusBus, to_servicebus_message
from shared.devhost.broker import LocalBroker, QueueProperties, ReceivedMessage
from shared.devhost.broker_bus import BrokerBus
from shared.domain import Envelope
from shared.ports import Bus

SERVICEBUS_CONNECTION = "TRIBUTARY_TEST_SERVICEBUS_CONNECTION"
SERVICEBUS_QUEUE = "TRIBUTARY_TEST_SERVICEBUS_QUEUE"
LOCK_DURATION = 30.0
CONTRACT_QUEUE = "contract"
# What the local host (and the Bicep template) gives a stage queue; the real test queue must match it.
STAGE_QUEUE = QueueProperties(max_delivery_count=10, requires_duplicate_detection=True)
T0 = 1_795_000_000.0  # 2026-11-18, an arbitrary fixed start


class FakeClock:
    """Seconds since the epoch, moved only by `advance`."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BusDriver(Protocol):
    name: str
    queue: str
    bus: Bus
    max_delivery_count: int

    def message_id(self, name: str) -> str:
        """A MessageId unique to this test run (a real queue outlives the test)."""
        ...

    def receive(self, max_messages: int = 1, wait: float = 10.0) -> list[ReceivedMessage]:
        """Peek-lock up to `max_messages`; a real service is waited on for up to `wait` seconds."""
        ...

    def complete(self, message: ReceivedMessage) -> None: ...

    def abandon(self, message: ReceivedMessage) -> None: ...

    def dead_letter(self, message: ReceivedMessage, reason: str, description: str) -> None: ...

    def peek_dead_letters(self, wait: float = 10.0) -> list[ReceivedMessage]: ...

    def receive_dead_letters(self, max_messages: int = 1, wait: float = 10.0) -> list[ReceivedMessage]: ...

    def send_scheduled(self, envelope: Envelope, delay: float) -> datetime:
        """Send through the backend's API with a schedule `delay` seconds ahead; returns the scheduled time."""
        ...

    def pass_time(self, seconds: float) -> None: ...


class BrokerDriver:
    name = "broker"

    def __init__(self, broker: LocalBroker, clock: FakeClock, queue: str = CONTRACT_QUEUE) -> None:
        self.broker = broker
        self.clock = clock
        self.queue = queue
        self.bus: Bus = BrokerBus(broker)
        self.max_delivery_count = broker.get_queue(queue).max_delivery_count

    def message_id(self, name: str) -> str:
        return name

    def receive(self, max_messages: int = 1, wait: float = 10.0) -> list[ReceivedMessage]:
        return self.broker.receive(self.queue, max_messages)

    def complete(self, message: ReceivedMessage) -> None:
        self.broker.complete(message)

    def abandon(self, message: ReceivedMessage) -> None:
        self.broker.abandon(message)

    def dead_letter(self, message: ReceivedMessage, reason: str, description: str) -> None:
        self.broker.dead_letter(message, reason, description)

    def peek_dead_letters(self, wait: float = 10.0) -> list[ReceivedMessage]:
        return self.broker.peek_dead_letters(self.queue)

    def receive_dead_letters(self, max_messages: int = 1, wait: float = 10.0) -> list[ReceivedMessage]:
        return self.broker.receive_dead_letters(self.queue, max_messages)

    def send_scheduled(self, envelope: Envelope, delay: float) -> datetime:
        at = datetime.fromtimestamp(self.clock() + delay, UTC)
        self.broker.send(self.queue, [to_outgoing(envelope).model_copy(update={"scheduled_enqueue_time": at})])
        return at

    def pass_time(self, seconds: float) -> None:
        self.clock.advance(seconds)


class ServiceBusDriver:
    """Real Azure Service Bus. Messages of earlier runs (another MessageId prefix) are completed and skipped."""

    name = "servicebus"
    max_delivery_count = 10  # the test queue's setting (an entity property, not ours to change)

    def __init__(self, connection_string: str, queue: str) -> None:
        self.queue = queue
        self.prefix = f"contract-{uuid.uuid4().hex[:12]}-"
        self.client = ServiceBusClient.from_connection_string(connection_string)
        self.bus: Bus = ServiceBusBus(ServiceBusClient.from_connection_string(connection_string))
        self.receiver = self.client.get_queue_receiver(queue)
        self.dead_letter_receiver = self.client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER)
        # lock token -> the receiver that holds the lock and the SDK's message, to settle it
        self._handles: dict[str, tuple[ServiceBusReceiver, ServiceBusReceivedMessage]] = {}

    def drain(self) -> None:
        """Empty the queue and its dead-letter subqueue, so a test sees only its own messages."""
        for sub_queue in (None, ServiceBusSubQueue.DEAD_LETTER):
            with self.client.get_queue_receiver(
                self.queue, sub_queue=sub_queue, receive_mode=ServiceBusReceiveMode.RECEIVE_AND_DELETE
            ) as receiver:
                while receiver.receive_messages(max_message_count=100, max_wait_time=1):
                    pass

    def close(self) -> None:
        self.receiver.close()
        self.dead_letter_receiver.close()
        self.client.close()
        self.bus.close()  # type: ignore[attr-defined]

    def message_id(self, name: str) -> str:
        return self.prefix + name

    def receive(self, max_messages: int = 1, wait: float = 10.0) -> list[ReceivedMessage]:
        return self._receive(self.receiver, max_messages, wait)

    def receive_dead_letters(self, max_messages: int = 1, wait: float = 10.0) -> list[ReceivedMessage]:
        return self._receive(self.dead_letter_receiver, max_messages, wait)

    def _receive(self, receiver: ServiceBusReceiver, max_messages: int, wait: float) -> list[ReceivedMessage]:
        # The service hands out what it has at once and stops at a gap: keep asking until full or out of time.
        received: list[ReceivedMessage] = []
        deadline = time.monotonic() + wait
        while len(received) < max_messages and (remaining := deadline - time.monotonic()) > 0:
            for message in receiver.receive_messages(max_messages - len(received), max_wait_time=remaining):
                if not (message.message_id or "").startswith(self.prefix):
                    receiver.complete_message(message)  # left over from another run
                    continue
                converted = self._convert(message)
                self._handles[converted.lock_token or ""] = (receiver, message)
                received.append(converted)
        return received

    def complete(self, message: ReceivedMessage) -> None:
        receiver, handle = self._handles.pop(message.lock_token or "")
        receiver.complete_message(handle)

    def abandon(self, message: ReceivedMessage) -> None:
        receiver, handle = self._handles.pop(message.lock_token or "")
        receiver.abandon_message(handle)

    def dead_letter(self, message: ReceivedMessage, reason: str, description: str) -> None:
        receiver, handle = self._handles.pop(message.lock_token or "")
        receiver.dead_letter_message(handle, reason=reason, error_description=description)

    def peek_dead_letters(self, wait: float = 10.0) -> list[ReceivedMessage]:
        deadline = time.monotonic() + wait
        while True:
            peeked = self.dead_letter_receiver.peek_messages(max_message_count=100, sequence_number=0)
            mine = [self._convert(m, peeked=True) for m in peeked if (m.message_id or "").startswith(self.prefix)]
            if mine or time.monotonic() > deadline:
                return mine
            time.sleep(0.5)

    def send_scheduled(self, envelope: Envelope, delay: float) -> datetime:
        at = datetime.now(UTC) + timedelta(seconds=delay)
        message = to_outgoing(envelope).model_copy(update={"scheduled_enqueue_time": at})
        with self.client.get_queue_sender(self.queue) as sender:
            sender.send_messages(to_servicebus_message(message))
        return at

    def pass_time(self, seconds: float) -> None:
        time.sleep(seconds)

    def _convert(self, message: ServiceBusReceivedMessage, *, peeked: bool = False) -> ReceivedMessage:
        body = message.body if isinstance(message.body, bytes) else b"".join(message.body)
        return ReceivedMessage(
            queue=self.queue,
            sequence_number=message.sequence_number or 0,
            message_id=message.message_id or "",
            body=body,
            application_properties={_text(k): _text(v) for k, v in (message.application_properties or {}).items()},
            content_type=message.content_type,
            subject=message.subject,
            correlation_id=message.correlation_id,
            # The AMQP header counts earlier attempts (0 on the first delivery); the Functions host, like the .NET
            # SDK, reports one more. The broker follows the host.
            delivery_count=(message.delivery_count or 0) + 1,
            enqueued_time=message.enqueued_time_utc or datetime.now(UTC),
            scheduled_enqueue_time=message.scheduled_enqueue_time_utc,
            locked_until=None if peeked else message.locked_until_utc,
            lock_token=None if peeked else str(message.lock_token),
            dead_letter_reason=message.dead_letter_reason,
            dead_letter_error_description=message.dead_letter_error_description,
            dead_letter_source=message.dead_letter_source,
        )


def _text(value: Any) -> Any:
    # Received application properties come back with bytes keys and bytes string values (pyamqp).
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def broker(tmp_path: Path, fake_clock: FakeClock) -> Iterator[LocalBroker]:
    with LocalBroker(tmp_path / "broker.db", lock_duration=LOCK_DURATION, clock=fake_clock) as broker:
        broker.create_queue(
            CONTRACT_QUEUE, STAGE_QUEUE.model_copy(update={"lock_duration": broker.defaults.lock_duration})
        )
        yield broker


@pytest.fixture(params=["broker", "servicebus"])
def bus_driver(request: pytest.FixtureRequest) -> Iterator[BusDriver]:
    if request.param == "broker":
        yield BrokerDriver(request.getfixturevalue("broker"), request.getfixturevalue("fake_clock"))
        return
    connection_string = os.environ.get(SERVICEBUS_CONNECTION)
    queue = os.environ.get(SERVICEBUS_QUEUE)
    if not connection_string or not queue:
        pytest.skip(
            f"real Service Bus not configured: set {SERVICEBUS_CONNECTION} (a connection string) and "
            f"{SERVICEBUS_QUEUE} (a queue with duplicate detection and maxDeliveryCount 10)"
        )
    driver = ServiceBusDriver(connection_string, queue)
    try:
        driver.drain()
        yield driver
    finally:
        driver.close()
