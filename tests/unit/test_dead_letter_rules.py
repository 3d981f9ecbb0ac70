"""The parts of dead-letter replay no local stand-in can show: the Service Bus adapter reading (or failing to read)
a queue's duplicate detection window through the management API, offline, with the SDK's own QueueProperties and
errors; the window then assumed from the settings; our reason code read off what a broker wrote; and the command
line's shape. The hold/replay/skip decisions themselves run on real stores and the local broker
(tests/functional/test_dead_letter_replay.py, tests/integration/test_dead_letters_devhost.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.servicebus import ServiceBusClient
from azure.servicebus.management import QueueProperties

from shared.adapters.servicebus_bus import ServiceBusBus
from shared.cli_deadletters import parse
from shared.config import Settings
from shared.domain import TributaryError
from shared.pipeline.deadletters import duplicate_window, reason_code
from shared.ports import DeadLetter, DeadLetterQueues

CONNECTION = "Endpoint=sb://offline.servicebus.windows.net/;SharedAccessKeyName=test;SharedAccessKey=dGVzdA=="


def queue_properties(*, detects: bool, window: timedelta | None) -> QueueProperties:
    """What ServiceBusAdministrationClient.get_queue returns, built by the SDK's own model."""
    fields: dict[str, Any] = dict.fromkeys(
        [
            "authorization_rules",
            "auto_delete_on_idle",
            "dead_lettering_on_message_expiration",
            "default_message_time_to_live",
            "availability_status",
            "enable_batched_operations",
            "enable_express",
            "enable_partitioning",
            "lock_duration",
            "max_delivery_count",
            "max_size_in_megabytes",
            "requires_session",
            "status",
            "forward_to",
            "user_metadata",
            "forward_dead_lettered_messages_to",
            "max_message_size_in_kilobytes",
        ]
    )
    return QueueProperties(
        "graph", requires_duplicate_detection=detects, duplicate_detection_history_time_window=window, **fields
    )


class Admin:
    """Answers get_queue as the management API would: properties, or the error the SDK raises."""

    def __init__(self, answer: QueueProperties | Exception) -> None:
        self.answer = answer

    def get_queue(self, queue: str) -> QueueProperties:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    def close(self) -> None:
        pass


def bus(admin: Admin | None) -> ServiceBusBus:
    return ServiceBusBus(ServiceBusClient.from_connection_string(CONNECTION), admin=admin)  # type: ignore[arg-type]


def test_the_service_bus_adapter_implements_the_dead_letter_port():
    assert isinstance(bus(None), DeadLetterQueues)


@pytest.mark.parametrize(
    ("admin", "expected"),
    [
        (Admin(queue_properties(detects=True, window=timedelta(minutes=5))), timedelta(minutes=5)),
        (Admin(queue_properties(detects=False, window=timedelta(minutes=5))), timedelta(0)),
        (Admin(HttpResponseError(message="Unauthorized")), None),
        (None, None),
    ],
    ids=["read", "no-detection", "no-rights", "no-admin-client"],
)
def test_service_bus_reads_the_window_from_the_queue_or_says_it_cannot(admin: Admin | None, expected: Any):
    assert bus(admin).duplicate_detection_window("graph") == expected


def test_service_bus_names_a_missing_queue():
    with pytest.raises(TributaryError) as raised:
        bus(Admin(ResourceNotFoundError(message="no such queue"))).duplicate_detection_window("graph")
    assert raised.value.reason_code == "bus.entity_not_found"


def test_an_unreadable_window_is_the_setting_and_says_so():
    # GIVEN a bus that cannot read the queue's window (the app's identity only sends and receives)
    settings = Settings(duplicate_detection_window_seconds=900)

    # WHEN / THEN the replay assumes the configured window, and reports it as assumed; a readable one is the queue's
    assert duplicate_window(bus(None), "graph", settings) == (timedelta(seconds=900), True)
    readable = bus(Admin(queue_properties(detects=True, window=timedelta(minutes=10))))
    assert duplicate_window(readable, "graph", settings) == (timedelta(minutes=10), False)


def dead_letter(reason: str | None, description: str | None) -> DeadLetter:
    return DeadLetter(
        queue="graph",
        sequence_number=1,
        message_id="m",
        body=b"{}",
        application_properties={},
        enqueued_time=datetime(2026, 12, 1, tzinfo=UTC),
        dead_letter_reason=reason,
        dead_letter_error_description=description,
    )


@pytest.mark.parametrize(
    ("reason", "description", "code"),
    [
        ("graph.unavailable", "down", "graph.unavailable"),  # a host that dead-letters with our code
        ("MaxDeliveryCountExceeded", "graph batch 0: graph.unavailable: down", "graph.unavailable"),
        ("MaxDeliveryCountExceeded", "Message could not be consumed after 10 delivery attempts.", None),
        ("MaxDeliveryCountExceeded", "see example.com and not.a.code", None),  # dotted, but not registered
        (None, None, None),
    ],
)
def test_our_reason_code_is_read_off_the_reason_or_the_description(
    reason: str | None, description: str | None, code: str | None
):
    assert reason_code(dead_letter(reason, description)) == code


def test_the_command_line_lists_one_or_every_queue_and_replays_one():
    defaults: dict[str, Any] = {"reason": None, "job_id": None, "limit": 100, "dry_run": False}
    assert parse(None, None, **defaults).queue is None
    assert parse("graph", None, **defaults).replay is False
    replay = parse("replay", "graph", **defaults | {"reason": "x.y", "dry_run": True})
    assert (replay.replay, replay.queue, replay.request and replay.request.dry_run) == (True, "graph", True)
    for first, second, options in [
        ("replay", None, {}),  # no queue
        ("graph", "vector", {}),  # two queues to list
        ("graph", None, {"dry_run": True}),  # a replay option on a listing
        ("replay", "graph", {"limit": 0}),  # outside the request's bounds
    ]:
        with pytest.raises(ValueError, match=r"."):
            parse(first, second, **defaults | options)
