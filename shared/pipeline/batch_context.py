"""Which job batch a stage handler runs for, for the few handlers that account per batch (extract: its token budget
and its record are per job batch).

A context variable rather than a handler argument: every handler keeps the one signature `(payload, document,
ports)` that the stage table, the hosts and the tests share, and the value is per invocation (each thread and task
sees its own), set by `stages.process_message` around the handler call and gone after it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple


class BatchKey(NamedTuple):
    job_id: str
    batch: int


_current: ContextVar[BatchKey | None] = ContextVar("tributary_batch", default=None)


@contextmanager
def running(job_id: str, batch: int) -> Iterator[BatchKey]:
    """Within the block, `current()` is this batch."""
    key = BatchKey(job_id, batch)
    token = _current.set(key)
    try:
        yield key
    finally:
        _current.reset(token)


def current() -> BatchKey | None:
    """The batch being handled, or None outside `running` (a handler called on its own)."""
    return _current.get()
