"""`tributary trace`: one file's trace. The span tree from the local exporter (shared/telemetry) when it holds the
trace, else (or with --events) the stage events the job store recorded, as GET /api/trace answers them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from shared.api_trace import JobTrace, build_trace, get_trace
from shared.cli_ops import Output, print_json
from shared.domain import Job
from shared.ports import JobStore
from shared.telemetry.local_traces import SpanNode, read_trace

# Attributes worth a glance on each line; the rest is in spans.jsonl.
_SHOWN = ("tributary.stage", "tributary.batch", "tributary.outcome", "tributary.reason_code", "db.system.name")


def tracking_id_of(store: JobStore, wanted: str) -> tuple[str, Job | None]:
    """The trace to show: a job's (by id or unique id prefix), else `wanted` taken as a tracking id itself."""
    job = store.get_job(wanted)
    if job is None and len(wanted) >= 6:
        matches = [found for found in store.list_jobs(limit=100_000) if found.job_id.startswith(wanted)]
        job = matches[0] if len(matches) == 1 else None
    return (job.tracking_id, job) if job else (wanted, None)


def trace_tree(directory: Path, tracking_id: str) -> Tree | None:
    """The trace as a rich tree with each span's duration; None when the local exporter holds none of it."""
    roots = read_trace(directory, tracking_id)
    if not roots:
        return None
    tree = Tree(f"trace {tracking_id}")
    for root in roots:
        _add(tree, root)
    return tree


def _add(parent: Tree, node: SpanNode) -> None:
    shown = " ".join(f"{key.split('.')[-1]}={node.attributes[key]}" for key in _SHOWN if key in node.attributes)
    status = " [red]ERROR[/red]" if node.status == "ERROR" else ""
    branch = parent.add(f"[bold]{node.name}[/bold] {node.seconds * 1000:.1f} ms {shown}{status}")
    for child in node.children:
        _add(branch, child)


def show_trace(store: JobStore, directory: Path, wanted: str, *, events: bool, output: Output, console: Console) -> int:
    """Print the trace `wanted` names (a tracking id, a job id or its first characters); returns the exit code.

    JSON is always the API's answer (the job store's events); a table is the span tree when the local exporter has
    the trace and `events` is not asked for, else the events.
    """
    tracking_id, job = tracking_id_of(store, wanted)
    key = job.job_id if job is not None else tracking_id
    if output is Output.JSON:
        answer = get_trace(store, key)
        print_json(answer.body)
        return 0 if answer.status == 200 else 2
    tree = None if events else trace_tree(directory, tracking_id)
    if tree is not None:
        console.print(tree)
        return 0
    trace = build_trace(store, key)
    if trace is None:
        console.print(f"[red]No job has the id or tracking id {wanted!r}, nor any span under {directory}.[/red]")
        return 2
    console.print(f"trace {trace.tracking_id}: {len(trace.jobs)} job(s), newest first")
    for job_trace in trace.jobs:
        _print_job(job_trace, console)
    return 0


def _print_job(job: JobTrace, console: Console) -> None:
    reason = f" {job.reason_code}" if job.reason_code else ""
    console.print(f"\n[bold]{job.job_id}[/bold] {job.kind} {job.path} [bold]{job.state}[/bold]{reason}")
    times = (("created", job.created_at), ("started", job.started_at), ("finished", job.finished_at))
    console.print("  " + "  ".join(f"{name} {_time(value)}" for name, value in times))
    events = Table("stage", "batch", "outcome", "reason", "message id", "recorded at", "ms")
    for event in job.events:
        events.add_row(
            event.stage,
            str(event.batch),
            event.outcome,
            event.reason_code or "",
            event.message_id or "",
            _time(event.recorded_at),
            _ms(event.duration_ms),
        )
    console.print(events)
    if job.events_omitted:
        console.print(f"  ... {job.events_omitted} more events (the totals count them)")
    totals = Table("stage", "batches", "dead-lettered", "total ms", "max ms")
    for total in job.stages:
        counts = (str(total.batches), str(total.dead_lettered))
        totals.add_row(total.stage, *counts, _ms(total.total_ms), _ms(total.max_ms))
    console.print(totals)


def _time(value: Any) -> str:
    return "-" if value is None else value.isoformat(timespec="milliseconds")


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
