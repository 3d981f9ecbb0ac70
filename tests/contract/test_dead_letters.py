"""The DeadLetterQueues contract (shared/ports.py), run against every bus that holds dead letters: the local broker
always, real Azure Service Bus when configured (see tests/support/bus.py; skipped with the reason otherwise).

What needs time to pass by the length of a duplicate detection window (10 minutes) runs on the local broker only,
whose clock the test moves.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.adapters.bus_messages import envelope_from_body
from shared.devhost.broker import LocalBroker, MessagingEntityNotFoundError
from shared.devhost.broker_bus import BrokerBus
from shared.ports import DeadLetter, DeadLetterQueues
from tests.contract.test_bus import SHORT_WAIT, TRACEPARENT, make_envelope
from tests.support.bus import CONTRACT_QUEUE, BusDriver, FakeClock


def dead_letters(driver: BusDriver) -> DeadLetterQueues:
    port = driver.bus
    assert isinstance(port, DeadLetterQueues)
    return port


def dead_letter_one(driver: BusDriver, name: str, *, batch: int = 0) -> str:
    """Send a message and dead-letter it explicitly; returns its MessageId."""
    message_id = driver.message_id(name)
    driver.bus.send(driver.queue, [make_envelope(message_id, batch=batch)])
    [received] = driver.receive()
    driver.dead_letter(received, "graph.unavailable", "graph batch 0: graph.unavailable: down")
    return message_id


def test_adapters_implement_the_dead_letter_port(bus_driver: BusDriver):
    assert isinstance(bus_driver.bus, DeadLetterQueues)


def test_peek_sees_a_dead_letter_whole_without_locking_it(bus_driver: BusDriver):
    # GIVEN a dead-lettered message
    message_id = dead_letter_one(bus_driver, "peeked", batch=2)

    # WHEN the port peeks the dead-letter subqueue (twice)
    [first] = dead_letters(bus_driver).peek_dead_letters(bus_driver.queue, 10)
    [again] = dead_letters(bus_driver).peek_dead_letters(bus_driver.queue, 10)

    # THEN it is there, intact, with its reason and description, and not locked
    assert first.message_id == again.message_id == message_id
    assert envelope_from_body(first.body).message_id == message_id
    assert (first.dead_letter_reason, first.dead_letter_error_description) == (
        "graph.unavailable",
        "graph batch 0: graph.unavailable: down",
    )
    assert first.application_properties["traceparent"] == TRACEPARENT
    assert first.application_properties["batch"] == 2
    assert first.lock_token is None
    assert first.enqueued_time.tzinfo is not None


def test_a_received_dead_letter_completed_is_gone_and_one_released_stays(bus_driver: BusDriver):
    # GIVEN two dead letters
    kept_id = dead_letter_one(bus_driver, "kept", batch=0)
    gone_id = dead_letter_one(bus_driver, "gone", batch=1)
    port = dead_letters(bus_driver)

    # WHEN a receiver locks both, completes one and releases the other
    with port.dead_letter_receiver(bus_driver.queue) as receiver:
        received = receiver.receive(10)
        by_id = {message.message_id: message for message in received}
        assert set(by_id) == {kept_id, gone_id}
        assert all(message.lock_token for message in received)
        receiver.complete(by_id[gone_id])
        receiver.release(by_id[kept_id])

    # THEN only the released one is left, and it can be locked again
    assert [m.message_id for m in port.peek_dead_letters(bus_driver.queue, 10)] == [kept_id]
    with port.dead_letter_receiver(bus_driver.queue) as receiver:
        assert [m.message_id for m in receiver.receive(10)] == [kept_id]


def test_leaving_the_receiver_releases_what_it_still_holds(bus_driver: BusDriver):
    # GIVEN a dead letter locked by a receiver that neither completes nor releases it
    message_id = dead_letter_one(bus_driver, "held")
    port = dead_letters(bus_driver)
    with port.dead_letter_receiver(bus_driver.queue) as receiver:
        assert [m.message_id for m in receiver.receive(10)] == [message_id]
        # WHILE it is locked, another receive does not hand it out again
        assert receiver.receive(10) == []

    # THEN once the receiver is closed it can be received at once (not after its lock lapses)
    with port.dead_letter_receiver(bus_driver.queue) as receiver:
        assert [m.message_id for m in receiver.receive(10)] == [message_id]


def test_a_resend_inside_the_window_is_dropped_and_the_dead_letter_stays(bus_driver: BusDriver):
    # GIVEN a message dead-lettered just now
    message_id = dead_letter_one(bus_driver, "too-soon")
    port = dead_letters(bus_driver)
    [dead] = port.peek_dead_letters(bus_driver.queue, 10)

    # WHEN it is resent with its MessageId at once
    port.resend(bus_driver.queue, dead)

    # THEN the queue drops it (duplicate detection): this is why a replay holds such a message
    assert bus_driver.receive(wait=SHORT_WAIT) == []
    assert [m.message_id for m in port.peek_dead_letters(bus_driver.queue, 10)] == [message_id]


# --- the local broker only: time moved by hand ------------------------------------------------------------------


def test_the_broker_reports_the_queue_window_and_none_for_a_queue_without_detection(broker: LocalBroker):
    # GIVEN the contract queue (window 600 s) and a plain queue
    broker.create_queue("plain")
    bus = BrokerBus(broker)

    # THEN the window is read from each queue's properties, and an unknown queue is an error
    assert bus.duplicate_detection_window(CONTRACT_QUEUE) == timedelta(minutes=10)
    assert bus.duplicate_detection_window("plain") == timedelta(0)
    with pytest.raises(MessagingEntityNotFoundError):
        bus.duplicate_detection_window("never-created")


def test_a_resend_after_the_window_arrives_with_its_message_id_body_and_properties(
    broker: LocalBroker, fake_clock: FakeClock
):
    # GIVEN a message dead-lettered, and the queue's window passed since it was enqueued
    bus = BrokerBus(broker)
    sent = make_envelope("late", batch=4)
    bus.send(CONTRACT_QUEUE, [sent])
    [received] = broker.receive(CONTRACT_QUEUE)
    broker.dead_letter(received, "graph.unavailable", "down")
    fake_clock.advance(601)
    [dead] = bus.peek_dead_letters(CONTRACT_QUEUE, 10)

    # WHEN it is resent
    bus.resend(CONTRACT_QUEUE, dead)

    # THEN the queue holds it again, the very same message
    [again] = broker.receive(CONTRACT_QUEUE)
    assert (again.message_id, again.body, again.application_properties) == (
        dead.message_id,
        dead.body,
        dead.application_properties,
    )
    assert (again.content_type, again.subject, again.delivery_count) == ("application/json", "enrich", 1)
    assert envelope_from_body(again.body) == sent


def test_a_resend_is_a_dead_letter_resent_whole():
    # The resend of a dead letter is the original message: nothing of the dead-lettering travels with it.
    dead = DeadLetter(
        queue="graph",
        sequence_number=7,
        message_id="m-1",
        body=b"{}",
        application_properties={"job_id": "j", "batch": 3},
        content_type="application/json",
        subject="graph",
        correlation_id="c",
        delivery_count=10,
        enqueued_time=make_envelope("x").created_at,
        dead_letter_reason="MaxDeliveryCountExceeded",
        lock_token="t",
    )
    outgoing = dead.resend()
    assert outgoing.model_dump() == {
        "body": b"{}",
        "message_id": "m-1",
        "application_properties": {"job_id": "j", "batch": 3},
        "content_type": "application/json",
        "subject": "graph",
        "correlation_id": "c",
        "scheduled_enqueue_time": None,
    }
