"""Calling a user function the way the Python worker does: inputs by binding name, `context` when asked for,
`func.Out` objects for output parameters, coroutines run to completion, the return value handed back.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import azure.functions as func
from azure.functions._abc import RetryContext, TraceContext  # public types, not re-exported by the package

from shared.devhost.app_loader import FunctionSpec

T = TypeVar("T")

_thread_local = threading.local()

# Input bindings whose value the host itself supplies (the Durable extension's `durableClient` JSON), by type.
_INPUT_PROVIDERS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def provide_input(binding_type: str, provider: Callable[[dict[str, Any]], Any] | None) -> None:
    """Supply every `binding_type` input binding from `provider(binding)`; None stops supplying it."""
    if provider is None:
        _INPUT_PROVIDERS.pop(binding_type, None)
    else:
        _INPUT_PROVIDERS[binding_type] = provider


class OutValue(func.Out[T], Generic[T]):
    """The worker's concrete `func.Out`: holds what the function sets."""

    def __init__(self) -> None:
        self._value: T | None = None

    def set(self, val: T) -> None:
        self._value = val

    def get(self) -> T | None:  # type: ignore[override]  # None until the function sets it
        return self._value


class HostTraceContext(TraceContext):
    def __init__(self, trace_parent: str = "", trace_state: str = "") -> None:
        self._trace_parent = trace_parent
        self._trace_state = trace_state

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class HostRetryContext(RetryContext):
    """No retry policy is declared by this app; the worker then reports zeros."""

    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class HostContext(func.Context):
    def __init__(self, function_name: str, function_directory: str, trace_context: HostTraceContext) -> None:
        self._function_name = function_name
        self._function_directory = function_directory
        self._trace_context = trace_context
        self._invocation_id = str(uuid.uuid4())

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> Any:
        return _thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def trace_context(self) -> HostTraceContext:
        return self._trace_context

    @property
    def retry_context(self) -> HostRetryContext:
        return HostRetryContext()


@dataclass
class Invocation:
    """What one call produced: the return value and every output binding the function set."""

    result: Any
    outputs: dict[str, Any]


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def worker_loop() -> asyncio.AbstractEventLoop:
    """The worker's one event loop, on which every async function runs. One loop, not one per call: libraries keep
    loop-bound state between calls (the Durable client's aiohttp session is module-global), as they may on Azure."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="devhost-worker-loop", daemon=True).start()
        return _loop


def invoke(spec: FunctionSpec, inputs: dict[str, Any], *, trace_parent: str | None = None) -> Invocation:
    """Call `spec`'s function with the trigger/input values in `inputs`; exceptions propagate to the caller."""
    arguments = dict(inputs)
    outputs: dict[str, OutValue[Any]] = {}
    for binding in spec.bindings:
        name = binding.get("name", "")
        if binding.get("direction") == "OUT" and name != "$return" and name in spec.parameters:
            outputs[name] = arguments[name] = OutValue()
        provider = _INPUT_PROVIDERS.get(binding.get("type", ""))
        if binding.get("direction") == "IN" and provider is not None and name not in arguments:
            arguments[name] = provider(binding)
    if "context" in spec.parameters and "context" not in arguments:
        arguments["context"] = HostContext(
            function_name=spec.name,
            function_directory=str(spec.user_function.__code__.co_filename),
            trace_context=HostTraceContext(trace_parent=trace_parent or ""),
        )
    _thread_local.invocation_id = getattr(arguments.get("context"), "invocation_id", None)
    result = spec.user_function(**arguments)
    if asyncio.iscoroutine(result):
        result = asyncio.run_coroutine_threadsafe(result, worker_loop()).result()
    return Invocation(result=result, outputs={name: out.get() for name, out in outputs.items()})
