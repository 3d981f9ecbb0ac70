"""What /api/health reports: the wiring the settings chose, whether the ports opened, and each dependency probed
with a short timeout. Never a secret: backend names and reason codes only, no connection strings or URLs."""

from __future__ import annotations

import threading
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.api_answers import ApiAnswer
from shared.app_ports import app_ports
from shared.config import Settings, setting_problems
from shared.domain import Reason, TributaryError
from shared.ports import Ports
from shared.wiring import choices, running_on_azure

PROBE_TIMEOUT = 3.0  # seconds per dependency: a health check must answer while a dependency hangs


def health_answer() -> ApiAnswer:
    """GET /api/health's answer: the report, with 200 or 503."""
    status, report = health_report()
    return ApiAnswer(status=status, body=report)


def health_report(settings: Settings | None = None) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 when every port opened and answered, else 503 with the reason."""
    body: dict[str, Any] = {"status": "ok", "version": _version(), "on_azure": running_on_azure()}
    try:
        settings = settings or Settings()
    except ValidationError as error:
        return 503, body | _error(Reason.CONFIG_INVALID_SETTING, _first_validation_error(error))
    body["wiring"] = {choice.port: choice.backend for choice in choices(settings)}
    try:
        ports = app_ports()  # checks the wiring first; a failure is logged and remembered there
    except Exception as error:
        return 503, body | _error(_reason(error, Reason.HEALTH_PORTS_UNAVAILABLE), _detail(error))
    dependencies = {name: _probe(probe, ports) for name, probe in PROBES.items()}
    body["dependencies"] = dependencies
    if any(state["state"] != "ok" for state in dependencies.values()):
        return 503, body | {"status": "degraded"}
    return 200, body


# Each reads one small thing through the port (the bus is send-only: nothing to read without sending).
PROBES: dict[str, Callable[[Ports], object]] = {
    "blobs": lambda ports: next(iter(ports.blobs.list_blobs(ports.settings.incoming_container)), None),
    "jobs": lambda ports: ports.jobs.list_jobs(limit=1),
    "graph": lambda ports: ports.graph.counts(),
    "vectors": lambda ports: ports.vectors.count(),
}


def _probe(probe: Callable[[Ports], object], ports: Ports) -> dict[str, str]:
    outcome: dict[str, str] = {}

    def run() -> None:
        try:
            probe(ports)
            outcome.update(state="ok")
        except Exception as error:
            outcome.update(state="error", reason_code=_reason(error, Reason.HEALTH_PROBE_FAILED), detail=_detail(error))

    # A daemon thread: a dependency that hangs past the timeout must not hold the answer or the worker's exit.
    thread = threading.Thread(target=run, name="health-probe", daemon=True)
    thread.start()
    thread.join(PROBE_TIMEOUT)
    return dict(outcome) or {"state": "timeout", "reason_code": Reason.HEALTH_PROBE_TIMEOUT}


def _error(reason_code: str, detail: str) -> dict[str, str]:
    return {"status": "error", "reason_code": reason_code, "detail": detail}


def _reason(error: Exception, default: str) -> str:
    return error.reason_code if isinstance(error, TributaryError) else default


def _detail(error: Exception) -> str:
    # The reason's own detail is written for users; other errors are cut short, they may quote a URL.
    return error.detail if isinstance(error, TributaryError) else f"{type(error).__name__}"


def _first_validation_error(error: ValidationError) -> str:
    setting, message, _value = setting_problems(error)[0]  # never the value: it may be a secret
    return f"{setting}: {message}"


def _version() -> str:
    try:
        return version("tributary")
    except PackageNotFoundError:  # deployed as a folder (Azure zip deploy), not as an installed package
        return "unknown"


class DependencyState(BaseModel):
    model_config = ConfigDict(extra="allow")

    state: Literal["ok", "error", "timeout"]
    reason_code: str | None = None
    detail: str | None = None


class HealthReport(BaseModel):
    """What GET /api/health answers, 200 or 503 alike (not a problem document: the report is the answer)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "degraded", "error"]
    version: str
    on_azure: bool
    wiring: dict[str, str] | None = Field(None, description="the backend chosen for each port")
    dependencies: dict[str, DependencyState] | None = None
    reason_code: str | None = Field(None, description="why the ports could not open (status error)")
    detail: str | None = None
