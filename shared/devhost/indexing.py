"""Index the app's functions against the app settings, as the Functions host does at start.

The host resolves each binding's `%NAME%` expressions from the app settings. When one does not resolve, it does not
index that function ("The 'enrich' function is in error: ... '%TRIBUTARY_QUEUE_ENRICH%' does not resolve to a
value.") and runs the others. The local host does the same, so an unset setting shows up here, not first on Azure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.environment import AppSettingMissingError, resolve

_NOT_EXPRESSIONS = frozenset({"type", "direction", "name"})


@dataclass(frozen=True)
class IndexedFunctions:
    """The functions the host runs (bindings resolved) and, by name, the message of each one in error."""

    functions: tuple[FunctionSpec, ...]
    errors: dict[str, str]

    def by_trigger(self, trigger_type: str) -> list[FunctionSpec]:
        return [spec for spec in self.functions if spec.trigger_type == trigger_type]


def index_functions(functions: Iterable[FunctionSpec], settings: Mapping[str, str]) -> IndexedFunctions:
    """Resolve every binding expression of every function; those that cannot be resolved are left out."""
    indexed: list[FunctionSpec] = []
    errors: dict[str, str] = {}
    for spec in functions:
        try:
            bindings = tuple(_resolved(binding, settings) for binding in spec.bindings)
        except AppSettingMissingError as missing:
            errors[spec.name] = indexing_error(spec.name, missing)
            continue
        indexed.append(dataclasses.replace(spec, bindings=bindings))
    return IndexedFunctions(functions=tuple(indexed), errors=errors)


def indexing_error(function: str, cause: Exception) -> str:
    """The message the Functions host logs for a function it could not index."""
    return (
        f"The '{function}' function is in error: Microsoft.Azure.WebJobs.Host: Error indexing method "
        f"'Functions.{function}'. Microsoft.Azure.WebJobs.Host: {cause}"
    )


def _resolved(binding: dict[str, Any], settings: Mapping[str, str]) -> dict[str, Any]:
    return {
        key: resolve(value, settings) if isinstance(value, str) and key not in _NOT_EXPRESSIONS else value
        for key, value in binding.items()
    }
