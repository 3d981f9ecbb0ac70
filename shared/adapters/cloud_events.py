"""What the notifiers share: the CloudEvents 1.0 envelope (azure-core's `CloudEvent`) in its structured JSON form,
and one bounded retry loop around a single delivery attempt.

Why our own loop rather than azure-core's RetryPolicy: the Event Grid client for a basic topic (azure-eventgrid 4.22)
does not pass client options through, so its policy (10 retries, Retry-After honoured however long) cannot be
bounded there; and azure-core does not retry a POST after a connection error. A resend is harmless here (the event
id is deterministic and receivers dedupe on it), a stage worker must not stall, so: every transient failure is
retried, Retry-After is honoured within the time left, and no attempt starts once the time cap is spent.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.messaging import CloudEvent

from shared.domain.notifications import CONTENT_TYPE, DeliveryFailedError, Notification

log = logging.getLogger(__name__)

# Worth another attempt: the receiver was busy or down, or the answer never came.
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
BACKOFF_SECONDS = 0.25  # the first retry's wait; doubled each time, with jitter


def cloud_event(event: Notification) -> CloudEvent[dict[str, Any]]:
    """The SDK's CloudEvent for a notification."""
    return CloudEvent(
        source=event.source,
        type=event.type,
        data=event.data,
        id=event.id,
        time=event.time,
        subject=event.subject,
        datacontenttype=CONTENT_TYPE,
    )


def structured(event: CloudEvent[Any]) -> dict[str, Any]:
    """The event in CloudEvents' structured JSON mode (its attributes as members, `data` as JSON, extensions flat).

    azure-core builds and validates the envelope but has no serialiser of its own; the mapping is one member per
    attribute, unset ones left out (the JSON format spec, section 3)."""
    members: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time.isoformat().replace("+00:00", "Z") if event.time else None,
        "datacontenttype": event.datacontenttype,
        "dataschema": event.dataschema,
        "data": event.data,
    }
    return {key: value for key, value in members.items() if value is not None} | (event.extensions or {})


class RetryableError(Exception):
    """One attempt failed in a way another one may not; `retry_after` is the receiver's own wish, if it said."""

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def classify(error: Exception) -> Exception:
    """An azure-core error as `RetryableError` (transient status, connection or read failure) or as itself (final)."""
    if isinstance(error, HttpResponseError) and error.status_code in TRANSIENT_STATUS:
        return RetryableError(f"HTTP {error.status_code}", retry_after_seconds(error))
    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        return RetryableError(f"{type(error).__name__}: {error}")
    return error


def retry_after_seconds(error: HttpResponseError) -> float | None:
    """The Retry-After of a failed answer in seconds (delta form only; a date is treated as absent)."""
    headers = getattr(error.response, "headers", None) or {}
    value = headers.get("Retry-After")
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None


def deliver(
    attempt: Callable[[float], None],
    *,
    target: str,
    retries: int,
    timeout: float,
    sleep: Callable[[float], None],
    redact: Callable[[str], str] = str,
) -> int:
    """Call `attempt(seconds left)` until it returns, at most 1 + `retries` times and within `timeout` seconds.

    Returns the attempts made; raises DeliveryFailedError when the last one failed, or at once on a final failure.
    `redact` cleans every error text before it is logged or raised (an HTTP library may quote the URL and its key)."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while True:
        attempts += 1
        try:
            attempt(max(deadline - time.monotonic(), 0.01))
            return attempts
        except RetryableError as failure:
            wait = failure.retry_after
            if wait is None:
                wait = BACKOFF_SECONDS * 2 ** (attempts - 1) * random.uniform(0.5, 1.0)
            left = deadline - time.monotonic()
            if attempts > retries or wait >= left:
                raise DeliveryFailedError(target, attempts, redact(str(failure))) from None
            log.info("notification to %s: %s; retrying in %.2f s", target, redact(str(failure)), wait)
            sleep(wait)
        except Exception as failure:  # final: a refusal (400, 401, 403, 404, 413) will not change by retrying
            raise DeliveryFailedError(target, attempts, redact(f"{type(failure).__name__}: {failure}")) from None


def public_target(url: str) -> str:
    """A URL as it may be logged and recorded: scheme, host and path (a query string may hold a key)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
