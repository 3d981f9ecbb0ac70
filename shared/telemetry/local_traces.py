"""One trace read back from the local exporter's spans.jsonl, as a tree (what `tributary trace` prints)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from shared.telemetry.local_files import SPANS_FILE


@dataclass
class SpanNode:
    name: str
    span_id: str
    parent_id: str | None
    start: datetime
    end: datetime
    attributes: dict[str, Any]
    status: str
    children: list[SpanNode] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def walk(self) -> Iterator[SpanNode]:
        yield self
        for child in self.children:
            yield from child.walk()


def read_trace(directory: Path, trace_id: str) -> list[SpanNode]:
    """The roots of the trace's span tree, each with its children in start order; [] for a trace not recorded.

    A span whose parent was never recorded (the remote parent a redelivery rejoins, the host's own span) is a root."""
    wanted = trace_id.lower().removeprefix("0x")
    nodes = {node.span_id: node for node in _spans(directory / SPANS_FILE, wanted)}
    roots: list[SpanNode] = []
    for node in sorted(nodes.values(), key=lambda node: node.start):
        parent = nodes.get(node.parent_id) if node.parent_id else None
        (parent.children if parent else roots).append(node)
    return roots


def _spans(path: Path, trace_id: str) -> Iterator[SpanNode]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if trace_id not in line:  # cheap filter before parsing
                continue
            span = json.loads(line)
            if span["context"]["trace_id"].removeprefix("0x") != trace_id:
                continue
            yield SpanNode(
                name=span["name"],
                span_id=span["context"]["span_id"],
                parent_id=span.get("parent_id"),
                start=datetime.fromisoformat(span["start_time"]),
                end=datetime.fromisoformat(span["end_time"]),
                attributes=span.get("attributes") or {},
                status=(span.get("status") or {}).get("status_code", "UNSET"),
            )
