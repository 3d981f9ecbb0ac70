"""`tributary bulk`: start, watch and cancel bulk runs through a host's HTTP API (the local host the command starts,
or a deployed app with `--url` and `--key`), as a script would. The command itself is the thin `bulk` at the end of
shared/cli.py; this module never starts a host.

Exit codes: 0 the run completed (or the request was accepted with --no-wait), 1 it ended otherwise (cancelled,
failed, or with failed blobs), 2 the request or the id was refused (the problem document is printed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from shared.bulk.models import BulkAccepted, BulkStatus
from shared.cli_ops import ApiRefusedError, Output, call_api

_ENDED = frozenset({"Completed", "Terminated", "Failed", "Canceled"})


class BulkApiError(RuntimeError):
    """The host refused a request: its status and problem document."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {problem.get('reason_code', '')} {problem.get('detail', '')}".strip())
        self.status = status
        self.problem = problem


@dataclass(frozen=True)
class BulkApi:
    """The bulk endpoints of one host: `base_url` up to and without `/api`, a function key."""

    base_url: str
    key: str
    timeout: float = 30.0

    def start(self, request: dict[str, Any]) -> BulkAccepted:
        return BulkAccepted.model_validate(self._call("POST", "/api/bulk", request))

    def status(self, bulk_id: str) -> BulkStatus:
        return BulkStatus.model_validate(self._call("GET", f"/api/bulk/{bulk_id}"))

    def cancel(self, bulk_id: str) -> BulkStatus:
        return BulkStatus.model_validate(self._call("POST", f"/api/bulk/{bulk_id}/cancel"))

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return call_api(self.base_url, self.key, method, path, body, timeout=self.timeout)
        except ApiRefusedError as error:
            problem = error.document()
            if problem is None:
                problem = {"detail": error.body.decode("utf-8", "replace")[:500]}
            raise BulkApiError(
                error.status, problem if isinstance(problem, dict) else {"detail": str(problem)}
            ) from error


def watch(
    api: BulkApi,
    bulk_id: str,
    on_status: Callable[[BulkStatus], None] | None = None,
    *,
    poll: float = 1.0,
    timeout: float = 24 * 3600,
) -> BulkStatus:
    """Poll the run until Durable says it ended and the job store has closed it; returns the last status."""
    deadline = time.monotonic() + timeout
    while True:
        status = api.status(bulk_id)
        if on_status is not None:
            on_status(status)
        if status.runtime_status in _ENDED and status.summary.state != "running":
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"bulk run {bulk_id} still running after {timeout:.0f} s")
        time.sleep(poll)


def request_body(
    operation: str,
    *,
    prefix: str | None,
    modified_since: str | None,
    paths: list[str] | None,
    container: str | None,
    dry_run: bool,
) -> dict[str, Any]:
    """The body of POST /api/bulk from the command's options (the host validates it)."""
    body: dict[str, Any] = {"operation": operation, "dry_run": dry_run}
    optional = {"prefix": prefix, "modified_since": modified_since, "paths": paths or None, "container": container}
    return body | {name: value for name, value in optional.items() if value is not None}


def exit_code(status: BulkStatus) -> int:
    summary = status.summary
    return 0 if summary.state == "completed" and summary.counts.failed == 0 else 1


def show(status: BulkStatus, output: Output, console: Console) -> None:
    """The run's status as a table, or its JSON (one document, for scripts)."""
    if output == Output.JSON:
        console.print_json(status.model_dump_json())
        return
    summary = status.summary
    table = Table(title=f"Bulk run {summary.bulk_id}", show_header=False)
    counts = summary.counts
    rows = {
        "operation": summary.operation.value + (" (dry run)" if summary.dry_run else ""),
        "selection": f"{summary.container}: {summary.selector}",
        "state": summary.state.value + (f" ({summary.reason_code})" if summary.reason_code else ""),
        "orchestration": status.runtime_status or "unknown",
        "listed": f"{counts.listed} blobs, {counts.listed_bytes / 1e6:.1f} MB, {counts.pages} pages",
        "done / failed / skipped": f"{counts.done} / {counts.failed} / {counts.skipped}",
        "not run": str(summary.not_run),
    }
    for name, value in rows.items():
        table.add_row(name, value)
    console.print(table)
    shown = [item for item in status.items if item.outcome != "done"][:20]
    if shown:
        items = Table(title="Items not done (first 20)")
        for column in ("path", "outcome", "reason", "job"):
            items.add_column(column, overflow="fold")
        for item in shown:
            items.add_row(item.path, item.outcome.value, item.reason_code or "", (item.job_id or "")[:12])
        console.print(items)


def progress_line(status: BulkStatus) -> str:
    progress = status.progress
    if progress is None:
        return f"{status.runtime_status or 'starting'}"
    total = f"{progress.total}" + ("" if progress.listing_complete else "+")
    return f"{status.runtime_status}: {progress.done + progress.failed + progress.skipped}/{total} run"


Action = Literal["reprocess", "delete", "status", "cancel"]


def bulk_command(
    api: BulkApi,
    action: Action,
    bulk_id: str | None,
    body: dict[str, Any],
    *,
    wait: bool,
    output: Output,
    console: Console,
    poll: float = 1.0,
) -> int:
    """What `tributary bulk` does once it has a host: returns the exit code."""
    try:
        if action in ("status", "cancel"):
            if not bulk_id:
                console.print(f"[red]`tributary bulk {action}` needs the run's id.[/red]")
                return 2
            status = api.cancel(bulk_id) if action == "cancel" else api.status(bulk_id)
            if action == "cancel" and wait:
                status = watch(api, bulk_id, poll=poll)
            show(status, output, console)
            return exit_code(status) if status.runtime_status in _ENDED else 0
        accepted = api.start(body)
        if not wait:
            if output == Output.JSON:
                console.print_json(accepted.model_dump_json())
            else:
                console.print(f"Bulk run {accepted.id} started; `tributary bulk status {accepted.id}` follows it.")
            return 0
        if output == Output.JSON:  # one document on stdout, nothing else
            status = watch(api, accepted.id, poll=poll)
        else:
            with console.status(f"bulk run {accepted.id}") as spinner:
                status = watch(api, accepted.id, lambda seen: spinner.update(progress_line(seen)), poll=poll)
        show(status, output, console)
        return exit_code(status)
    except BulkApiError as error:
        if output == Output.JSON:
            console.print_json(json.dumps(error.problem))
        else:
            console.print(f"[red]{error}[/red]")
        return 2
