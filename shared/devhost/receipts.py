"""Blob receipts: which blob version each blob-triggered function has handled, tried or given up on.

The Functions host keeps the same bookkeeping as blobs under `azure-webjobs-hosts/blobreceipts/`; here it is a
SQLite table beside the broker, so a restarted host neither re-runs finished blobs nor forgets failed attempts.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

_SCHEMA = """
CREATE TABLE IF NOT EXISTS blob_receipts (
    function TEXT NOT NULL,
    container TEXT NOT NULL,
    name TEXT NOT NULL,
    etag TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    updated_at REAL NOT NULL,
    PRIMARY KEY (function, container, name)
)
"""


class ReceiptStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"  # will be retried
    POISON = "poison"  # gave up after poisonBlobThreshold tries


class Receipt(BaseModel):
    model_config = ConfigDict(frozen=True)

    etag: str
    status: ReceiptStatus
    attempts: int
    last_error: str | None
    updated_at: float


class BlobReceipts:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute(_SCHEMA)

    def get(self, function: str, container: str, name: str) -> Receipt | None:
        with self._lock:
            row = self._db.execute(
                "SELECT etag, status, attempts, last_error, updated_at FROM blob_receipts"
                " WHERE function = ? AND container = ? AND name = ?",
                (function, container, name),
            ).fetchone()
        if row is None:
            return None
        return Receipt(etag=row[0], status=row[1], attempts=row[2], last_error=row[3], updated_at=row[4])

    def record(
        self, function: str, container: str, name: str, etag: str, status: ReceiptStatus, error: str | None = None
    ) -> int:
        """Store the outcome of one try of this blob version; returns the tries so far (a new version starts at 1)."""
        with self._lock:
            row = self._db.execute(
                "SELECT etag, attempts FROM blob_receipts WHERE function = ? AND container = ? AND name = ?",
                (function, container, name),
            ).fetchone()
            attempts = (row[1] if row and row[0] == etag else 0) + 1
            self._db.execute(
                "INSERT OR REPLACE INTO blob_receipts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (function, container, name, etag, str(status), attempts, error, time.time()),
            )
        return attempts

    def set_status(self, function: str, container: str, name: str, status: ReceiptStatus) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE blob_receipts SET status = ?, updated_at = ? WHERE function = ? AND container = ? AND name = ?",
                (str(status), time.time(), function, container, name),
            )

    def names(self, function: str, container: str, before: float) -> set[str]:
        """The blobs of `container` the function has a receipt for (handled, tried or given up on), written before
        `before` (a `time.time()`)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name FROM blob_receipts WHERE function = ? AND container = ? AND updated_at < ?",
                (function, container, before),
            ).fetchall()
        return {row[0] for row in rows}

    def forget(self, function: str, container: str, name: str) -> None:
        """Drop the blob's receipt (it was deleted: an upload under its name again is a new blob)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM blob_receipts WHERE function = ? AND container = ? AND name = ?",
                (function, container, name),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
