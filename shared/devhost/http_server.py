"""The local host's HTTP front end: serves the app's HTTP-triggered functions the way the Functions host does.

Mirrored from the Functions host (v4) and the Python worker:
- routes: `{routePrefix}/{route}` (prefix `api` by default, a function without `route` is served at its name); ASP.NET
  route templates with literal, `{name}`, `{name?}`, `{name=default}`, `{*catchall}` and complex (`{name}.{ext}`)
  segments; literals match case-insensitively; a trailing slash is ignored; constraints `int`, `long`, `bool`, `guid`,
  `alpha`, `decimal`/`double`/`float`, `min`/`max`/`range`, `minlength`/`maxlength`/`length`, `regex`, `required` are
  checked, any other (`datetime`, custom) is accepted unchecked; when several routes match, ASP.NET inbound precedence
  picks one (literal > constrained parameter > parameter > catch-all, segment by segment), then registration order;
- methods: the binding's `methods`, all methods when absent; a route that only matches with another method is a 404
  with an empty body, as the host answers (the host does not send 405, Azure/azure-functions-host#10098, and a GET-only
  function answers HEAD with 404, #11625);
- auth levels ANONYMOUS / FUNCTION / ADMIN: the key comes from the `x-functions-key` header, else the `code` query
  parameter (the header wins, as in the host's key handler); FUNCTION accepts the function key or the master key, ADMIN
  only the master key; otherwise 401 with an empty body;
- the request as the worker builds it: `func.HttpRequest(method, url, headers=, params=, route_params=, body=)`; a
  repeated query parameter or header is joined with "," (the host's `StringValues.ToString()`);
- the request body cap of the host (100 MB by default) → 413; a URL (path and query) over 4 KB → 414, the documented
  limit of the HTTP trigger (the standard library alone would accept a 64 KB request line);
- the response as the worker encodes the `$return` value of an HTTP function — through the SDK's own
  `HttpResponseConverter.encode`: an `HttpResponse` is sent as is (its `mimetype`/`charset` become the content type
  unless a Content-Type header is set, every Set-Cookie is kept), a `str` becomes 200 text/plain; anything else
  (`None`, `bytes`, a dict) fails to encode in the worker and is therefore a 500 here too — unless `lenient_returns`
  is set (None → 204, bytes → octet-stream, dict/list → JSON), which is not what Azure does;
- an exception in the function → 500 with an empty body; the stack goes to the log only.

Not mirrored: per-function keys and named host keys (one function key stands for them all), the `system` level
(anything unknown is treated as ADMIN), Easy Auth, CORS, HTTP/2, request header limits, the host's own
`/admin` API (the lead serves what it needs through `add_handler`), HTTP streaming (HTTP v2 extension). Core Tools does
not enforce auth levels at all; this host does, so a missing key fails locally as it would in Azure.

Why the standard library server rather than werkzeug: werkzeug's routing has other template syntax and precedence
rules (no optional segments, converters instead of constraints), so matching would be rewritten anyway, and
`ThreadingHTTPServer` is all the serving a local host needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import inspect
import json
import logging
import os
import re
import secrets
import socket
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import azure.functions as func
from azure.functions import meta
from pydantic import BaseModel, ConfigDict, Field

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.errors import PORT_IN_USE, PORT_NOT_PERMITTED, StartupError
from shared.domain import PermanentError
from shared.domain.reasons import Reason

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "HostHandler",
    "HostKeys",
    "HostRequest",
    "HostResponse",
    "HttpServer",
    "KeyFileError",
    "RouteTemplateError",
    "is_authorized",
    "load_or_create_keys",
    "presented_key",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES: Final = 104_857_600  # the host's default FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (100 MB)
MAX_URL_BYTES: Final = 4096  # "the URL length is limited to 4 KB (4,096 bytes)" (HTTP trigger, Limits)
KEYS_FILE: Final = "devhost-keys.json"
MASTER_KEY_ENV: Final = "TRIBUTARY_DEVHOST_MASTER_KEY"
FUNCTION_KEY_ENV: Final = "TRIBUTARY_DEVHOST_FUNCTION_KEY"
KEY_HEADER: Final = "x-functions-key"
KEY_QUERY: Final = "code"

_STANDARD_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE")
_DRAIN_LIMIT: Final = 8 << 20  # read at most this much of a refused body, so the client gets to see the 413
_SOCKET_TIMEOUT_SECONDS: Final = 120  # Kestrel's keep-alive timeout: an idle connection does not hold a thread forever


# ---------------------------------------------------------------------------------------------------------- keys


class HostKeys(BaseModel):
    """The host's master key and the one function key (Azure's `default` host key plays this role)."""

    model_config = ConfigDict(frozen=True)

    master: str = Field(min_length=1, repr=False)  # repr=False: keys must not end up in logs
    function: str = Field(min_length=1, repr=False)


class KeyFileError(PermanentError):
    """The persisted key file exists but cannot be used: fix or delete it."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(Reason.DEVHOST_KEYS_UNREADABLE, f"{path}: {detail}")


def load_or_create_keys(data_dir: Path, environ: Mapping[str, str]) -> HostKeys:
    """Keys from the environment (local.settings.json Values), else from `data_dir/devhost-keys.json`, created once."""
    master, function = environ.get(MASTER_KEY_ENV) or None, environ.get(FUNCTION_KEY_ENV) or None
    if master and function:
        return HostKeys(master=master, function=function)
    stored = _read_or_create_key_file(data_dir / KEYS_FILE)
    return HostKeys(master=master or stored.master, function=function or stored.function)


def _read_or_create_key_file(path: Path) -> HostKeys:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        generated = HostKeys(master=secrets.token_urlsafe(32), function=secrets.token_urlsafe(32))
        # Write a private temporary file, then hard-link it into place: the link fails if another host process won
        # the race, and nobody ever reads a half-written file.
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".devhost-keys-")  # created with mode 0600
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(generated.model_dump(), handle)
            os.link(temporary, path)
            return generated
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            os.unlink(temporary)
    try:
        return HostKeys.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as error:
        raise KeyFileError(path, " ".join(str(error).split())[:300]) from error


def presented_key(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The key a caller presents: the `x-functions-key` header, else the `code` query parameter."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return lowered.get(KEY_HEADER) or query.get(KEY_QUERY) or None


def is_authorized(auth_level: str | None, key: str | None, keys: HostKeys) -> bool:
    """Whether `key` opens a function of `auth_level` (ANONYMOUS, FUNCTION or ADMIN, any case)."""
    level = (auth_level or "FUNCTION").upper()  # the host's default level is FUNCTION
    if level == "ANONYMOUS":
        return True
    if not key:
        return False
    is_master = _same(key, keys.master)
    if level == "FUNCTION":
        is_function = _same(key, keys.function)  # both comparisons always run: timing says nothing about which
        return is_master or is_function
    return is_master  # ADMIN, and any level we do not know (e.g. SYSTEM), needs the master key


def _same(presented: str, expected: str) -> bool:
    # compare_digest on str only takes ASCII; a hostile key may not be.
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


# ------------------------------------------------------------------------------------------------ route templates


class RouteTemplateError(PermanentError):
    """A function's route template cannot be parsed; the Functions host refuses to index such a function too."""

    def __init__(self, template: str, detail: str) -> None:
        super().__init__(Reason.DEVHOST_ROUTE_INVALID, f"{template!r}: {detail}")


Check = Callable[[str], bool]


@dataclass(frozen=True)
class _Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    checks: tuple[Check, ...] = ()

    @property
    def may_be_absent(self) -> bool:
        return self.optional or self.catch_all or self.default is not None


@dataclass(frozen=True)
class _Segment:
    parts: tuple[str | _Parameter, ...]
    patterns: tuple[re.Pattern[str], ...] = ()  # only for complex segments such as `{name}.{ext}`

    @property
    def literal(self) -> str | None:
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], str) else None

    @property
    def parameter(self) -> _Parameter | None:
        return self.parts[0] if len(self.parts) == 1 and isinstance(self.parts[0], _Parameter) else None

    @property
    def precedence(self) -> int:
        """ASP.NET `RoutePrecedence.ComputeInbound` digit: lower wins."""
        parameter = self.parameter
        if self.literal is not None:
            return 1
        if parameter is None:
            return 2  # complex segment
        digit = 5 if parameter.catch_all else 3
        return digit - 1 if parameter.checks else digit


def _int_range(bits: int) -> Check:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return lambda value: (number := _as_int(value)) is not None and low <= number <= high


def _as_int(value: str) -> int | None:
    # ASCII digits only (.NET's invariant parse), and short: int() of thousands of digits raises rather than refuses.
    return int(value) if len(value) <= 40 and re.fullmatch(r"[+-]?[0-9]+", value) else None


def _bounded(predicate: Callable[[int], bool]) -> Check:
    return lambda value: (number := _as_int(value)) is not None and predicate(number)


_GUID_D = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_GUID = re.compile(rf"[0-9a-f]{{32}}|{_GUID_D}|\{{{_GUID_D}\}}|\({_GUID_D}\)", re.IGNORECASE)  # .NET N, D, B, P
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_SIMPLE_CHECKS: Final[dict[str, Check]] = {
    "int": _int_range(32),
    "long": _int_range(64),
    "bool": lambda value: value.lower() in ("true", "false"),
    "guid": lambda value: _GUID.fullmatch(value) is not None,
    "alpha": lambda value: re.fullmatch(r"[a-z]*", value, re.IGNORECASE | re.ASCII) is not None,  # no 'K' (Kelvin)
    "decimal": lambda value: _NUMBER.fullmatch(value) is not None,
    "double": lambda value: _NUMBER.fullmatch(value) is not None,
    "float": lambda value: _NUMBER.fullmatch(value) is not None,
    "required": lambda value: value != "",
}


def _constraint(template: str, text: str) -> Check | None:
    name, parenthesis, rest = text.partition("(")
    name = name.strip().lower()
    if parenthesis and not rest.endswith(")"):
        raise RouteTemplateError(template, f"constraint {text!r} has no closing parenthesis")
    argument = rest[:-1] if parenthesis else ""
    if name in _SIMPLE_CHECKS:
        return _SIMPLE_CHECKS[name]
    try:
        if name == "regex":
            compiled = re.compile(argument, re.IGNORECASE)  # ASP.NET does not anchor the pattern
            return lambda value: compiled.search(value) is not None
        numbers = [int(part) for part in argument.split(",")] if argument else []
        if name == "min" and len(numbers) == 1:
            return _bounded(lambda number: number >= numbers[0])
        if name == "max" and len(numbers) == 1:
            return _bounded(lambda number: number <= numbers[0])
        if name == "range" and len(numbers) == 2:
            return _bounded(lambda number: numbers[0] <= number <= numbers[1])
        if name == "minlength" and len(numbers) == 1:
            return lambda value: len(value) >= numbers[0]
        if name == "maxlength" and len(numbers) == 1:
            return lambda value: len(value) <= numbers[0]
        if name == "length" and len(numbers) in (1, 2):
            low, high = numbers[0], numbers[-1]
            return lambda value: low <= len(value) <= high
    except (ValueError, re.error) as error:
        raise RouteTemplateError(template, f"constraint {text!r}: {error}") from error
    if name in ("min", "max", "range", "minlength", "maxlength", "length"):
        raise RouteTemplateError(template, f"constraint {text!r} has the wrong number of arguments")
    logger.debug("route %r: constraint %r is accepted without checking", template, text)
    return None


def _split_top_level(text: str) -> list[str]:
    """Split a parameter body on ':' outside parentheses (a regex constraint may hold ':')."""
    pieces: list[str] = []
    current: list[str] = []
    depth = 0
    for character in text:
        if character == ":" and depth == 0:
            pieces.append("".join(current))
            current = []
            continue
        depth += {"(": 1, ")": -1}.get(character, 0)
        current.append(character)
    pieces.append("".join(current))
    return pieces


def _parameter(template: str, body: str) -> _Parameter:
    catch_all = body.startswith("*")
    name, *constraints = _split_top_level(body.lstrip("*"))
    # A default (`=value`) or optional marker (`?`) ends the last piece, after any constraints.
    last = constraints[-1] if constraints else name
    default: str | None = None
    optional = False
    depth = 0
    for index, character in enumerate(last):
        depth += {"(": 1, ")": -1}.get(character, 0)
        if character == "=" and depth == 0:
            last, default = last[:index], last[index + 1 :]
            break
    else:
        if last.endswith("?"):
            last, optional = last[:-1], True
    if constraints:
        constraints[-1] = last
    else:
        name = last
    if not re.fullmatch(r"[^{}/?*=:]+", name):
        raise RouteTemplateError(template, f"bad parameter name in {{{body}}}")
    checks = tuple(check for text in constraints if (check := _constraint(template, text)) is not None)
    return _Parameter(name=name, optional=optional, catch_all=catch_all, default=default, checks=checks)


def _segment(template: str, text: str) -> _Segment:
    parts: list[str | _Parameter] = []
    literal: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith(("{{", "}}"), index):  # escaped brace in a literal
            literal.append(text[index])
            index += 2
        elif text[index] == "{":
            end, body = _parameter_body(template, text, index + 1)
            if literal:
                parts.append("".join(literal))
                literal = []
            if parts and isinstance(parts[-1], _Parameter):
                raise RouteTemplateError(template, "two parameters must be separated by a literal")
            parts.append(_parameter(template, body))
            index = end + 1
        elif text[index] == "}":
            raise RouteTemplateError(template, "unmatched '}'")
        elif text[index] == "?":
            raise RouteTemplateError(template, "'?' is only allowed at the end of a parameter")
        else:
            literal.append(text[index])
            index += 1
    if literal:
        parts.append("".join(literal))
    if len(parts) == 1:
        return _Segment(parts=tuple(parts))
    if any(isinstance(part, _Parameter) and part.catch_all for part in parts):
        raise RouteTemplateError(template, "a catch-all parameter must be a whole segment")
    return _Segment(parts=tuple(parts), patterns=_complex_patterns(parts))


def _parameter_body(template: str, text: str, start: int) -> tuple[int, str]:
    body: list[str] = []
    index = start
    while index < len(text):
        if text.startswith(("{{", "}}"), index):
            body.append(text[index])
            index += 2
        elif text[index] == "}":
            return index, "".join(body)
        else:
            body.append(text[index])
            index += 1
    raise RouteTemplateError(template, "unclosed '{'")


def _complex_patterns(parts: Sequence[str | _Parameter]) -> tuple[re.Pattern[str], ...]:
    """Patterns to try in order; `{name}.{ext?}` gives two: with the extension, then the bare name."""
    last = parts[-1]
    if isinstance(last, _Parameter) and last.optional and len(parts) > 2:
        return (_complex_pattern(parts), _complex_pattern(parts[:-2]))
    return (_complex_pattern(parts),)


def _complex_pattern(parts: Sequence[str | _Parameter]) -> re.Pattern[str]:
    # ASP.NET matches a complex segment right to left, finding each literal by its last occurrence: so a parameter
    # after a literal never contains that literal (`{name}.{ext}` on a.b.c → a.b / c).
    pieces: list[str] = []
    for index, part in enumerate(parts):
        previous = parts[index - 1] if index else None
        if isinstance(part, str):
            pieces.append(re.escape(part))
        elif isinstance(previous, str):
            pieces.append(f"(?P<p{index}>(?:(?!{re.escape(previous)}).)+)")
        else:
            pieces.append(f"(?P<p{index}>.+)")
    return re.compile("".join(pieces), re.IGNORECASE | re.DOTALL)


def _parse_template(template: str) -> tuple[_Segment, ...]:
    text = template.strip().strip("/")
    segments = tuple(_segment(template, piece) for piece in text.split("/")) if text else ()
    for position, segment in enumerate(segments):
        if not segment.parts:
            raise RouteTemplateError(template, "empty segment ('//')")
        parameter = segment.parameter
        if parameter is not None and parameter.catch_all and position != len(segments) - 1:
            raise RouteTemplateError(template, "a catch-all parameter must be the last segment")
    return segments


def _match_segments(segments: Sequence[_Segment], path: Sequence[str]) -> dict[str, str] | None:
    values: dict[str, str] = {}
    for position, segment in enumerate(segments):
        parameter = segment.parameter
        if parameter is not None and parameter.catch_all:
            rest = "/".join(path[position:])
            return values if _bind(values, parameter, rest or None) else None
        if position >= len(path):
            if parameter is not None and parameter.may_be_absent:
                _bind(values, parameter, None)
                continue
            return None
        value = path[position]
        if segment.literal is not None:
            if segment.literal.casefold() != value.casefold():
                return None
        elif parameter is not None:
            if not value or not _bind(values, parameter, value):
                return None
        elif not _match_complex(segment, value, values):
            return None
    return values if len(path) <= len(segments) else None


def _match_complex(segment: _Segment, value: str, values: dict[str, str]) -> bool:
    for pattern in segment.patterns:
        found = pattern.fullmatch(value)
        if found is None:
            continue
        bound: dict[str, str] = {}
        parameters = [(index, part) for index, part in enumerate(segment.parts) if isinstance(part, _Parameter)]
        if all(_bind(bound, part, found.groupdict().get(f"p{index}")) for index, part in parameters):
            values.update(bound)
            return True
    return False


def _bind(values: dict[str, str], parameter: _Parameter, value: str | None) -> bool:
    if value is None:
        if parameter.default is not None:
            values[parameter.name] = parameter.default
        return True  # an absent optional parameter is simply not in route_params
    if not all(check(value) for check in parameter.checks):
        return False
    values[parameter.name] = value
    return True


@dataclass(frozen=True)
class _Route:
    spec: FunctionSpec
    template: str
    segments: tuple[_Segment, ...]
    methods: frozenset[str] | None  # None: every method
    auth_level: str
    trigger_name: str

    @property
    def precedence(self) -> tuple[int, ...]:
        return tuple(segment.precedence for segment in self.segments)


def _http_trigger(spec: FunctionSpec) -> dict[str, Any] | None:
    return next(
        (
            binding
            for binding in spec.bindings
            if str(binding.get("type", "")).lower() == "httptrigger"
            and str(binding.get("direction", "")).upper() == "IN"
        ),
        None,
    )


def _routes(functions: Iterable[FunctionSpec], route_prefix: str) -> list[_Route]:
    routes: list[_Route] = []
    prefix = route_prefix.strip("/")
    for spec in functions:
        trigger = _http_trigger(spec)
        if trigger is None:
            continue
        route = str(trigger.get("route") or spec.name).strip("/")  # no route: the host serves it at its name
        template = "/".join(part for part in (prefix, route) if part)
        methods = trigger.get("methods") or None
        routes.append(
            _Route(
                spec=spec,
                template=template,
                segments=_parse_template(template),
                methods=frozenset(str(method).upper() for method in methods) if methods else None,
                auth_level=str(trigger.get("authLevel") or "FUNCTION").upper(),
                trigger_name=str(trigger["name"]),
            )
        )
    # Stable sort: equal precedence keeps registration order, as the host's route table does.
    return sorted(routes, key=lambda route: route.precedence)


def _path_segments(path: str) -> list[str]:
    path = path.strip("/")  # ASP.NET ignores a trailing slash
    # Split before decoding, so an encoded '/' (%2F) stays inside its segment.
    return [unquote(piece) for piece in path.split("/")] if path else []


# ---------------------------------------------------------------------------------------------- host-owned paths


@dataclass(frozen=True)
class HostRequest:
    """What an `add_handler` handler receives.

    `path` is decoded and has no query; `query` and `headers` join repeated names with ","; header names are lower
    case; `url` is the absolute URL the client asked for (for building status URLs)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    url: str

    @property
    def key(self) -> str | None:
        """The function or master key the caller presented, if any (check it with `is_authorized`)."""
        return presented_key(self.headers, self.query)


@dataclass(frozen=True)
class HostResponse:
    """What an `add_handler` handler returns; Content-Length is set by the server."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> HostResponse:
        return cls(status, {"Content-Type": "application/json; charset=utf-8", **(headers or {})}, _json(payload))


HostHandler = Callable[[HostRequest], HostResponse]
Invoke = Callable[[FunctionSpec, dict[str, Any]], Any]


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), default=str).encode("utf-8")


# ------------------------------------------------------------------------------------------------------ responses


@dataclass
class _Wire:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    close: bool = False


_HTTP_OUT = meta.get_binding_registry().get("http")  # the worker's encoder for an HTTP function's `$return`


def _status_only(status: int, *, close: bool = False) -> _Wire:
    return _Wire(status=status, close=close)  # the host's 401/404/413/500 carry no body


def _encode_return(value: Any, *, lenient: bool) -> _Wire:
    """Turn a function's return value into the response, as the worker and host would (see the module docstring)."""
    if lenient and not isinstance(value, str | func.HttpResponse):
        if value is None:
            return _Wire(status=204)
        if isinstance(value, bytes | bytearray):
            return _Wire(200, [("Content-Type", "application/octet-stream")], bytes(value))
        if isinstance(value, dict | list):
            return _Wire(200, [("Content-Type", "application/json; charset=utf-8")], _json(value))
    try:
        datum = _HTTP_OUT.encode(value, expected_type=None)
    except NotImplementedError as error:
        # The worker's own message, so the log reads like Azure's would.
        raise TypeError(
            f'unable to encode outgoing TypedData: unsupported type "{_HTTP_OUT}" for Python type '
            f'"{type(value).__name__}"'
        ) from error
    if datum.type == "string":
        return _Wire(200, [("Content-Type", "text/plain; charset=utf-8")], datum.value.encode("utf-8"))
    encoded = datum.value
    headers = [(name, str(header.value)) for name, header in encoded["headers"].items()]
    for cookie in encoded.get("cookies") or ():
        headers.extend(("Set-Cookie", morsel.OutputString()) for morsel in cookie.values())
    return _Wire(int(encoded["status_code"].value), headers, encoded["body"].value or b"")


# ---------------------------------------------------------------------------------------------------------- server


class _BodyTooLargeError(Exception):
    pass


class _BadRequestError(Exception):
    pass


class HttpServer:
    """A local HTTP server for the app's HTTP-triggered functions (see the module docstring for the semantics).

    `invoke(spec, {trigger_name: HttpRequest})` runs the function and returns its `$return` value (an awaitable is
    awaited); it is called on the request's own thread, concurrently for concurrent requests. `lenient_returns` also
    accepts None/bytes/dict/list returns, which Azure's worker refuses."""

    def __init__(
        self,
        functions: Sequence[FunctionSpec],
        invoke: Invoke,
        keys: HostKeys,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        route_prefix: str = "api",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        lenient_returns: bool = False,
    ) -> None:
        self.keys = keys
        self.route_prefix = route_prefix
        self.max_body_bytes = max_body_bytes
        self.lenient_returns = lenient_returns
        self._invoke = invoke
        self._routes = _routes(functions, route_prefix)
        self._handlers: list[tuple[str, HostHandler]] = []
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> HttpServer:
        if self._server is not None:
            raise RuntimeError("the HTTP server is already started")
        server_class = _Server6 if ":" in self._address[0] else _Server
        try:
            self._server = server_class(self._address, _RequestHandler, self)
        except OSError as error:
            failure = _bind_failure(self._address, error)
            if failure is None:
                raise
            raise failure from error
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="devhost-http", daemon=True
        )
        self._thread.start()
        if self._routes:  # the host's own endpoints (the Durable client's RPC server) are not announced
            logger.info("HTTP functions listening on %s/%s", self.base_url, self.route_prefix)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()  # keep-alive connections would otherwise still be served
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the HTTP server is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = self._address[0]
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"

    def url_for(self, function_name: str) -> str | None:
        """The URL template of an HTTP function (as Core Tools prints it), or None if it is not HTTP-triggered."""
        route = next((route for route in self._routes if route.spec.name == function_name), None)
        return None if route is None else f"{self.base_url}/{route.template}"

    # -- host-owned paths

    def add_handler(self, prefix: str, handler: HostHandler) -> None:
        """Serve every path at or below `prefix` (e.g. `/admin/host/status`) with `handler`, before function routes.

        Matching is case-insensitive and on whole segments; the longest prefix wins. The handler checks keys itself
        (`is_authorized(level, request.key, server.keys)`); an exception from it is a 500."""
        normalized = "/" + prefix.strip("/")
        # A new list, swapped in whole: request threads may be reading the old one (list.sort empties it meanwhile).
        self._handlers = sorted([*self._handlers, (normalized, handler)], key=lambda item: len(item[0]), reverse=True)

    def _handler_for(self, path: str) -> HostHandler | None:
        folded = path.casefold()
        for prefix, handler in self._handlers:
            wanted = prefix.casefold()
            if wanted == "/" or folded == wanted or folded.startswith(wanted + "/"):
                return handler
        return None

    # -- dispatch (runs on the request's thread)

    def _dispatch(self, method: str, target: str, headers: Mapping[str, str], body: bytes, url: str) -> _Wire:
        raw_path, _, raw_query = target.partition("?")
        query = _joined(parse_qsl(raw_query.partition("#")[0], keep_blank_values=True))
        handler = self._handler_for(unquote(raw_path))
        if handler is not None:
            return self._run_handler(handler, HostRequest(method, unquote(raw_path), query, headers, body, url))
        found = self._match(method, _path_segments(raw_path))
        if found is None:
            return _status_only(HTTPStatus.NOT_FOUND)
        route, route_params = found
        if not is_authorized(route.auth_level, presented_key(headers, query), self.keys):
            return _status_only(HTTPStatus.UNAUTHORIZED)
        request = func.HttpRequest(method, url, headers=headers, params=query, route_params=route_params, body=body)
        try:
            result = self._invoke(route.spec, {route.trigger_name: request})
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
            return _encode_return(result, lenient=self.lenient_returns)
        except Exception:
            logger.exception("Executed 'Functions.%s' (Failed)", route.spec.name)
            return _status_only(HTTPStatus.INTERNAL_SERVER_ERROR)

    def _match(self, method: str, path: Sequence[str]) -> tuple[_Route, dict[str, str]] | None:
        # The method is part of the match (the host's route constraint), so a route with another method falls through.
        for route in self._routes:  # sorted by precedence
            if route.methods is not None and method.upper() not in route.methods:
                continue
            values = _match_segments(route.segments, path)
            if values is not None:
                return route, values
        return None

    def _run_handler(self, handler: HostHandler, request: HostRequest) -> _Wire:
        try:
            response = handler(request)
        except Exception:
            logger.exception("host handler for %s %s failed", request.method, request.path)
            return _status_only(HTTPStatus.INTERNAL_SERVER_ERROR)
        return _Wire(int(response.status), list(response.headers.items()), bytes(response.body))


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _bind_failure(address: tuple[str, int], error: OSError) -> StartupError | None:
    """A port the host cannot listen on, with the fix a user needs; None for another bind error."""
    host, port = address
    if error.errno == errno.EADDRINUSE:
        return StartupError(
            PORT_IN_USE,
            f"port {port} on {host} is already in use",
            f"stop the program listening on it (`ss -ltnp 'sport = :{port}'` names it), or choose another port "
            "with --port (0 picks a free one)",
        )
    if error.errno == errno.EACCES:
        return StartupError(
            PORT_NOT_PERMITTED,
            f"port {port} on {host} needs privileges this user lacks",
            "choose a port above 1023 with --port (0 picks a free one)",
        )
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: HttpServer) -> None:
        self.owner = owner
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of the real host expect
    timeout = _SOCKET_TIMEOUT_SECONDS
    server: _Server
    _unread = 0  # bytes of a refused body still on the wire

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it.
        length = self.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.server.owner.max_body_bytes:
            self._write(_status_only(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, close=True))
            return False
        return super().handle_expect_100()

    def _serve(self) -> None:
        owner = self.server.owner
        if len(self.path.encode("latin-1", "replace")) > MAX_URL_BYTES:
            self._write(_status_only(HTTPStatus.REQUEST_URI_TOO_LONG, close=True))
            return
        try:
            body = self._read_body(owner.max_body_bytes)
        except _BodyTooLargeError:
            self._write(_status_only(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, close=True))
            self._drain()
            return
        except _BadRequestError:
            self._write(_status_only(HTTPStatus.BAD_REQUEST, close=True))
            return
        target = self.path
        if not target.startswith("/"):  # absolute-form request target
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        address, port = self.server.server_address[:2]
        if isinstance(address, bytes):  # typed str | bytes; a TCP server's address is always text
            address = address.decode()
        host = self.headers.get("Host") or f"{address}:{port}"
        headers = _joined((name.lower(), value) for name, value in self.headers.items())
        try:
            wire = owner._dispatch(self.command, target, headers, body, f"http://{host}{target}")
        except Exception:  # a bug of ours must still answer, not drop the connection
            logger.exception("dispatching %s %s failed", self.command, target)
            wire = _status_only(HTTPStatus.INTERNAL_SERVER_ERROR)
        self._write(wire)

    def _read_body(self, limit: int) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        if not length_header.strip().isdigit():
            raise _BadRequestError
        length = int(length_header)
        if length > limit:
            self._unread = length
            raise _BodyTooLargeError
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as error:
                raise _BadRequestError from error
            if size == 0:
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are ignored
                return b"".join(chunks)
            total += size
            if total > limit:
                self._unread = 0  # the rest of a chunked body has no known length: close instead of draining
                raise _BodyTooLargeError
            chunks.append(self.rfile.read(size))
            self.rfile.readline(8)  # the CRLF after each chunk

    def _drain(self) -> None:
        # Read what the client is still sending (up to a bound) so it sees the 413 rather than a reset connection.
        remaining = min(self._unread, _DRAIN_LIMIT)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)

    def _write(self, wire: _Wire) -> None:
        self.send_response(wire.status)
        no_body = wire.status in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED) or wire.status < 200
        for name, value in wire.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        if not no_body:
            self.send_header("Content-Length", str(len(wire.body)))
        if wire.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not no_body and self.command != "HEAD":
            self.wfile.write(wire.body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - " + format, self.address_string(), *args)


for _method in _STANDARD_METHODS:
    setattr(_RequestHandler, f"do_{_method}", _RequestHandler._serve)
