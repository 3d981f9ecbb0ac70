"""The Bus contract (shared/ports.py) and the Service Bus semantics the stages rely on, run against every backend:
the local broker always, real Azure Service Bus when configured (see tests/support/bus.py).

At the end, the Service Bus adapter's own logic (batch splitting, error translation, connection settings) is
checked offline against the SDK's real batch type, so it is covered even where no namespace is reachable.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from azure.identity import DefaultAzureCredential
from azure.servicebus import ServiceBusMessageBatch
from azure.servicebus.exceptions import MessagingEntityNotFoundError, ServiceBusServerBusyError

from shared.adapters.bus_messages import envelope_from_body, to_outgoing
from shared.adapters.servicebus_bus import ServiceBusBus
from shared.devhost.broker_models import MAX_MESSAGE_BYTES, MessageTooLargeError
from shared.domain import BatchPayload, Chunk, DocumentRef, Envelope, PermanentError, Stage, TransientError
from shared.ports import Bus
from tests.support.bus import BusDriver

DOCUMENT = DocumentRef(
    account="acct", container="incoming", path="a.txt", document_id="doc", version="v1", size=1, content_type="text/csv"
)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SHORT_WAIT = 3.0  # how long a real service is given to prove that nothing arrives


def make_envelope(message_id: str, *, batch: int = 0, text: str = "hello", **overrides: Any) -> Envelope:
    chunk = Chunk(chunk_id=f"c{batch}", document_id="doc", version="v1", ordinal=batch, text=text, locator="line 1")
    fields: dict[str, Any] = {
        "message_id": message_id,
        "job_id": "job-1",
        "stage": Stage.ENRICH,
        "batch": batch,
        "document": DOCUMENT,
        "tracking_id": "0af7651916cd43dd8448eb211c80319c",
        "traceparent": TRACEPARENT,
        "payload": BatchPayload(chunks=[chunk]),
    }
    return Envelope(**(fields | overrides))


def test_adapters_implement_the_port(bus_driver: BusDriver):
    assert isinstance(bus_driver.bus, Bus)


def test_round_trip_keeps_body_message_id_and_properties(bus_driver: BusDriver):
    # GIVEN an envelope carrying trace context
    sent = make_envelope(bus_driver.message_id("round-trip"), batch=3)
    # WHEN it goes through the Bus port and is received
    bus_driver.bus.send(bus_driver.queue, [sent])
    [received] = bus_driver.receive()
    # THEN everything a stage needs arrives intact
    assert received.message_id == sent.message_id
    assert envelope_from_body(received.body) == sent
    assert received.content_type == "application/json"
    assert received.subject == "enrich"
    assert received.delivery_count == 1
    properties = received.application_properties
    assert properties["traceparent"] == TRACEPARENT
    assert properties["tracking_id"] == sent.tracking_id
    assert (properties["job_id"], properties["stage"], properties["batch"]) == ("job-1", "enrich", 3)
    bus_driver.complete(received)
    assert bus_driver.receive(wait=SHORT_WAIT) == []


def test_a_duplicate_message_id_is_dropped(bus_driver: BusDriver):
    # GIVEN two messages accepted
    first = make_envelope(bus_driver.message_id("dup-1"), text="first")
    other = make_envelope(bus_driver.message_id("dup-2"), batch=1)
    bus_driver.bus.send(bus_driver.queue, [first, other])
    # WHEN a redelivered stage resends the first with the same MessageId (its body may differ: a new timestamp)
    bus_driver.bus.send(bus_driver.queue, [make_envelope(first.message_id, text="resent")])
    # THEN only the first copy is on the queue
    received = bus_driver.receive(max_messages=3, wait=SHORT_WAIT)
    assert sorted(m.message_id for m in received) == sorted([first.message_id, other.message_id])
    by_id = {m.message_id: m for m in received}
    assert envelope_from_body(by_id[first.message_id].body) == first
    for message in received:
        bus_driver.complete(message)


def test_a_send_larger_than_one_batch_arrives_whole(bus_driver: BusDriver):
    # GIVEN five envelopes of ~100 KB each: together far over the 256 KB a single batch may carry
    envelopes = [make_envelope(bus_driver.message_id(f"big-{i}"), batch=i, text="x" * 100_000) for i in range(5)]
    # WHEN they are sent in one call
    bus_driver.bus.send(bus_driver.queue, envelopes)
    # THEN every one arrives
    received = bus_driver.receive(max_messages=5)
    assert sorted(m.message_id for m in received) == sorted(e.message_id for e in envelopes)
    for message in received:
        bus_driver.complete(message)


def test_an_oversized_message_is_refused_and_nothing_of_the_send_is_enqueued(bus_driver: BusDriver):
    small = make_envelope(bus_driver.message_id("small"))
    huge = make_envelope(bus_driver.message_id("huge"), batch=1, text="x" * MAX_MESSAGE_BYTES)
    with pytest.raises(PermanentError) as raised:
        bus_driver.bus.send(bus_driver.queue, [small, huge])
    assert raised.value.reason_code == "bus.message_too_large"
    assert isinstance(raised.value, MessageTooLargeError)
    assert bus_driver.receive(wait=SHORT_WAIT) == []


def test_abandon_redelivers_with_delivery_count_plus_one(bus_driver: BusDriver):
    bus_driver.bus.send(bus_driver.queue, [make_envelope(bus_driver.message_id("abandon"))])
    [first] = bus_driver.receive()
    bus_driver.abandon(first)
    [second] = bus_driver.receive()
    assert second.message_id == first.message_id
    assert (first.delivery_count, second.delivery_count) == (1, 2)
    assert second.lock_token != first.lock_token
    bus_driver.complete(second)


def test_after_max_deliveries_the_message_is_dead_lettered(bus_driver: BusDriver):
    # GIVEN a message every delivery of which fails
    sent = make_envelope(bus_driver.message_id("poison"))
    bus_driver.bus.send(bus_driver.queue, [sent])
    for attempt in range(1, bus_driver.max_delivery_count + 1):
        [message] = bus_driver.receive()
        assert message.delivery_count == attempt
        bus_driver.abandon(message)
    # THEN after the last allowed delivery it is not delivered again but dead-lettered, intact
    assert bus_driver.receive(wait=SHORT_WAIT) == []
    [dead] = bus_driver.peek_dead_letters()
    assert dead.message_id == sent.message_id
    assert envelope_from_body(dead.body) == sent
    assert dead.dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead.application_properties["traceparent"] == TRACEPARENT


def test_an_explicit_dead_letter_keeps_reason_and_description_and_can_be_replayed(bus_driver: BusDriver):
    sent = make_envelope(bus_driver.message_id("refused"))
    bus_driver.bus.send(bus_driver.queue, [sent])
    [message] = bus_driver.receive()
    bus_driver.dead_letter(message, "parse.xml.entities_forbidden", "the document declares entities")

    [dead] = bus_driver.peek_dead_letters()
    assert (dead.message_id, dead.dead_letter_reason, dead.dead_letter_error_description) == (
        sent.message_id,
        "parse.xml.entities_forbidden",
        "the document declares entities",
    )
    assert envelope_from_body(dead.body) == sent
    assert bus_driver.receive(wait=SHORT_WAIT) == []
    # a replay takes it off the dead-letter subqueue with peek-lock and completes it
    [locked] = bus_driver.receive_dead_letters()
    assert locked.message_id == sent.message_id
    bus_driver.complete(locked)
    assert bus_driver.peek_dead_letters(wait=SHORT_WAIT) == []


def test_a_scheduled_message_is_invisible_before_its_time(bus_driver: BusDriver):
    sent = make_envelope(bus_driver.message_id("scheduled"))
    at = bus_driver.send_scheduled(sent, delay=6)
    assert bus_driver.receive(wait=2) == []
    bus_driver.pass_time(6)
    [message] = bus_driver.receive(wait=30)
    assert message.message_id == sent.message_id
    assert message.scheduled_enqueue_time is not None
    assert abs(message.scheduled_enqueue_time - at) < timedelta(seconds=1)
    bus_driver.complete(message)


def test_the_mapping_omits_absent_properties():
    envelope = make_envelope("no-trace", traceparent=None)
    assert "traceparent" not in to_outgoing(envelope).application_properties
    assert envelope_from_body(to_outgoing(envelope).body.decode()) == envelope


# -- ServiceBusBus offline: its own logic against the SDK's real batch type, a recording sender in place of a link


class RecordingSender:
    def __init__(self, batch_bytes: int, fail_with: Exception | None = None) -> None:
        self.batch_bytes = batch_bytes
        self.fail_with = fail_with
        self.sent: list[int] = []  # messages per batch sent
        self.closed = False

    def create_message_batch(self) -> ServiceBusMessageBatch:
        return ServiceBusMessageBatch(max_size_in_bytes=self.batch_bytes)

    def send_messages(self, batch: ServiceBusMessageBatch) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append(len(batch))

    def close(self) -> None:
        self.closed = True


class RecordingClient:
    def __init__(self, *senders: RecordingSender) -> None:
        self.senders = list(senders)
        self.opened: list[str] = []
        self.closed = False

    def get_queue_sender(self, queue: str) -> RecordingSender:
        self.opened.append(queue)
        return self.senders.pop(0)

    def close(self) -> None:
        self.closed = True


def test_servicebus_bus_splits_a_send_into_batches_that_fit_and_keeps_one_sender_per_queue():
    sender = RecordingSender(batch_bytes=3_500)
    client = RecordingClient(sender)
    bus = ServiceBusBus(client)  # type: ignore[arg-type]
    envelopes = [make_envelope(f"m{i}", batch=i, text="x" * 1_000) for i in range(5)]  # ~1.6 KB each as JSON
    bus.send("enrich", envelopes)
    bus.send("enrich", envelopes[:1])
    assert sum(sender.sent) == 6
    assert len(sender.sent) > 2  # the first send needed more than one batch
    assert client.opened == ["enrich"]
    bus.close()
    assert sender.closed
    assert client.closed


def test_servicebus_bus_refuses_a_message_the_sdk_cannot_fit_in_an_empty_batch_and_sends_nothing():
    sender = RecordingSender(batch_bytes=1_500)
    bus = ServiceBusBus(RecordingClient(sender))  # type: ignore[arg-type]
    with pytest.raises(MessageTooLargeError):
        bus.send("enrich", [make_envelope("small"), make_envelope("big", batch=1, text="x" * 2_000)])
    assert sender.sent == []


def test_servicebus_bus_turns_retryable_errors_into_transient_ones_and_reopens_the_link():
    broken = RecordingSender(batch_bytes=10_000, fail_with=ServiceBusServerBusyError(message="busy"))
    healthy = RecordingSender(batch_bytes=10_000)
    bus = ServiceBusBus(RecordingClient(broken, healthy))  # type: ignore[arg-type]
    with pytest.raises(TransientError) as raised:
        bus.send("enrich", [make_envelope("m")])
    assert raised.value.reason_code == "bus.send_failed"
    assert broken.closed
    bus.send("enrich", [make_envelope("m")])
    assert healthy.sent == [1]


def test_servicebus_bus_lets_other_errors_through():
    failing = RecordingSender(batch_bytes=10_000, fail_with=MessagingEntityNotFoundError(message="no such queue"))
    bus = ServiceBusBus(RecordingClient(failing))  # type: ignore[arg-type]
    with pytest.raises(MessagingEntityNotFoundError):
        bus.send("enrich", [make_envelope("m")])


def test_connection_setting_takes_a_connection_string_first():
    environ = {
        "ServiceBusConnection": "Endpoint=sb://ns1.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=c2VjcmV0",
        "ServiceBusConnection__fullyQualifiedNamespace": "ns2.servicebus.windows.net",
    }
    bus = ServiceBusBus.from_connection_setting("ServiceBusConnection", environ)
    assert bus.client.fully_qualified_namespace == "ns1.servicebus.windows.net"
    bus.close()


def test_connection_setting_falls_back_to_an_identity_on_the_namespace():
    environ = {
        "ServiceBusConnection__fullyQualifiedNamespace": "ns2.servicebus.windows.net",
        "ServiceBusConnection__clientId": "00000000-0000-0000-0000-000000000001",
    }
    bus = ServiceBusBus.from_connection_setting("ServiceBusConnection", environ)
    assert bus.client.fully_qualified_namespace == "ns2.servicebus.windows.net"
    assert isinstance(bus._credential, DefaultAzureCredential)
    bus.close()


def test_connection_setting_missing_names_both_settings():
    with pytest.raises(ValueError, match="ServiceBusConnection__fullyQualifiedNamespace"):
        ServiceBusBus.from_connection_setting("ServiceBusConnection", {})
