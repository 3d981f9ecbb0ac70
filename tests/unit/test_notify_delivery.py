"""The notifiers' shared parts without a network: the bounded retry loop, the structured CloudEvent, what a target
shows, and which notifier the settings wire. Delivery over real HTTP is in tests/functional/test_notifications.py."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from shared import wiring
from shared.adapters.cloud_events import RetryableError, classify, cloud_event, deliver, public_target, structured
from shared.adapters.notify_eventgrid import EventGridNotifier
from shared.adapters.notify_fanout import FanOutNotifier
from shared.adapters.notify_webhook import WebhookNotifier
from shared.config import Settings
from shared.domain.notifications import DeliveryFailedError, Notification, event_id

WHEN = datetime(2026, 12, 2, 12, 30, 5, tzinfo=UTC)


def notification() -> Notification:
    return Notification(
        id=event_id("job", "job-1", "failed"),
        source="/tributary/acct/jobs",
        type="io.tributary.job.failed",
        subject="incoming/a.txt",
        time=WHEN,
        data={"job_id": "job-1", "reason_code": "limits.file_too_large"},
        job_id="job-1",
        failed=True,
    )


class Attempts:
    """An attempt that fails with the given errors in turn, then succeeds; records the time left it was given."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.time_left: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.time_left.append(seconds)
        if self.errors:
            raise self.errors.pop(0)


def test_the_event_id_depends_on_the_job_and_the_state_only() -> None:
    assert event_id("job", "job-1", "failed") == event_id("job", "job-1", "failed")
    assert (
        len(
            {
                event_id("job", "job-1", "failed"),
                event_id("job", "job-1", "succeeded"),
                event_id("bulk", "job-1", "failed"),
            }
        )
        == 3
    )


def test_the_structured_event_has_one_member_per_cloudevents_attribute() -> None:
    # GIVEN a notification made into the SDK's CloudEvent
    envelope = cloud_event(notification())

    # WHEN it is put in structured JSON form
    body = structured(envelope)

    # THEN it holds exactly the attributes set, the time in RFC 3339 UTC, and the data as JSON
    assert body == {
        "specversion": "1.0",
        "id": event_id("job", "job-1", "failed"),
        "source": "/tributary/acct/jobs",
        "type": "io.tributary.job.failed",
        "subject": "incoming/a.txt",
        "time": "2026-12-02T12:30:05Z",
        "datacontenttype": "application/json",
        "data": {"job_id": "job-1", "reason_code": "limits.file_too_large"},
    }


def test_transient_failures_are_retried_until_one_attempt_succeeds() -> None:
    # GIVEN an attempt failing twice in ways that may pass
    attempt = Attempts(RetryableError("HTTP 503"), RetryableError("connection refused"))
    slept: list[float] = []

    # WHEN it is delivered with three retries
    made = deliver(attempt, target="t", retries=3, timeout=10, sleep=slept.append)

    # THEN the third attempt delivered it, after two growing waits
    assert made == 3
    assert len(slept) == 2
    assert 0 < slept[0] < slept[1]


def test_retries_are_bounded_by_their_number() -> None:
    attempt = Attempts(*(RetryableError("HTTP 500") for _ in range(10)))
    with pytest.raises(DeliveryFailedError) as failed:
        deliver(attempt, target="t", retries=2, timeout=10, sleep=lambda seconds: None)
    assert (failed.value.attempts, failed.value.detail) == (3, "HTTP 500")


def test_a_retry_after_longer_than_the_time_left_ends_the_delivery_at_once() -> None:
    # GIVEN a receiver asking for a minute's wait, and a two-second cap
    attempt = Attempts(RetryableError("HTTP 429", retry_after=60))
    slept: list[float] = []

    # WHEN it is delivered
    started = time.monotonic()
    with pytest.raises(DeliveryFailedError) as failed:
        deliver(attempt, target="t", retries=5, timeout=2, sleep=slept.append)

    # THEN it gave up after the one attempt, without waiting (a stage worker must not stall)
    assert failed.value.attempts == 1
    assert slept == []
    assert time.monotonic() - started < 1


def test_a_retry_after_within_the_time_left_is_honoured() -> None:
    attempt = Attempts(RetryableError("HTTP 503", retry_after=1.5))
    slept: list[float] = []
    assert deliver(attempt, target="t", retries=1, timeout=5, sleep=slept.append) == 2
    assert slept == [1.5]
    # AND the second attempt was given only the time left
    assert attempt.time_left[1] <= 5


def test_a_final_failure_is_not_retried() -> None:
    attempt = Attempts(ValueError("HTTP 400: bad event"))
    with pytest.raises(DeliveryFailedError) as failed:
        deliver(attempt, target="https://example.net/hook", retries=5, timeout=10, sleep=lambda seconds: None)
    assert failed.value.attempts == 1
    assert "bad event" in failed.value.detail


def test_azure_core_errors_are_sorted_into_transient_and_final() -> None:
    assert isinstance(classify(ServiceRequestError("connection refused")), RetryableError)
    refused = HttpResponseError("not found")
    refused.status_code = 404
    assert classify(refused) is refused
    busy = HttpResponseError("busy")
    busy.status_code = 503
    assert isinstance(classify(busy), RetryableError)


def test_a_target_shows_no_query_string() -> None:
    assert public_target("https://hooks.example.net:8443/a/b?code=secret&x=1") == "https://hooks.example.net:8443/a/b"


def test_the_settings_choose_the_notifiers() -> None:
    # GIVEN no target, a webhook, a topic, and both
    none = Settings()
    webhook = Settings(notify_webhook_url="https://hooks.example.net/t?code=k")
    topic = Settings(notify_eventgrid_endpoint="https://t.westeurope-1.eventgrid.azure.net/api/events")
    both = Settings(
        notify_webhook_url="https://hooks.example.net/t?code=k",
        notify_eventgrid_endpoint="https://t.westeurope-1.eventgrid.azure.net/api/events",
        notify_eventgrid_key="topic-key",
    )

    # WHEN the wiring reads them
    def chosen(settings: Settings) -> str:
        return {choice.port: choice.backend for choice in wiring.choices(settings, {})}["notifier"]

    # THEN each is named, none is local-only, and opening "both" sends to both
    assert [chosen(s) for s in (none, webhook, topic, both)] == ["none", "webhook", "eventgrid", "webhook+eventgrid"]
    assert not any(b.local_only for b in wiring.backends() if b.port == "notifier")
    opener = {b.name: b for b in wiring.backends() if b.port == "notifier"}
    with ExitStack() as stack:
        assert opener["none"].open(none, {}, stack) is None
        assert isinstance(opener["webhook"].open(webhook, {}, stack), WebhookNotifier)
        fanout = opener["webhook+eventgrid"].open(both, {}, stack)
        assert isinstance(fanout, FanOutNotifier)
        assert fanout.target == "https://hooks.example.net/t + https://t.westeurope-1.eventgrid.azure.net/api/events"


def test_the_event_grid_notifier_takes_a_key_or_a_token_credential() -> None:
    keyed = EventGridNotifier("https://t.westeurope-1.eventgrid.azure.net/api/events", "topic-key")
    by_identity = EventGridNotifier("https://t.westeurope-1.eventgrid.azure.net/api/events")
    try:
        assert type(keyed._credential).__name__ == "AzureKeyCredential"
        assert type(by_identity._credential).__name__ == "DefaultAzureCredential"
    finally:
        keyed.close()
        by_identity.close()


def test_error_texts_are_redacted_before_they_are_kept() -> None:
    # GIVEN an HTTP library quoting the URL with its key in an error, and the webhook's redaction
    notifier = WebhookNotifier("https://hooks.example.net/t?code=SECRET", retries=1)
    attempt = Attempts(
        RetryableError("Max retries exceeded with url: /t?code=SECRET"),
        ValueError("refused: /t?code=SECRET"),
    )

    # WHEN delivery fails
    with pytest.raises(DeliveryFailedError) as failed:
        deliver(attempt, target=notifier.target, retries=1, timeout=5, sleep=lambda s: None, redact=notifier._redact)

    # THEN neither the error kept nor its chain holds the key
    assert failed.value.detail == "ValueError: refused: /t?<query>"
    assert failed.value.__cause__ is None
    notifier.close()
