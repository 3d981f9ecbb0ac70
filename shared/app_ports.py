"""The Function app's ports: opened once per worker process, on the first invocation, and kept for the next ones.

The worker imports `function_app.py` once per process and calls functions from several threads, so the ports are
opened under a lock and shared. A failure to open them (a setting missing, a service unreachable) is remembered:
invocations within the back-off window fail at once with the same error instead of each retrying under the lock,
and the window doubles up to a minute. `/api/health` reports the failure.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack

from pydantic import ValidationError

from shared.config import Settings
from shared.domain import ConfigError
from shared.ports import Ports
from shared.telemetry import configure_telemetry, flush_telemetry
from shared.wiring import check, open_ports, running_on_azure

log = logging.getLogger(__name__)

_FIRST_BACKOFF = 1.0
_MAX_BACKOFF = 60.0

_lock = threading.Lock()
_opened: tuple[Ports, ExitStack] | None = None
_failure: tuple[Exception, float, float] | None = None  # (error, retry at (monotonic), backoff)


def app_ports() -> Ports:
    """The process's ports, opened on first use; raises the last failure while backing off."""
    global _opened, _failure
    with _lock:
        if _opened is not None:
            return _opened[0]
        now = time.monotonic()
        if _failure is not None and now < _failure[1]:
            raise _failure[0]
        try:
            settings = Settings()
            configure_telemetry(settings.data_dir, telemetry=settings.telemetry, on_azure=running_on_azure())
            _opened = open_ports(settings)
        except Exception as error:
            backoff = _FIRST_BACKOFF if _failure is None else min(_failure[2] * 2, _MAX_BACKOFF)
            _failure = (error, now + backoff, backoff)
            level = logging.ERROR if isinstance(error, ConfigError) else logging.WARNING
            log.log(level, "ports could not be opened (next try in %.0f s): %s", backoff, error)
            raise
        _failure = None
        return _opened[0]


def log_startup_problems() -> ConfigError | ValidationError | None:
    """Check the settings without opening anything and log what is wrong (the worker imports the app at start, so
    the log shows a misconfigured app before any trigger fires); returns the problem found."""
    try:
        check(Settings())
    except (ConfigError, ValidationError) as problem:
        log.error("the app cannot run with these settings: %s", problem)
        return problem
    return None


def startup_failure() -> Exception | None:
    """The error the last attempt to open the ports ended with, if it failed."""
    with _lock:
        return None if _failure is None else _failure[0]


def close_app_ports() -> None:
    """Close every port and forget any failure; the next `app_ports()` opens them again (the local host calls this
    when it stops)."""
    global _opened, _failure
    with _lock:
        if _opened is not None:
            _opened[1].close()
            _opened = None
        flush_telemetry()
        _failure = None
