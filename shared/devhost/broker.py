"""A durable local stand-in for Service Bus queues, kept in one SQLite file so it survives a restart of the host.

Mirrored from Service Bus (Standard tier):
- queues are entities with properties (`QueueProperties`: lock duration, max delivery count, duplicate detection and
  its window), created or updated by `create_queue` as a Bicep deployment does; sending to or receiving from a
  queue that was never created raises `MessagingEntityNotFoundError`; duplicate detection is fixed at creation;
- peek-lock delivery, FIFO by sequence number; a lock lasts the queue's lock duration and can be renewed; settling
  with an expired or superseded lock raises `MessageLockLostError`;
- DeliveryCount (1 on the first delivery, as the Functions host reports it); abandon releases the lock at once;
- dead-lettering: explicit (reason and description kept), and automatic with `MaxDeliveryCountExceeded` when a
  message that already had the queue's max delivery count of deliveries is abandoned or its lock expires; the
  dead-letter subqueue can be peeked or received peek-lock and completed;
- duplicate detection on MessageId, only on a queue created with it, within its history window measured from the
  first acceptance;
- scheduled messages (invisible until their time); the 256 KB message size limit; atomic batch sends.

Not mirrored: sessions, topics and subscriptions, transactions, message deferral, auto-forward, time-to-live and
expiry, receive-and-delete mode, the batch size limit, partitioning. Receiving from the dead-letter subqueue does
not count a delivery (the count stays what it was when the message was dead-lettered, which is what a replay needs).

Every write runs in `BEGIN IMMEDIATE`, so several processes may share the file; inside one process a lock
serialises the threads on one connection (each call is a short transaction).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from shared.devhost.broker_models import (
    DEAD_LETTER_MAX_DELIVERY,
    MAX_MESSAGE_BYTES,
    MessageLockLostError,
    MessageTooLargeError,
    MessagingEntityNotFoundError,
    OutgoingMessage,
    QueueCounts,
    QueueProperties,
    QueuePropertyChangeError,
    ReceivedMessage,
)

__all__ = [
    "LocalBroker",
    "MessageLockLostError",
    "MessageTooLargeError",
    "MessagingEntityNotFoundError",
    "OutgoingMessage",
    "QueueCounts",
    "QueueProperties",
    "QueuePropertyChangeError",
    "ReceivedMessage",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    sequence_number INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    dead_lettered INTEGER NOT NULL DEFAULT 0,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    content_type TEXT,
    subject TEXT,
    correlation_id TEXT,
    enqueued_at REAL NOT NULL,
    scheduled_at REAL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until REAL,
    dead_letter_reason TEXT,
    dead_letter_description TEXT,
    dead_letter_source TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, dead_lettered, sequence_number);
CREATE TABLE IF NOT EXISTS accepted_ids (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    accepted_at REAL NOT NULL,
    PRIMARY KEY (queue, message_id)
);
CREATE INDEX IF NOT EXISTS accepted_ids_by_age ON accepted_ids (queue, accepted_at);
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, properties TEXT);
"""

# Named parts of "may be delivered now" (parameter :now), joined below.
_DUE = "enqueued_at <= :now"
_UNLOCKED = "(locked_until IS NULL OR locked_until <= :now)"
_DELIVERABLE = f"{_DUE} AND {_UNLOCKED}"


class LocalBroker:
    """Service Bus queues in one SQLite file; thread-safe, and shareable between processes."""

    def __init__(
        self,
        path: Path,
        *,
        lock_duration: float = 60.0,
        max_delivery_count: int = 10,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 30.0,
    ) -> None:
        """`lock_duration` (seconds) and `max_delivery_count` are the properties `create_queue(name)` gives a queue
        created without its own; every queue keeps its own properties in the file."""
        self.path = Path(path)
        self.defaults = QueueProperties(
            lock_duration=timedelta(seconds=lock_duration), max_delivery_count=max_delivery_count
        )
        self._clock = clock
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we BEGIN ourselves. check_same_thread=False: the lock above serialises the threads.
        self._db: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.row_factory = sqlite3.Row
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._enable_wal(self._db, busy_timeout)
        self._db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL survives a process crash; commits stay cheap
        with self._write() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            # A file from before queues had properties: its queues count as never created until created again.
            if "properties" not in {row["name"] for row in db.execute("PRAGMA table_info(queues)")}:
                db.execute("ALTER TABLE queues ADD COLUMN properties TEXT")

    # -- queues (entities)

    def create_queue(self, queue: str, properties: QueueProperties | None = None) -> QueueProperties:
        """Create the queue, or update its properties (the ARM create-or-update a Bicep deployment makes).

        Duplicate detection is fixed at creation, as on Service Bus: changing it raises QueuePropertyChangeError."""
        wanted = properties or self.defaults
        with self._write() as db:
            existing = self._existing(db, queue)
            if existing is not None and existing.requires_duplicate_detection != wanted.requires_duplicate_detection:
                raise QueuePropertyChangeError(queue, "requiresDuplicateDetection")
            db.execute(
                "INSERT INTO queues (name, properties) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET properties = excluded.properties",
                (queue, wanted.model_dump_json()),
            )
        return wanted

    def get_queue(self, queue: str) -> QueueProperties:
        """The queue's properties; MessagingEntityNotFoundError when it was never created."""
        with self._read() as db:
            return self._properties(db, queue)

    @classmethod
    def _properties(cls, db: sqlite3.Connection, queue: str) -> QueueProperties:
        properties = cls._existing(db, queue)
        if properties is None:
            raise MessagingEntityNotFoundError(queue)
        return properties

    @staticmethod
    def _existing(db: sqlite3.Connection, queue: str) -> QueueProperties | None:
        row = db.execute("SELECT properties FROM queues WHERE name = ?", (queue,)).fetchone()
        return None if row is None or row[0] is None else QueueProperties.model_validate_json(row[0])

    # -- sending

    def send(self, queue: str, messages: Sequence[OutgoingMessage]) -> list[bool]:
        """Enqueue atomically; each entry says whether that message was accepted (False: a duplicate, dropped)."""
        for message in messages:
            if (size := message.size()) > MAX_MESSAGE_BYTES:
                raise MessageTooLargeError(message.message_id, size)
        if not messages:
            return []
        accepted: list[bool] = []
        with self._write() as db:
            properties = self._properties(db, queue)
            now = self._clock()
            if not properties.requires_duplicate_detection:
                for message in messages:
                    self._insert(db, queue, message, now)
                return [True] * len(messages)
            # Forget ids whose window has passed, so a resend after the window is a new message again.
            window = properties.duplicate_detection_history_time_window.total_seconds()
            db.execute("DELETE FROM accepted_ids WHERE queue = ? AND accepted_at <= ?", (queue, now - window))
            for message in messages:
                inserted = db.execute(
                    "INSERT OR IGNORE INTO accepted_ids (queue, message_id, accepted_at) VALUES (?, ?, ?)",
                    (queue, message.message_id, now),
                ).rowcount
                accepted.append(inserted == 1)
                if inserted:
                    self._insert(db, queue, message, now)
        return accepted

    def _insert(self, db: sqlite3.Connection, queue: str, message: OutgoingMessage, now: float) -> None:
        scheduled = message.scheduled_enqueue_time.timestamp() if message.scheduled_enqueue_time else None
        db.execute(
            "INSERT INTO messages (queue, message_id, body, properties, content_type, subject, correlation_id,"
            " enqueued_at, scheduled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                queue,
                message.message_id,
                message.body,
                json.dumps(message.application_properties),
                message.content_type,
                message.subject,
                message.correlation_id,
                max(now, scheduled or now),  # a scheduled message is enqueued (made visible) at its time
                scheduled,
            ),
        )

    # -- receiving

    def receive(self, queue: str, max_messages: int = 1) -> list[ReceivedMessage]:
        """Peek-lock up to `max_messages` visible messages, oldest first; each delivery counts."""
        return self._lock_next(queue, max_messages, dead_lettered=False)

    def receive_dead_letters(self, queue: str, max_messages: int = 1) -> list[ReceivedMessage]:
        """Peek-lock messages of the queue's dead-letter subqueue (settle them like any other)."""
        return self._lock_next(queue, max_messages, dead_lettered=True)

    def peek_dead_letters(self, queue: str, max_messages: int = 100) -> list[ReceivedMessage]:
        """The dead-letter subqueue's messages, oldest first, without locking them."""
        with self._write() as db:
            self._dead_letter_exhausted(db, queue, self._clock(), self._properties(db, queue))
            rows = db.execute(
                "SELECT * FROM messages WHERE queue = ? AND dead_lettered = 1 ORDER BY sequence_number LIMIT ?",
                (queue, max_messages),
            ).fetchall()
        return [_received(row) for row in rows]

    def _lock_next(self, queue: str, max_messages: int, *, dead_lettered: bool) -> list[ReceivedMessage]:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        with self._write() as db:
            now = self._clock()
            properties = self._properties(db, queue)
            self._dead_letter_exhausted(db, queue, now, properties)
            lock_duration = properties.lock_duration.total_seconds()
            rows = db.execute(
                f"SELECT sequence_number FROM messages WHERE queue = :queue AND dead_lettered = :dlq AND {_DELIVERABLE}"
                " ORDER BY sequence_number LIMIT :limit",
                {"queue": queue, "dlq": int(dead_lettered), "now": now, "limit": max_messages},
            ).fetchall()
            delivered = []
            for row in rows:
                delivered.append(
                    db.execute(
                        "UPDATE messages SET lock_token = ?, locked_until = ?, delivery_count = delivery_count + ?"
                        " WHERE sequence_number = ? RETURNING *",
                        (str(uuid.uuid4()), now + lock_duration, 0 if dead_lettered else 1, row[0]),
                    ).fetchone()
                )
        return [_received(row) for row in delivered]

    @staticmethod
    def _dead_letter_exhausted(
        db: sqlite3.Connection, queue: str, now: float, properties: QueueProperties | None
    ) -> None:
        # A message whose lock lapsed after its last allowed delivery is not redelivered: Service Bus moves it.
        if properties is None:
            return
        db.execute(
            f"UPDATE messages SET dead_lettered = 1, lock_token = NULL, locked_until = NULL,"
            f" dead_letter_reason = :reason, dead_letter_description = :description, dead_letter_source = queue"
            f" WHERE queue = :queue AND dead_lettered = 0 AND {_UNLOCKED} AND delivery_count >= :max",
            {"queue": queue, "now": now, "max": properties.max_delivery_count, **_max_delivery_reason(properties)},
        )

    # -- settling

    def complete(self, message: ReceivedMessage) -> None:
        """Remove the message for good (from the queue or its dead-letter subqueue)."""
        with self._write() as db:
            self._check_lock(db, message)
            db.execute("DELETE FROM messages WHERE sequence_number = ?", (message.sequence_number,))

    def abandon(self, message: ReceivedMessage) -> None:
        """Release the lock now; after the last allowed delivery the message is dead-lettered instead."""
        with self._write() as db:
            row = self._check_lock(db, message)
            properties = self._properties(db, message.queue)
            if not row["dead_lettered"] and row["delivery_count"] >= properties.max_delivery_count:
                self._move_to_dead_letters(db, message, **_max_delivery_reason(properties))
            else:
                db.execute(
                    "UPDATE messages SET lock_token = NULL, locked_until = NULL WHERE sequence_number = ?",
                    (message.sequence_number,),
                )

    def dead_letter(self, message: ReceivedMessage, reason: str, description: str) -> None:
        """Move the message to the dead-letter subqueue with a reason and a description."""
        with self._write() as db:
            row = self._check_lock(db, message)
            if row["dead_lettered"]:
                raise ValueError(f"message {message.message_id} is already in the dead-letter subqueue")
            self._move_to_dead_letters(db, message, reason=reason, description=description)

    def renew_lock(self, message: ReceivedMessage) -> datetime:
        """Extend the lock by the queue's lock duration from now; returns the new expiry."""
        with self._write() as db:
            self._check_lock(db, message)
            properties = self._properties(db, message.queue)
            locked_until = self._clock() + properties.lock_duration.total_seconds()
            db.execute(
                "UPDATE messages SET locked_until = ? WHERE sequence_number = ?",
                (locked_until, message.sequence_number),
            )
        return _utc(locked_until)

    def _check_lock(self, db: sqlite3.Connection, message: ReceivedMessage) -> sqlite3.Row:
        row = db.execute(
            "SELECT lock_token, locked_until, dead_lettered, delivery_count FROM messages WHERE sequence_number = ?",
            (message.sequence_number,),
        ).fetchone()
        settled = row is None
        peeked_only = message.lock_token is None
        superseded = not settled and row["lock_token"] != message.lock_token
        expired = not settled and (row["locked_until"] is None or row["locked_until"] <= self._clock())
        if settled or peeked_only or superseded or expired:
            raise MessageLockLostError(message)
        return row

    def _move_to_dead_letters(
        self, db: sqlite3.Connection, message: ReceivedMessage, *, reason: str, description: str
    ) -> None:
        db.execute(
            "UPDATE messages SET dead_lettered = 1, lock_token = NULL, locked_until = NULL, dead_letter_reason = ?,"
            " dead_letter_description = ?, dead_letter_source = queue WHERE sequence_number = ?",
            (reason, description, message.sequence_number),
        )

    # -- inspecting

    def counts(self, queue: str) -> QueueCounts:
        """Message counts (all zero for a queue that was never created)."""
        with self._write() as db:
            now = self._clock()
            self._dead_letter_exhausted(db, queue, now, self._existing(db, queue))
            row = db.execute(
                "SELECT"
                f" COALESCE(SUM(dead_lettered = 0 AND {_DELIVERABLE}), 0),"
                " COALESCE(SUM(dead_lettered = 0 AND enqueued_at > :now), 0),"
                " COALESCE(SUM(dead_lettered = 0 AND locked_until > :now), 0),"
                " COALESCE(SUM(dead_lettered = 1), 0)"
                " FROM messages WHERE queue = :queue",
                {"queue": queue, "now": now},
            ).fetchone()
        return QueueCounts(active=row[0], scheduled=row[1], locked=row[2], dead_lettered=row[3])

    def queues(self) -> list[str]:
        """Every queue created, by name."""
        with self._read() as db:
            return [row[0] for row in db.execute("SELECT name FROM queues WHERE properties IS NOT NULL ORDER BY name")]

    def purge(self, queue: str) -> None:
        """Drop every message of the queue and its dead-letter subqueue, and forget its accepted ids (tests)."""
        with self._write() as db:
            db.execute("DELETE FROM messages WHERE queue = ?", (queue,))
            db.execute("DELETE FROM accepted_ids WHERE queue = ?", (queue,))

    # -- lifecycle

    def close(self) -> None:
        """Close the file; calling it again does nothing."""
        with self._lock:
            db, self._db = self._db, None
        if db is not None:
            db.close()

    def __enter__(self) -> LocalBroker:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- transactions

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so a transaction never has to
        # upgrade a read lock midway, which is where SQLite gives up with "database is locked".
        with self._transaction("BEGIN IMMEDIATE") as db:
            yield db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN") as db:
            yield db

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._db
            if db is None:
                raise RuntimeError("the broker is closed")
            db.execute(begin)
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.rollback()
                raise

    @staticmethod
    def _enable_wal(db: sqlite3.Connection, busy_timeout: float) -> None:
        # Switching to WAL needs an exclusive lock and SQLite does not wait for it (no busy handler), so two
        # processes opening a new file together retry here. Once set, WAL stays a property of the file.
        deadline = time.monotonic() + busy_timeout
        delay = 0.005
        while db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                db.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)


def _max_delivery_reason(properties: QueueProperties) -> dict[str, str]:
    return {
        "reason": DEAD_LETTER_MAX_DELIVERY,
        "description": f"Message could not be consumed after {properties.max_delivery_count} delivery attempts.",
    }


def _utc(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _received(row: Any) -> ReceivedMessage:
    return ReceivedMessage(
        queue=row["queue"],
        sequence_number=row["sequence_number"],
        message_id=row["message_id"],
        body=row["body"],
        application_properties=json.loads(row["properties"]),
        content_type=row["content_type"],
        subject=row["subject"],
        correlation_id=row["correlation_id"],
        delivery_count=row["delivery_count"],
        enqueued_time=_utc(row["enqueued_at"]),
        scheduled_enqueue_time=_utc(row["scheduled_at"]) if row["scheduled_at"] is not None else None,
        locked_until=_utc(row["locked_until"]) if row["locked_until"] is not None else None,
        lock_token=row["lock_token"],
        dead_letter_reason=row["dead_letter_reason"],
        dead_letter_error_description=row["dead_letter_description"],
        dead_letter_source=row["dead_letter_source"],
    )
