"""Load a Functions app the way the Python worker does (DESIGN.md §6).

The worker imports the script, finds the one module-level `FunctionRegister` (a `FunctionApp`, or `DFApp` for
Durable), calls `get_functions()` once — a second call raises, so the result is cached here — and hands the host
each function's bindings as JSON (`get_raw_bindings()`). The local host reads exactly that JSON, so it sees what
Azure sees.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints

import azure.functions as func


class AppLoadError(RuntimeError):
    """The script does not define exactly one FunctionRegister, or its functions cannot be indexed."""


@dataclass(frozen=True)
class FunctionSpec:
    """One indexed function: its name, its bindings as the host reads them, and the Python callable."""

    name: str
    bindings: tuple[dict[str, Any], ...]
    user_function: Callable[..., Any]
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def trigger(self) -> dict[str, Any]:
        return next(binding for binding in self.bindings if binding["type"].endswith("Trigger"))

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    @property
    def parameters(self) -> list[str]:
        return list(inspect.signature(self.user_function).parameters)

    def binding(self, name: str) -> dict[str, Any] | None:
        return next((binding for binding in self.bindings if binding.get("name") == name), None)


@dataclass(frozen=True)
class LoadedApp:
    script: Path
    register: func.FunctionRegister
    functions: tuple[FunctionSpec, ...]

    def by_trigger(self, trigger_type: str) -> list[FunctionSpec]:
        return [spec for spec in self.functions if spec.trigger_type == trigger_type]

    def function(self, name: str) -> FunctionSpec:
        for spec in self.functions:
            if spec.name == name:
                return spec
        raise KeyError(name)


@cache
def load_app(script: Path) -> LoadedApp:
    """Import `script` (a function_app.py) once per process and index its functions."""
    script = script.resolve()
    if str(script.parent) not in sys.path:
        sys.path.insert(0, str(script.parent))  # the worker runs with the app root on sys.path
    module = importlib.import_module(script.stem)
    registers = [value for value in vars(module).values() if isinstance(value, func.FunctionRegister)]
    if len(registers) != 1:
        raise AppLoadError(f"{script} defines {len(registers)} FunctionRegister instances; the worker needs one")
    register = registers[0]
    indexed = register.get_functions()  # not idempotent: this is the only call
    return LoadedApp(script=script, register=register, functions=tuple(_spec(function) for function in indexed))


def _spec(function: Any) -> FunctionSpec:
    user_function = function.get_user_function()
    try:
        annotations = get_type_hints(user_function)
    except Exception:  # an annotation the worker would not resolve either: fall back to the raw ones
        annotations = dict(getattr(user_function, "__annotations__", {}))
    return FunctionSpec(
        name=function.get_function_name(),
        bindings=tuple(json.loads(raw) for raw in function.get_raw_bindings()),
        user_function=user_function,
        annotations=annotations,
    )
