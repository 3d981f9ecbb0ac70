"""Deliver a completion event, or keep it: a delivery that keeps failing leaves a dead-letter record (the event, the
error and the attempts, as a blob in the work container), an issue on the job with `notify.delivery_failed`, a log
line and a count. Nothing here raises: the job's state is already written, and a stage must not fail (and be
redelivered) because a receiver is down.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from shared.domain import ParseIssue, Reason
from shared.domain.notifications import DeliveryFailedError, Notification
from shared.ports import Ports
from shared.telemetry import metrics

log = logging.getLogger(__name__)

DEAD_LETTER_PREFIX = "notifications/dead-letter/"
ISSUE_LOCATOR = "notification"


def dead_letter_path(event: Notification) -> str:
    """Where the record of an event that could not be delivered is kept (one per event: a resend overwrites it)."""
    return f"{DEAD_LETTER_PREFIX}{event.id}.json"


def wanted(event: Notification, ports: Ports) -> bool:
    """Whether the settings ask for this event (TRIBUTARY_NOTIFY_EVENTS)."""
    return ports.settings.notify_events == "all" or event.failed


def announce(event: Notification, ports: Ports) -> None:
    """Send `event` through the configured notifier; on failure keep a dead-letter record. Never raises."""
    notifier = ports.notifier
    if notifier is None or not wanted(event, ports):
        return
    try:
        notifier.publish(event)
    except DeliveryFailedError as failure:
        _dead_letter(event, failure, ports)
    except Exception as error:  # a bug in an adapter must not fail the stage either: recorded the same way
        _dead_letter(event, DeliveryFailedError(notifier.target, 0, f"{type(error).__name__}: {error}"), ports)
    else:
        metrics.notification_sent(event.type, "delivered")


def _dead_letter(event: Notification, failure: DeliveryFailedError, ports: Ports) -> None:
    metrics.notification_sent(event.type, "dead_lettered")
    log.warning(
        "%s: event %s (%s) for job %s: %s", Reason.NOTIFY_DELIVERY_FAILED, event.id, event.type, event.job_id, failure
    )
    record = {
        "reason_code": Reason.NOTIFY_DELIVERY_FAILED.value,
        "target": failure.target,
        "attempts": failure.attempts,
        "error": failure.detail[:2000],
        "failed_at": datetime.now(UTC).isoformat(),
        "notification": event.model_dump(mode="json"),
    }
    path = dead_letter_path(event)
    try:
        body = json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8")
        ports.blobs.upload(ports.settings.work_container, path, body)
    except Exception:
        # Storage is down too: the log lines are what is left of the event (the job's issue below still says so).
        log.exception(
            "%s: the dead-letter record of event %s could not be written", Reason.NOTIFY_DELIVERY_FAILED, event.id
        )
    if not event.type.startswith("io.tributary.job."):  # a bulk run has no issue list: its record is the blob
        return
    detail = (
        f"event {event.id} to {failure.target}: {failure.detail} after {failure.attempts} attempt(s); kept as {path}"
    )
    issue = ParseIssue(locator=ISSUE_LOCATOR, reason_code=Reason.NOTIFY_DELIVERY_FAILED, detail=detail[:2000])
    try:
        ports.jobs.record_issues(event.job_id, [issue])
    except Exception:
        log.exception(
            "%s: the issue of event %s could not be recorded on its job", Reason.NOTIFY_DELIVERY_FAILED, event.id
        )


class Resent(BaseModel):
    """What a resend did with one dead-lettered event."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    type: str
    job_id: str
    delivered: bool
    detail: str = ""


def resend_dead_letters(ports: Ports, limit: int = 1000) -> list[Resent]:
    """Publish each dead-lettered event again (same id: a receiver that got it meanwhile drops it); a delivered one's
    record is deleted, a failed one's record is rewritten with the new error and attempts. The job's issue stays: it
    is the job's history. Raises LookupError when no notifier is configured."""
    notifier = ports.notifier
    if notifier is None:
        raise LookupError("no notifier: set TRIBUTARY_NOTIFY_WEBHOOK_URL or TRIBUTARY_NOTIFY_EVENTGRID_ENDPOINT")
    container = ports.settings.work_container
    done: list[Resent] = []
    for blob in ports.blobs.list_blobs(container, DEAD_LETTER_PREFIX):
        if len(done) >= limit:
            break
        record = json.loads(ports.blobs.download_bytes(container, blob.path))
        event = Notification.model_validate(record["notification"])
        try:
            notifier.publish(event)
        except DeliveryFailedError as failure:
            record |= {"target": failure.target, "attempts": record.get("attempts", 0) + failure.attempts}
            record |= {"error": failure.detail[:2000], "failed_at": datetime.now(UTC).isoformat()}
            ports.blobs.upload(container, blob.path, json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
            done.append(
                Resent(event_id=event.id, type=event.type, job_id=event.job_id, delivered=False, detail=str(failure))
            )
            continue
        metrics.notification_sent(event.type, "delivered")
        ports.blobs.delete(container, blob.path)
        done.append(Resent(event_id=event.id, type=event.type, job_id=event.job_id, delivered=True))
    return done
