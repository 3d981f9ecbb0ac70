"""The local exporter: the SDK's console exporters writing JSON lines into files under the data folder.

`tributary trace` reads spans.jsonl back. The files are appended to (a restarted host keeps its history) and can be
re-pointed at another folder while the process runs.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TextIO

from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter

SPANS_FILE = "spans.jsonl"
METRICS_FILE = "metrics.jsonl"


class LocalFiles:
    """The folder the local exporter writes to; switchable."""

    def __init__(self, directory: Path) -> None:
        self._lock = threading.Lock()
        self.directory = directory

    def point_at(self, directory: Path) -> None:
        with self._lock:
            self.directory = directory

    def append(self, name: str, text: str) -> None:
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with (self.directory / name).open("a", encoding="utf-8") as file:
                file.write(text)


class _Appender:
    """A text stream (what the console exporters write to) appending each write to one of the local files."""

    def __init__(self, files: LocalFiles, name: str) -> None:
        self.files = files
        self.name = name

    def write(self, text: str) -> int:
        self.files.append(self.name, text)
        return len(text)

    def flush(self) -> None:
        """Every write is already in its file."""


def _span_line(span: ReadableSpan) -> str:
    return span.to_json(indent=None) + "\n"


def _metrics_line(data: MetricsData) -> str:
    return data.to_json(indent=None) + "\n"


class LocalSpanExporter(ConsoleSpanExporter):
    def __init__(self, files: LocalFiles) -> None:
        out: TextIO = _Appender(files, SPANS_FILE)  # type: ignore[assignment]
        super().__init__(out=out, formatter=_span_line)


class LocalMetricExporter(ConsoleMetricExporter):
    def __init__(self, files: LocalFiles) -> None:
        out: TextIO = _Appender(files, METRICS_FILE)  # type: ignore[assignment]
        super().__init__(out=out, formatter=_metrics_line)
