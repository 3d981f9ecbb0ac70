"""`tributary notifications`: the completion events that could not be delivered (their dead-letter records in the
work container), listed or sent again. Local tooling like shared/cli.py."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table

from shared.cli_ops import Output, print_json
from shared.pipeline.notify import DEAD_LETTER_PREFIX, Resent, resend_dead_letters
from shared.ports import Ports


class NotificationAction(StrEnum):
    LIST = "list"
    RESEND = "resend"


def notifications_command(
    action: NotificationAction, ports: Ports, output: Output, *, console: Console, errors: Console
) -> int:
    """List the dead-lettered events, or send them again; the exit code (1: one still failed, 2: no notifier)."""
    if action is NotificationAction.LIST:
        records = dead_letters(ports)
        if output is Output.JSON:
            print_json({"dead_letters": records})
        else:
            console.print(dead_letter_table(records))
        return 0
    try:
        rows = resend_dead_letters(ports)
    except LookupError as error:
        errors.print(f"[red]{error}[/red]")
        return 2
    if output is Output.JSON:
        print_json({"resent": [row.model_dump(mode="json") for row in rows]})
    else:
        console.print(resend_table(rows))
    return 0 if all(row.delivered for row in rows) else 1


def dead_letters(ports: Ports, limit: int = 1000) -> list[dict[str, Any]]:
    """The dead-letter records, oldest blob name first (each as written: event, error, attempts, target)."""
    container = ports.settings.work_container
    records: list[dict[str, Any]] = []
    for blob in ports.blobs.list_blobs(container, DEAD_LETTER_PREFIX):
        if len(records) >= limit:
            break
        records.append(json.loads(ports.blobs.download_bytes(container, blob.path)))
    return records


def dead_letter_table(records: list[dict[str, Any]]) -> Table:
    table = Table("event", "type", "job", "attempts", "failed at", "error", title="Undelivered completion events")
    for record in records:
        event = record["notification"]
        table.add_row(
            event["id"][:12],
            event["type"],
            event["job_id"][:12],
            str(record["attempts"]),
            record["failed_at"],
            record["error"],
        )
    return table


def resend_table(rows: list[Resent]) -> Table:
    table = Table("event", "type", "job", "delivered", "detail", title="Completion events sent again")
    for row in rows:
        table.add_row(
            row.event_id[:12], row.type, row.job_id[:12], "yes" if row.delivered else "[red]no[/red]", row.detail
        )
    return table
