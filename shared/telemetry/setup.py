"""OpenTelemetry set up once per process, choosing the exporter from the environment (DESIGN.md §8).

In order:
- `worker`: PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true on Azure. The Python worker has already called the
  Azure Monitor distro's `configure_azure_monitor()` when it started (host.json telemetryMode OpenTelemetry);
  configuring again would install a second pipeline and send everything twice, so nothing is done here.
- `off`: TRIBUTARY_TELEMETRY=off. The API stays a no-op.
- `azure_monitor`: APPLICATIONINSIGHTS_CONNECTION_STRING set outside the worker (the local host or the CLI sending
  to a real Application Insights): the distro, configured here.
- `otlp`: OTEL_EXPORTER_OTLP_ENDPOINT set: spans and metrics over OTLP/HTTP (the exporter reads the OTEL_* settings).
- `local`: nothing configured and not on Azure: JSON lines under `<data_dir>/telemetry/` (spans.jsonl,
  metrics.jsonl), which `tributary trace` reads. On Azure with nothing configured, telemetry is off.

A process sets its providers once (OpenTelemetry refuses to replace them); a later call for another data folder (the
local host started again on another one, as the tests do) re-points the local files instead.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from shared.telemetry.local_files import LocalFiles, LocalMetricExporter, LocalSpanExporter

log = logging.getLogger(__name__)

Mode = Literal["worker", "off", "azure_monitor", "otlp", "local"]

WORKER_SETTING = "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"
CONNECTION_STRING_SETTING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
OTLP_SETTING = "OTEL_EXPORTER_OTLP_ENDPOINT"
SERVICE = "tributary"
_METRIC_INTERVAL_MS = 10_000

_lock = threading.Lock()
_mode: Mode | None = None
_local: LocalFiles | None = None
_providers: tuple[TracerProvider, MeterProvider] | None = None


def choose_mode(environ: Mapping[str, str], *, telemetry: str, on_azure: bool) -> Mode:
    """Which exporter this process uses (see the module's docstring for the order)."""
    if environ.get(WORKER_SETTING, "").strip().lower() == "true":
        return "worker"
    if telemetry == "off":
        return "off"
    if environ.get(CONNECTION_STRING_SETTING):
        return "azure_monitor"
    if environ.get(OTLP_SETTING):
        return "otlp"
    return "off" if on_azure else "local"


def configure_telemetry(
    data_dir: Path, *, telemetry: str = "auto", on_azure: bool = False, environ: Mapping[str, str] | None = None
) -> Mode:
    """Set telemetry up for this process (idempotent); returns the mode chosen the first time."""
    global _mode, _local
    environ = os.environ if environ is None else environ
    with _lock:
        if _mode is not None:
            if _local is not None:
                _local.point_at(data_dir / "telemetry")
            return _mode
        mode = choose_mode(environ, telemetry=telemetry, on_azure=on_azure)
        if mode == "azure_monitor":
            _configure_azure_monitor(environ[CONNECTION_STRING_SETTING])
        elif mode == "otlp":
            _configure_otlp()
        elif mode == "local":
            _local = LocalFiles(data_dir / "telemetry")
            _install(LocalSpanExporter(_local), LocalMetricExporter(_local))
        _mode = mode
        log.info("telemetry: %s", mode)
        return mode


def flush_telemetry(timeout_millis: int = 10_000) -> None:
    """Export what is buffered (spans and metrics) now: before a process exits, or before reading the local files."""
    if _providers is not None:
        tracer_provider, meter_provider = _providers
        tracer_provider.force_flush(timeout_millis)
        meter_provider.force_flush(timeout_millis)


def local_directory() -> Path | None:
    """Where the local exporter writes, when it is the one in use."""
    return _local.directory if _local is not None else None


def _install(spans: SpanExporter, metric_exporter: MetricExporter) -> None:
    global _providers
    resource = Resource.create({SERVICE_NAME: SERVICE})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=_METRIC_INTERVAL_MS)
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    _providers = (tracer_provider, meter_provider)


def _configure_otlp() -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    _install(OTLPSpanExporter(), OTLPMetricExporter())


def _configure_azure_monitor(connection_string: str) -> None:
    # Imported here: the distro loads its instrumentations, which only this mode wants.
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(connection_string=connection_string, logger_name="shared")
