"""The local broker's own semantics beyond the Bus contract: locks and time, durability, concurrency, limits."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.devhost.broker import (
    LocalBroker,
    MessageLockLostError,
    MessageTooLargeError,
    MessagingEntityNotFoundError,
    OutgoingMessage,
    QueueCounts,
    QueueProperties,
    QueuePropertyChangeError,
)
from shared.devhost.broker_models import MAX_MESSAGE_BYTES
from tests.support.bus import CONTRACT_QUEUE, LOCK_DURATION, STAGE_QUEUE, FakeClock

Q = CONTRACT_QUEUE  # created by the `broker` fixture as a stage queue: duplicate detection on


def message(message_id: str, body: bytes = b"{}", **fields: object) -> OutgoingMessage:
    return OutgoingMessage(body=body, message_id=message_id, **fields)  # type: ignore[arg-type]


def test_receive_is_fifo_and_locks_what_it_hands_out(broker: LocalBroker, fake_clock: FakeClock):
    broker.send(Q, [message(f"m{i}") for i in range(5)])
    first = broker.receive(Q, max_messages=3)
    assert [m.message_id for m in first] == ["m0", "m1", "m2"]
    assert all(m.locked_until == datetime.fromtimestamp(fake_clock() + LOCK_DURATION, UTC) for m in first)
    assert len({m.lock_token for m in first}) == 3
    assert [m.message_id for m in broker.receive(Q, max_messages=10)] == ["m3", "m4"]
    assert broker.receive(Q) == []
    assert broker.counts(Q) == QueueCounts(active=0, scheduled=0, locked=5, dead_lettered=0)


def test_an_expired_lock_redelivers_and_the_old_lock_is_lost(broker: LocalBroker, fake_clock: FakeClock):
    broker.send(Q, [message("m")])
    [first] = broker.receive(Q)
    fake_clock.advance(LOCK_DURATION - 1)
    assert broker.receive(Q) == []  # still locked
    fake_clock.advance(1)
    [second] = broker.receive(Q)
    assert (second.message_id, second.delivery_count) == ("m", 2)
    with pytest.raises(MessageLockLostError) as raised:
        broker.complete(first)
    assert raised.value.reason_code == "bus.lock_lost"
    broker.complete(second)
    assert broker.counts(Q) == QueueCounts(active=0, scheduled=0, locked=0, dead_lettered=0)


def test_renew_lock_extends_it_from_now(broker: LocalBroker, fake_clock: FakeClock):
    broker.send(Q, [message("m")])
    [received] = broker.receive(Q)
    fake_clock.advance(20)
    assert broker.renew_lock(received) == datetime.fromtimestamp(fake_clock() + LOCK_DURATION, UTC)
    fake_clock.advance(20)  # 40 s after receiving: past the first lock, inside the renewed one
    assert broker.receive(Q) == []
    broker.complete(received)


@pytest.mark.parametrize("settle", ["complete", "abandon", "renew_lock"])
def test_settling_after_the_lock_expired_raises(broker: LocalBroker, fake_clock: FakeClock, settle: str):
    broker.send(Q, [message("m")])
    [received] = broker.receive(Q)
    fake_clock.advance(LOCK_DURATION)
    with pytest.raises(MessageLockLostError):
        getattr(broker, settle)(received)
    assert broker.counts(Q).active == 1  # nothing changed: the message is free for the next receiver


def test_settling_twice_or_a_peeked_message_raises(broker: LocalBroker):
    broker.send(Q, [message("m")])
    [received] = broker.receive(Q)
    broker.dead_letter(received, "r", "d")
    with pytest.raises(MessageLockLostError):
        broker.complete(received)
    [peeked] = broker.peek_dead_letters(Q)
    with pytest.raises(MessageLockLostError):
        broker.complete(peeked)


def test_a_lock_that_expires_after_the_last_delivery_dead_letters(tmp_path: Path, fake_clock: FakeClock):
    with LocalBroker(tmp_path / "b.db", lock_duration=10, max_delivery_count=2, clock=fake_clock) as broker:
        broker.create_queue(Q)
        broker.send(Q, [message("m")])
        broker.receive(Q)
        fake_clock.advance(10)
        [second] = broker.receive(Q)
        assert second.delivery_count == 2
        fake_clock.advance(10)  # the consumer died holding the last allowed delivery
        assert broker.receive(Q) == []
        [dead] = broker.peek_dead_letters(Q)
    assert (dead.dead_letter_reason, dead.dead_letter_error_description, dead.dead_letter_source) == (
        "MaxDeliveryCountExceeded",
        "Message could not be consumed after 2 delivery attempts.",
        Q,
    )
    assert (dead.delivery_count, dead.lock_token) == (2, None)


def test_the_dead_letter_subqueue_is_received_without_counting_deliveries(broker: LocalBroker):
    broker.send(Q, [message("m", b'{"x": 1}', application_properties={"traceparent": "tp", "batch": 4})])
    [received] = broker.receive(Q)
    broker.dead_letter(received, "stage.failed", "boom")
    [locked] = broker.receive_dead_letters(Q)
    assert (locked.delivery_count, locked.body, locked.application_properties) == (
        1,
        b'{"x": 1}',
        {"traceparent": "tp", "batch": 4},
    )
    broker.abandon(locked)  # stays in the dead-letter subqueue, unlocked
    [again] = broker.receive_dead_letters(Q)
    assert (again.delivery_count, again.dead_letter_reason) == (1, "stage.failed")
    with pytest.raises(ValueError, match="already in the dead-letter subqueue"):
        broker.dead_letter(again, "r", "d")
    broker.complete(again)
    assert broker.peek_dead_letters(Q) == []


def test_duplicate_window_runs_from_the_first_acceptance(broker: LocalBroker, fake_clock: FakeClock):
    assert broker.send(Q, [message("m"), message("m"), message("n")]) == [True, False, True]
    fake_clock.advance(599)
    assert broker.send(Q, [message("m")]) == [False]  # dropped, and the window is not extended by it
    fake_clock.advance(1)
    assert broker.send(Q, [message("m")]) == [True]
    broker.create_queue("other-queue", STAGE_QUEUE)
    assert broker.send("other-queue", [message("m")]) == [True]  # detection is per queue
    assert broker.counts(Q).active == 3


def test_a_scheduled_message_appears_at_its_time(broker: LocalBroker, fake_clock: FakeClock):
    at = datetime.fromtimestamp(fake_clock() + 30, UTC)
    broker.send(Q, [message("later", scheduled_enqueue_time=at), message("now")])
    assert broker.counts(Q) == QueueCounts(active=1, scheduled=1, locked=0, dead_lettered=0)
    assert [m.message_id for m in broker.receive(Q, 10)] == ["now"]
    fake_clock.advance(30)
    [later] = broker.receive(Q)
    assert (later.message_id, later.scheduled_enqueue_time, later.enqueued_time) == ("later", at, at)


def test_naive_schedule_times_are_refused():
    with pytest.raises(ValueError, match="timezone"):
        message("m", scheduled_enqueue_time=datetime(2026, 11, 23, 12, 0))


def test_the_size_limit_counts_body_and_properties(broker: LocalBroker):
    overhead = len(b"m")
    broker.send(Q, [message("m", b"x" * (MAX_MESSAGE_BYTES - overhead))])  # exactly at the limit: accepted
    too_big = message("n", b"x" * (MAX_MESSAGE_BYTES - overhead), application_properties={"k": "v"})
    with pytest.raises(MessageTooLargeError) as raised:
        broker.send(Q, [message("o"), too_big])
    assert isinstance(raised.value, ValueError)
    assert raised.value.reason_code == "bus.message_too_large"
    assert str(MAX_MESSAGE_BYTES + 2) in str(raised.value)
    assert broker.counts(Q).active == 1  # the batch was refused whole: "o" is not there either


def test_state_survives_closing_and_reopening(tmp_path: Path, fake_clock: FakeClock):
    path = tmp_path / "broker.db"
    with LocalBroker(path, lock_duration=LOCK_DURATION, clock=fake_clock) as broker:
        broker.create_queue(Q, STAGE_QUEUE.model_copy(update={"lock_duration": broker.defaults.lock_duration}))
        broker.send(Q, [message("locked"), message("dead"), message("waiting")])
        _, dead = broker.receive(Q, 2)  # "locked" stays locked when the host goes down
        broker.dead_letter(dead, "r", "d")
    # a host restart: the lock it held lapses, everything else is as it was
    with LocalBroker(path, lock_duration=LOCK_DURATION, clock=fake_clock) as broker:
        assert broker.queues() == [Q]
        assert broker.counts(Q) == QueueCounts(active=1, scheduled=0, locked=1, dead_lettered=1)
        assert broker.send(Q, [message("locked")]) == [False]  # accepted ids are remembered too
        fake_clock.advance(LOCK_DURATION)
        redelivered = broker.receive(Q, 5)
        assert [(m.message_id, m.delivery_count) for m in redelivered] == [("locked", 2), ("waiting", 1)]
        assert [m.message_id for m in broker.peek_dead_letters(Q)] == ["dead"]


def test_concurrent_receivers_never_share_a_message(tmp_path: Path):
    # GIVEN 200 messages, and two broker instances on the same file (as two processes would have)
    path = tmp_path / "broker.db"
    with LocalBroker(path) as first, LocalBroker(path) as second:
        first.create_queue(Q)
        first.send(Q, [message(f"m{i}") for i in range(200)])
        completed: list[str] = []
        errors: list[BaseException] = []

        def work(broker: LocalBroker) -> None:
            try:
                while batch := broker.receive(Q, max_messages=3):
                    for received in batch:
                        broker.complete(received)  # raises if another receiver held the same lock
                        completed.append(received.message_id)
            except BaseException as error:
                errors.append(error)

        # WHEN four threads receive and complete until the queue is empty
        threads = [threading.Thread(target=work, args=(b,)) for b in (first, first, second, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # THEN each message was completed exactly once
        assert errors == []
        assert Counter(completed) == Counter(f"m{i}" for i in range(200))
        assert first.counts(Q) == QueueCounts(active=0, scheduled=0, locked=0, dead_lettered=0)


def test_queues_purge_and_close(tmp_path: Path):
    broker = LocalBroker(tmp_path / "b.db")
    for queue in ("b", "a"):
        broker.create_queue(queue, STAGE_QUEUE)
        broker.send(queue, [message("1")])
    broker.purge("a")
    assert broker.queues() == ["a", "b"]  # a purged queue stays created
    assert broker.counts("a").active == 0
    assert broker.send("a", [message("1")]) == [True]  # purging forgets accepted ids as well
    broker.close()
    broker.close()
    with pytest.raises(RuntimeError, match="closed"):
        broker.receive("a")


def test_sending_to_or_receiving_from_a_queue_never_created_fails_like_service_bus(broker: LocalBroker):
    with pytest.raises(MessagingEntityNotFoundError) as raised:
        broker.send("nowhere", [message("m")])
    assert raised.value.reason_code == "bus.entity_not_found"
    with pytest.raises(MessagingEntityNotFoundError):
        broker.receive("nowhere")
    assert broker.queues() == [Q]


def test_a_queue_without_duplicate_detection_accepts_the_same_message_id_twice(broker: LocalBroker):
    # GIVEN a queue created with Service Bus's defaults (no duplicate detection) next to a stage queue (with it)
    broker.create_queue("plain")
    # WHEN the same MessageId is sent twice to each
    plain = [broker.send("plain", [message("m")]) for _ in range(2)]
    deduplicated = [broker.send(Q, [message("m")]) for _ in range(2)]
    # THEN the plain queue keeps both copies, the stage queue drops the second
    assert (plain, deduplicated) == ([[True], [True]], [[True], [False]])
    assert (broker.counts("plain").active, broker.counts(Q).active) == (2, 1)


def test_max_delivery_count_and_lock_duration_are_per_queue(broker: LocalBroker, fake_clock: FakeClock):
    # GIVEN two queues with different entity properties (ARM names and ISO 8601 durations, as Bicep writes them)
    broker.create_queue("strict", QueueProperties.model_validate({"maxDeliveryCount": 1, "lockDuration": "PT5S"}))
    broker.create_queue("patient", QueueProperties(max_delivery_count=3))
    for queue in ("strict", "patient"):
        broker.send(queue, [message("m")])
    # WHEN each message fails once
    for queue in ("strict", "patient"):
        [received] = broker.receive(queue)
        broker.abandon(received)
    # THEN only the queue allowing one delivery dead-lettered it, with its own count in the description
    [dead] = broker.peek_dead_letters("strict")
    assert dead.dead_letter_error_description == "Message could not be consumed after 1 delivery attempts."
    assert broker.counts("patient").active == 1
    # AND each lock lasts its queue's lock duration
    [locked] = broker.receive("patient")
    assert locked.locked_until is not None
    assert locked.locked_until.timestamp() == fake_clock() + 60


def test_create_queue_updates_properties_but_duplicate_detection_is_fixed_at_creation(broker: LocalBroker):
    broker.create_queue("q", QueueProperties(max_delivery_count=3))
    assert broker.create_queue("q", QueueProperties(max_delivery_count=5)) == broker.get_queue("q")
    assert broker.get_queue("q").max_delivery_count == 5
    with pytest.raises(QueuePropertyChangeError):
        broker.create_queue("q", QueueProperties(requires_duplicate_detection=True))
