"""The parts of host.json the local host honours, with the Functions host's defaults where host.json is silent."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def _timespan_seconds(value: Any) -> Any:
    """host.json writes durations as .NET TimeSpans ("00:05:00", "1.00:00:00")."""
    match = _TIMESPAN.match(value) if isinstance(value, str) else None
    if match is None:
        return value  # a number already, or left for pydantic to reject
    days, hours, minutes, seconds = match.groups()
    return (int(days or 0) * 24 + int(hours)) * 3600 + int(minutes) * 60 + float(seconds)


class ServiceBusOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    auto_complete_messages: bool = Field(True, alias="autoCompleteMessages")
    max_concurrent_calls: int = Field(16, alias="maxConcurrentCalls", ge=1)
    max_auto_lock_renewal: float = Field(300.0, alias="maxAutoLockRenewalDuration")
    max_message_batch_size: int = Field(1000, alias="maxMessageBatchSize", ge=1)

    _durations = field_validator("max_auto_lock_renewal", mode="before")(_timespan_seconds)


class BlobOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    max_degree_of_parallelism: int = Field(8, alias="maxDegreeOfParallelism", ge=1)
    poison_blob_threshold: int = Field(5, alias="poisonBlobThreshold", ge=1)


class HttpOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    route_prefix: str = Field("api", alias="routePrefix")


class DurableTaskOptions(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    hub_name: str = Field("TestHubName", alias="hubName", min_length=1)  # Core Tools' default task hub
    # The extension's default is 10 × cores; the host's worker pool is the real cap here.
    max_concurrent_activities: int = Field(10, alias="maxConcurrentActivityFunctions", ge=1)


class HostConfig(BaseModel):
    service_bus: ServiceBusOptions = ServiceBusOptions()
    blobs: BlobOptions = BlobOptions()
    http: HttpOptions = HttpOptions()
    durable: DurableTaskOptions = DurableTaskOptions()


def load_host_config(path: Path) -> HostConfig:
    """host.json next to the app script; a missing file means every default."""
    if not path.exists():
        return HostConfig()
    extensions = json.loads(path.read_text(encoding="utf-8")).get("extensions", {})
    return HostConfig(
        service_bus=ServiceBusOptions.model_validate(extensions.get("serviceBus", {})),
        blobs=BlobOptions.model_validate(extensions.get("blobs", {})),
        http=HttpOptions.model_validate(extensions.get("http", {})),
        durable=DurableTaskOptions.model_validate(extensions.get("durableTask", {})),
    )
