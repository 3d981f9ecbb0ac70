"""An in-process driver for `Neo4jGraphSink` that records what it would send to Neo4j (no Bolt server runs here).

It implements the part of `neo4j.Driver` the sink uses: `session(**config)` as a context manager,
`execute_read(fn)` / `execute_write(fn)` calling `fn(tx)` once, `tx.run(query, parameters)` returning a result
with `values()` and `consume()`. Each managed transaction is recorded with its access mode, session config and
statements. `answer(query, params)` scripts the rows a statement returns; `fail(query, params)` returns an
exception to raise from `tx.run`, as the driver raises what the server answered once its own retries are spent
(`server_error` builds one exactly as the driver does from a server FAILURE).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neo4j.exceptions import Neo4jError

Answer = Callable[[str, dict[str, Any]], list[list[Any]]]
Fail = Callable[[str, dict[str, Any]], BaseException | None]


def server_error(code: str, message: str = "refused") -> Neo4jError:
    """The error the driver raises for a server FAILURE with this Neo4j status code (ConstraintError, …)."""
    return Neo4jError._hydrate_neo4j(code=code, message=message)


@dataclass
class RecordedTransaction:
    mode: str  # "read" or "write"
    session_config: dict[str, Any]
    statements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    committed: bool = False


class RecordedResult:
    def __init__(self, rows: list[list[Any]]) -> None:
        self._rows = rows

    def values(self) -> list[list[Any]]:
        return [list(row) for row in self._rows]

    def consume(self) -> None:
        self._rows = []


class RecordingTransaction:
    def __init__(self, driver: RecordingDriver, record: RecordedTransaction) -> None:
        self._driver = driver
        self._record = record

    def run(self, query: str, parameters: dict[str, Any] | None = None) -> RecordedResult:
        params = copy.deepcopy(parameters or {})
        self._record.statements.append((query, params))
        error = self._driver.fail(query, params)
        if error is not None:
            raise error
        return RecordedResult(self._driver.answer(query, params))


class RecordingSession:
    def __init__(self, driver: RecordingDriver, config: dict[str, Any]) -> None:
        self._driver = driver
        self._config = config

    def __enter__(self) -> RecordingSession:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def execute_read(self, transaction_function: Callable[[RecordingTransaction], Any]) -> Any:
        return self._execute("read", transaction_function)

    def execute_write(self, transaction_function: Callable[[RecordingTransaction], Any]) -> Any:
        return self._execute("write", transaction_function)

    def _execute(self, mode: str, transaction_function: Callable[[RecordingTransaction], Any]) -> Any:
        record = RecordedTransaction(mode, dict(self._config))
        self._driver.transactions.append(record)
        result = transaction_function(RecordingTransaction(self._driver, record))  # an error: rolled back
        record.committed = True
        return result


class RecordingDriver:
    """Records every managed transaction; answers with `answer`, fails with `fail`."""

    def __init__(self, answer: Answer | None = None, fail: Fail | None = None) -> None:
        self.answer: Answer = answer or (lambda query, params: [])
        self.fail: Fail = fail or (lambda query, params: None)
        self.transactions: list[RecordedTransaction] = []
        self.closed = False

    def session(self, **config: Any) -> RecordingSession:
        return RecordingSession(self, config)

    def close(self) -> None:
        self.closed = True

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        """Every statement run in a committed write transaction, in order."""
        return [s for t in self.transactions if t.mode == "write" and t.committed for s in t.statements]
