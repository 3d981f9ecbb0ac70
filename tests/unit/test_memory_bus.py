from shared.domain import BatchPayload, DocumentRef, Envelope, Stage
from tests.support.memory_bus import InMemoryBus

DOCUMENT = DocumentRef(
    account="a", container="c", path="p", document_id="d", version="v", size=1, content_type="text/plain"
)


def envelope(message_id: str) -> Envelope:
    return Envelope(
        message_id=message_id,
        job_id="j",
        stage=Stage.ENRICH,
        batch=0,
        document=DOCUMENT,
        tracking_id="t",
        payload=BatchPayload(chunks=[]),
    )


def test_duplicate_message_ids_are_dropped():
    bus = InMemoryBus()
    bus.send("q", [envelope("m1"), envelope("m1"), envelope("m2")])
    bus.send("q", [envelope("m1")])
    assert bus.pending() == 2


def test_abandon_redelivers_with_a_higher_delivery_count():
    bus = InMemoryBus()
    bus.send("q", [envelope("m1")])
    first = bus.receive(["q"])
    assert first is not None
    assert first.delivery_count == 1
    bus.abandon(first)
    second = bus.receive(["q"])
    assert second is not None
    assert (second.envelope.message_id, second.delivery_count) == ("m1", 2)
    bus.dead_letter(second, "reason.code", "why")
    assert bus.receive(["q"]) is None
    assert [(d.reason, d.envelope.message_id) for d in bus.dead_letters] == [("reason.code", "m1")]


def test_receive_takes_queues_in_the_given_order():
    bus = InMemoryBus()
    bus.send("upstream", [envelope("a")])
    bus.send("downstream", [envelope("b")])
    delivery = bus.receive(["downstream", "upstream"])
    assert delivery is not None
    assert delivery.queue == "downstream"
