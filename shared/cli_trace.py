"""`tributary trace`: the span tree of one file's trace, from the local exporter (shared/telemetry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.tree import Tree

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


def trace_json(directory: Path, tracking_id: str) -> list[dict[str, Any]]:
    return [_as_dict(root) for root in read_trace(directory, tracking_id)]


def _add(parent: Tree, node: SpanNode) -> None:
    shown = " ".join(f"{key.split('.')[-1]}={node.attributes[key]}" for key in _SHOWN if key in node.attributes)
    status = " [red]ERROR[/red]" if node.status == "ERROR" else ""
    branch = parent.add(f"[bold]{node.name}[/bold] {node.seconds * 1000:.1f} ms {shown}{status}")
    for child in node.children:
        _add(branch, child)


def _as_dict(node: SpanNode) -> dict[str, Any]:
    return {
        "name": node.name,
        "span_id": node.span_id,
        "start": node.start.isoformat(),
        "duration_ms": round(node.seconds * 1000, 3),
        "status": node.status,
        "attributes": node.attributes,
        "children": [_as_dict(child) for child in node.children],
    }
