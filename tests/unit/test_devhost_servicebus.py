"""Service Bus triggers through the local host's dispatcher, on a real broker file and a real Functions app."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import azure.functions as func
import pytest

from shared.devhost.app_loader import load_app
from shared.devhost.broker import LocalBroker
from shared.devhost.broker_models import OutgoingMessage
from shared.devhost.host_config import ServiceBusOptions
from shared.devhost.servicebus_trigger import ServiceBusDispatcher

APP = Path(__file__).resolve().parents[1] / "fixtures" / "apps" / "bus_app" / "bus_function_app.py"


@pytest.fixture
def app_module():
    loaded = load_app(APP)
    module = __import__(APP.stem)
    for values in module.received.values():
        values.clear()
    return loaded, module


@pytest.fixture
def broker(tmp_path: Path):
    with LocalBroker(tmp_path / "broker.sqlite", lock_duration=1.0, max_delivery_count=10) as broker:
        for queue in ("single", "batch", "flaky", "slow"):
            broker.create_queue(queue)
        yield broker


def run(loaded, broker: LocalBroker, timeout: float = 20.0) -> None:
    with ThreadPoolExecutor(8) as executor:
        dispatcher = ServiceBusDispatcher(list(loaded.functions), broker, ServiceBusOptions(), executor)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dispatcher.poll() == 0 and not dispatcher.busy() and dispatcher.pending() == 0:
                return
            time.sleep(0.02)
    raise AssertionError("the queues did not drain")


def message(number: int, **properties: str) -> OutgoingMessage:
    return OutgoingMessage(body=f"body {number}".encode(), message_id=f"m{number}", application_properties=properties)


def test_a_single_message_arrives_as_the_sdk_converter_builds_it(app_module, broker: LocalBroker) -> None:
    loaded, module = app_module
    broker.send("single", [message(1, traceparent="00-abc-def-01", tracking_id="t1")])

    run(loaded, broker)

    [received] = module.received["single"]
    assert isinstance(received, func.ServiceBusMessage)
    assert (received.get_body(), received.message_id, received.delivery_count) == (b"body 1", "m1", 1)
    assert received.application_properties == {"traceparent": "00-abc-def-01", "tracking_id": "t1"}
    assert broker.counts("single").model_dump() == {"active": 0, "scheduled": 0, "locked": 0, "dead_lettered": 0}


def test_cardinality_many_delivers_one_batch_of_messages(app_module, broker: LocalBroker) -> None:
    loaded, module = app_module
    broker.send("batch", [message(number) for number in range(5)])

    run(loaded, broker)

    [batch] = module.received["batch"]
    assert [item.message_id for item in batch] == [f"m{number}" for number in range(5)]
    assert [item.get_body() for item in batch] == [f"body {number}".encode() for number in range(5)]


def test_an_exception_abandons_and_the_message_comes_back_with_a_higher_delivery_count(
    app_module, broker: LocalBroker
) -> None:
    loaded, module = app_module
    broker.send("flaky", [message(1)])

    run(loaded, broker)

    assert module.received["flaky"] == [1, 2, 3]
    assert broker.counts("flaky").dead_lettered == 0


def test_a_running_message_keeps_its_lock_past_the_lock_duration(app_module, broker: LocalBroker) -> None:
    loaded, module = app_module
    broker.send("slow", [message(1, traceparent="00-trace-span-01")])

    run(loaded, broker)

    # delivered once: the host renewed the 1 s lock while the 2.5 s function ran, so nobody else got it
    assert module.received["slow"] == [("m1", "slow", "00-trace-span-01")]
    assert broker.counts("slow").model_dump() == {"active": 0, "scheduled": 0, "locked": 0, "dead_lettered": 0}
