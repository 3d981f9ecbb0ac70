"""The durable task hub of the local host: instances, their history, their inbox and their activity work, in one
SQLite file under the data directory, so a host stopped mid-orchestration and started again resumes it.

Like the Azure Storage provider, what an episode decides is committed in one transaction: the events it consumed
leave the inbox and join the history together with what it scheduled (activity work, timers, sub-orchestrations),
so a crash at any point either replays the whole episode or none of it. An activity result enters the inbox in the
same transaction that removes its work item: each task is completed at most once, and an activity that was running
at the crash runs again (at-least-once, as on Azure).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.devhost.durable.history import Event, T, event, timestamp, utc_now

__all__ = ["TERMINAL", "ChildStart", "DurableStore", "Instance", "Outcome", "WorkItem"]

PENDING, RUNNING, COMPLETED, FAILED, TERMINATED = "Pending", "Running", "Completed", "Failed", "Terminated"
TERMINAL = frozenset({COMPLETED, FAILED, TERMINATED})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, input TEXT, output TEXT,
    custom_status TEXT, created TEXT NOT NULL, updated TEXT NOT NULL, execution INTEGER NOT NULL,
    parent_id TEXT, parent_task INTEGER, parent_execution INTEGER, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL, position INTEGER NOT NULL, event TEXT NOT NULL, PRIMARY KEY (instance_id, position));
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, execution INTEGER NOT NULL,
    event TEXT NOT NULL, visible_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox (instance_id, visible_at);
CREATE TABLE IF NOT EXISTS work (
    id INTEGER PRIMARY KEY AUTOINCREMENT, instance_id TEXT NOT NULL, execution INTEGER NOT NULL,
    task_id INTEGER NOT NULL, name TEXT NOT NULL, input TEXT);
CREATE INDEX IF NOT EXISTS work_instance ON work (instance_id);
"""


@dataclass(frozen=True)
class Instance:
    instance_id: str
    name: str
    status: str
    input: str | None
    output: str | None
    custom_status: str | None
    created: str
    updated: str
    execution: int
    parent_id: str | None
    parent_task: int | None
    parent_execution: int | None
    state: dict[str, Any]


@dataclass(frozen=True)
class WorkItem:
    id: int
    instance_id: str
    execution: int
    task_id: int
    name: str
    input: str | None


@dataclass(frozen=True)
class ChildStart:
    instance_id: str
    name: str
    input: str | None
    parent_task: int


@dataclass
class Outcome:
    """What one episode decided, committed at once by `DurableStore.commit`."""

    instance_id: str
    execution: int
    consumed: list[int]
    events: list[Event]
    state: dict[str, Any]
    status: str
    output: str | None = None
    custom_status: str | None = None
    work: list[tuple[int, str, str | None]] = field(default_factory=list)  # task id, activity name, input
    timers: list[tuple[Event, float]] = field(default_factory=list)  # TimerFired and when it becomes visible
    children: list[ChildStart] = field(default_factory=list)
    child_failures: list[Event] = field(default_factory=list)  # sub-orchestrations that could not start
    continue_input: str | None = None
    continued: bool = False
    parent_event: tuple[str, int, Event] | None = None  # to the parent's inbox: (parent id, its execution, event)


def new_state() -> dict[str, Any]:
    """The host's own per-execution bookkeeping: next sequence number, scheduled leaves, retries in flight."""
    return {"next_seq": 0, "leaves": [], "retries": {}}


class DurableStore:
    """Thread-safe: one connection, one lock, short transactions."""

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL survives a process crash
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> DurableStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            if db is None:
                raise RuntimeError("the durable store is closed")
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.rollback()
                raise

    # -- instances

    def start(
        self, instance_id: str, name: str, input_text: str | None, parent: tuple[str, int, int] | None = None
    ) -> bool:
        """Create (or replace a finished) instance and queue its ExecutionStarted; False if one is still running."""
        with self._tx() as db:
            return _start(db, instance_id, name, input_text, parent)

    def get(self, instance_id: str) -> Instance | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
        return None if row is None else _instance(row)

    def instances(self) -> list[Instance]:
        with self._tx() as db:
            return [_instance(row) for row in db.execute("SELECT * FROM instances ORDER BY created")]

    def history(self, instance_id: str) -> list[Event]:
        with self._tx() as db:
            rows = db.execute("SELECT event FROM history WHERE instance_id = ? ORDER BY position", (instance_id,))
            return [json.loads(row["event"]) for row in rows]

    # -- scheduling

    def ready(self, now: float) -> list[tuple[str, float, int]]:
        """Instances with visible inbox events: (id, when the oldest became visible, activity work outstanding)."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT i.instance_id, MIN(i.visible_at) AS oldest,"
                " (SELECT COUNT(*) FROM work w WHERE w.instance_id = i.instance_id) AS work"
                " FROM inbox i WHERE i.visible_at <= ? GROUP BY i.instance_id",
                (now,),
            ).fetchall()
        return [(row["instance_id"], row["oldest"], row["work"]) for row in rows]

    def has_pending(self) -> bool:
        """Work or inbox events (timers included) left for some instance."""
        with self._tx() as db:
            inbox = db.execute("SELECT 1 FROM inbox LIMIT 1").fetchone()
            work = db.execute("SELECT 1 FROM work LIMIT 1").fetchone()
        return inbox is not None or work is not None

    def work(self, after: int, limit: int) -> list[WorkItem]:
        """Activity work with ids above `after` (after a restart, from 0: everything that had not completed)."""
        if limit <= 0:
            return []
        with self._tx() as db:
            rows = db.execute("SELECT * FROM work WHERE id > ? ORDER BY id LIMIT ?", (after, limit)).fetchall()
        return [WorkItem(**dict(row)) for row in rows]

    def load(self, instance_id: str, now: float) -> tuple[Instance, list[str], list[tuple[int, Event]]] | None:
        """An instance, its history (JSON text, as stored) and its visible inbox (oldest first), for one episode."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None:
                return None
            history = [
                h["event"]
                for h in db.execute("SELECT event FROM history WHERE instance_id = ? ORDER BY position", (instance_id,))
            ]
            inbox = [
                (i["id"], json.loads(i["event"]))
                for i in db.execute(
                    "SELECT id, event FROM inbox WHERE instance_id = ? AND visible_at <= ? ORDER BY id",
                    (instance_id, now),
                )
            ]
        return _instance(row), history, inbox

    def commit(self, outcome: Outcome) -> bool:
        """Apply an episode's outcome; False (nothing applied) if the instance moved on meanwhile (terminated)."""
        now = timestamp(utc_now())
        with self._tx() as db:
            row = db.execute("SELECT * FROM instances WHERE instance_id = ?", (outcome.instance_id,)).fetchone()
            if row is None or row["execution"] != outcome.execution or row["status"] in TERMINAL:
                return False  # purged, terminated or continued meanwhile: this episode's decisions are void
            ids = outcome.consumed
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                db.execute(f"DELETE FROM inbox WHERE id IN ({','.join('?' * len(chunk))})", chunk)
            if outcome.continued:
                _reset_execution(db, outcome.instance_id, row["execution"] + 1, outcome.continue_input, row["name"])
                db.execute(
                    "UPDATE instances SET custom_status = ?, updated = ? WHERE instance_id = ?",
                    (outcome.custom_status, now, outcome.instance_id),
                )
                return True
            position = db.execute(
                "SELECT COALESCE(MAX(position), -1) FROM history WHERE instance_id = ?", (outcome.instance_id,)
            ).fetchone()[0]
            db.executemany(
                "INSERT INTO history (instance_id, position, event) VALUES (?, ?, ?)",
                [(outcome.instance_id, position + 1 + n, json.dumps(e)) for n, e in enumerate(outcome.events)],
            )
            db.executemany(
                "INSERT INTO work (instance_id, execution, task_id, name, input) VALUES (?, ?, ?, ?, ?)",
                [(outcome.instance_id, outcome.execution, task, name, text) for task, name, text in outcome.work],
            )
            own_inbox = [(e, time.time()) for e in outcome.child_failures] + outcome.timers
            db.executemany(
                "INSERT INTO inbox (instance_id, execution, event, visible_at) VALUES (?, ?, ?, ?)",
                [(outcome.instance_id, outcome.execution, json.dumps(e), at) for e, at in own_inbox],
            )
            for child in outcome.children:
                parent = (outcome.instance_id, child.parent_task, outcome.execution)
                if not _start(db, child.instance_id, child.name, child.input, parent):
                    failed = event(
                        T.SUB_ORCHESTRATION_INSTANCE_FAILED,
                        utc_now(),
                        TaskScheduledId=child.parent_task,
                        Reason=f"An orchestration with instance ID '{child.instance_id}' already exists.",
                        Details="",
                    )
                    _to_inbox(db, outcome.instance_id, outcome.execution, failed)
            if outcome.status in TERMINAL:
                db.execute("DELETE FROM work WHERE instance_id = ?", (outcome.instance_id,))
                db.execute("DELETE FROM inbox WHERE instance_id = ?", (outcome.instance_id,))
            db.execute(
                "UPDATE instances SET status = ?, output = ?, custom_status = ?, updated = ?, state = ?"
                " WHERE instance_id = ?",
                (
                    outcome.status,
                    outcome.output,
                    outcome.custom_status,
                    now,
                    json.dumps(outcome.state),
                    outcome.instance_id,
                ),
            )
            if outcome.parent_event is not None:
                _notify(db, *outcome.parent_event)
        return True

    def complete(self, item: WorkItem, result: Event) -> bool:
        """Record an activity's TaskCompleted/TaskFailed once: only if its work item is still there."""
        with self._tx() as db:
            gone = db.execute("DELETE FROM work WHERE id = ?", (item.id,)).rowcount == 0
            if gone:
                return False
            _to_inbox(db, item.instance_id, item.execution, result)
        return True

    # -- management

    def terminate(self, instance_id: str, reason: str) -> str | None:
        """Terminate a running instance; returns its status before (None if unknown)."""
        terminated = event(T.EXECUTION_TERMINATED, utc_now(), Input=json.dumps(reason))
        parent_reason = f"The sub-orchestration '{instance_id}' was terminated: {reason}"
        return self._end(instance_id, TERMINATED, json.dumps(reason), terminated, parent_reason)

    def fail(self, instance_id: str, message: str) -> str | None:
        """Fail a running instance the host could not run an episode of (so it does not retry forever)."""
        failed = event(T.EXECUTION_FAILED, utc_now(), Reason=message)
        return self._end(instance_id, FAILED, json.dumps(message), failed, message)

    def _end(self, instance_id: str, status: str, output: str, last: Event, parent_reason: str) -> str | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None or row["status"] in TERMINAL:
                return None if row is None else str(row["status"])
            db.execute("DELETE FROM work WHERE instance_id = ?", (instance_id,))
            db.execute("DELETE FROM inbox WHERE instance_id = ?", (instance_id,))
            position = db.execute(
                "SELECT COALESCE(MAX(position), -1) FROM history WHERE instance_id = ?", (instance_id,)
            ).fetchone()[0]
            db.execute(
                "INSERT INTO history (instance_id, position, event) VALUES (?, ?, ?)",
                (instance_id, position + 1, json.dumps(last)),
            )
            db.execute(
                "UPDATE instances SET status = ?, output = ?, updated = ? WHERE instance_id = ?",
                (status, output, last["Timestamp"], instance_id),
            )
            if row["parent_id"] is not None:
                failed = event(
                    T.SUB_ORCHESTRATION_INSTANCE_FAILED,
                    utc_now(),
                    TaskScheduledId=row["parent_task"],
                    Reason=parent_reason,
                    Details="",
                )
                _notify(db, row["parent_id"], row["parent_execution"], failed)
            return str(row["status"])

    def raise_event(self, instance_id: str, name: str, input_text: str | None) -> str | None:
        """Queue an EventRaised for a running instance; returns its status (None if unknown)."""
        with self._tx() as db:
            row = db.execute("SELECT status, execution FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
            if row is None:
                return None
            if row["status"] not in TERMINAL:
                _to_inbox(
                    db, instance_id, row["execution"], event(T.EVENT_RAISED, utc_now(), Name=name, Input=input_text)
                )
            return str(row["status"])

    def purge(self, instance_id: str) -> int:
        with self._tx() as db:
            return _purge(db, instance_id)


def _instance(row: sqlite3.Row) -> Instance:
    values = dict(row)
    values["state"] = json.loads(values["state"])
    return Instance(**values)


def _to_inbox(
    db: sqlite3.Connection, instance_id: str, execution: int, item: Event, visible_at: float | None = None
) -> None:
    db.execute(
        "INSERT INTO inbox (instance_id, execution, event, visible_at) VALUES (?, ?, ?, ?)",
        (instance_id, execution, json.dumps(item), time.time() if visible_at is None else visible_at),
    )


def _notify(db: sqlite3.Connection, parent_id: str, parent_execution: int, item: Event) -> None:
    # Only the parent execution that started the child hears of it (a parent that continued as new has moved on).
    row = db.execute("SELECT execution, status FROM instances WHERE instance_id = ?", (parent_id,)).fetchone()
    if row is not None and row["execution"] == parent_execution and row["status"] not in TERMINAL:
        _to_inbox(db, parent_id, parent_execution, item)


def _purge(db: sqlite3.Connection, instance_id: str) -> int:
    for table in ("history", "inbox", "work"):
        db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))
    return db.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,)).rowcount


def _start(
    db: sqlite3.Connection, instance_id: str, name: str, input_text: str | None, parent: tuple[str, int, int] | None
) -> bool:
    row = db.execute("SELECT status FROM instances WHERE instance_id = ?", (instance_id,)).fetchone()
    if row is not None and row["status"] not in TERMINAL:
        return False
    _purge(db, instance_id)
    now = timestamp(utc_now())
    parent_id, parent_task, parent_execution = parent if parent is not None else (None, None, None)
    db.execute(
        "INSERT INTO instances (instance_id, name, status, input, output, custom_status, created, updated, execution,"
        " parent_id, parent_task, parent_execution, state) VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, 0, ?, ?, ?, ?)",
        (
            instance_id,
            name,
            PENDING,
            input_text,
            now,
            now,
            parent_id,
            parent_task,
            parent_execution,
            json.dumps(new_state()),
        ),
    )
    _to_inbox(db, instance_id, 0, _execution_started(instance_id, 0, name, input_text, parent_id))
    return True


def _execution_started(
    instance_id: str, execution: int, name: str, input_text: str | None, parent_id: str | None
) -> Event:
    return event(
        T.EXECUTION_STARTED,
        utc_now(),
        Name=name,
        Version="",
        Input=input_text,
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": f"{instance_id}:{execution}"},
        ParentInstance=None if parent_id is None else {"OrchestrationInstance": {"InstanceId": parent_id}},
    )


def _reset_execution(
    db: sqlite3.Connection, instance_id: str, execution: int, input_text: str | None, name: str
) -> None:
    """continue_as_new: a fresh history, the new input, the old execution's outstanding work dropped."""
    for table in ("history", "inbox", "work"):
        db.execute(f"DELETE FROM {table} WHERE instance_id = ?", (instance_id,))
    db.execute(
        "UPDATE instances SET status = ?, input = ?, execution = ?, state = ? WHERE instance_id = ?",
        (RUNNING, input_text, execution, json.dumps(new_state()), instance_id),
    )
    _to_inbox(db, instance_id, execution, _execution_started(instance_id, execution, name, input_text, None))
