"""Job store logic shared by the SQL backends (DESIGN.md §3-4).

The base class holds every query and rule; a backend supplies only a few primitives (connect, open a
transaction, serialise migrations, run a migration script) and a `Dialect` for the little that differs in text.
All SQL here is written once, dialect-neutral, with `:name` placeholders.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from shared.domain import (
    SINK_STAGES,
    BatchExtraction,
    BatchOutcome,
    Counts,
    DocumentState,
    Job,
    JobState,
    ParseIssue,
    Stage,
    StageCounters,
)
from shared.domain.bulk_jobs import (
    BULK_TERMINAL_STATES,
    BulkCounts,
    BulkItem,
    BulkJob,
    BulkOperation,
    BulkState,
    ItemOutcome,
)
from shared.domain.job_queries import JobFilter, JobGroup, JobKey
from shared.domain.jobs import delete_job
from shared.domain.stage_events import StageEvent, in_trace_order
from shared.ports import JobNotFoundError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

_MIGRATION_FILE = re.compile(r"^(\d{4})_(\w+)\.sql$")
# `:name` not preceded by another colon or a word character, so `::casts` and `12:30` are left alone.
_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class MigrationError(RuntimeError):
    """The schema on disk and the migrations in the repo disagree."""


class Cursor(Protocol):
    """The DB-API cursor surface the base needs; sqlite3 and psycopg cursors both fit."""

    @property
    def rowcount(self) -> int: ...

    def execute(self, query: Any, params: Any = ..., /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True)
class Dialect:
    """What differs between backends in SQL text and values; everything else is shared."""

    name: str  # folder under migrations/
    paramstyle: Literal["named", "pyformat"]
    timestamps_as_text: bool  # SQLite has no timestamp type: ISO 8601 UTC text sorts as it compares
    timestamp_type: str

    def render(self, sql: str) -> str:
        """Neutral `:name` placeholders in the backend's style."""
        return _render(sql, self.paramstyle)

    def encode_time(self, value: datetime | None) -> Any:
        """A timezone-aware datetime as the backend stores it (UTC); naive ones are refused."""
        if value is None:
            return None
        utc = _require_aware(value).astimezone(UTC)
        return utc.isoformat(timespec="microseconds") if self.timestamps_as_text else utc

    def decode_time(self, value: Any) -> datetime:
        """A stored timestamp as a timezone-aware UTC datetime."""
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        return parsed.astimezone(UTC)


@lru_cache(maxsize=256)
def _render(sql: str, paramstyle: str) -> str:
    if paramstyle == "named":
        return sql
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def _require_aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamps must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value


class Tx:
    """One open transaction: runs neutral SQL with keyword parameters through the backend's cursor."""

    def __init__(self, cursor: Cursor, dialect: Dialect) -> None:
        self.cursor = cursor
        self._dialect = dialect

    def execute(self, sql: str, **params: Any) -> int:
        """Run a statement; returns the affected row count."""
        self.cursor.execute(self._dialect.render(sql), params)
        return self.cursor.rowcount

    def one(self, sql: str, **params: Any) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        self.cursor.execute(self._dialect.render(sql), params)
        row = self.cursor.fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        self.cursor.execute(self._dialect.render(sql), params)
        return [tuple(row) for row in self.cursor.fetchall()]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """Recorded when applied, so an edited migration is caught instead of silently diverging."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(dialect: str) -> list[Migration]:
    """The dialect's migrations, ordered by version (`NNNN_name.sql`)."""
    found: list[Migration] = []
    for path in sorted((MIGRATIONS_DIR / dialect).glob("*.sql")):
        match = _MIGRATION_FILE.match(path.name)
        if match is None:
            raise MigrationError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {dialect}: {versions}")
    return found


# --- SQL, written once -------------------------------------------------------------------------------------

_JOB_COLUMNS: tuple[str, ...] = (
    "job_id",
    "kind",
    "document_id",
    "path",
    "version",
    "base_version",
    "generation",
    "state",
    "reason_code",
    "last_error",
    "tracking_id",
    "size",
    "batches_expected",
    "extractor",
    "issues",
    "total_chunks",
    "total_entities",
    "total_relations",
    "total_bytes",
    "created_at",
    "updated_at",
)

# One statement reads a job with its stage rows, so even under READ COMMITTED the job's totals and its
# counters come from the same snapshot.
_SELECT_JOBS_WITH_STAGES = (
    f"SELECT {', '.join('j.' + c for c in _JOB_COLUMNS)}, s.stage, s.done, s.dead_lettered"
    " FROM {source} j LEFT JOIN job_stages s ON s.job_id = j.job_id"
)
_NEWEST_FIRST = "created_at DESC, job_id DESC"

_INSERT_JOB = (
    f"INSERT INTO jobs ({', '.join(_JOB_COLUMNS)}) VALUES ({', '.join(':' + c for c in _JOB_COLUMNS)})"
    " ON CONFLICT (job_id) DO NOTHING"
)
_INSERT_DOCUMENT = (
    "INSERT INTO documents (document_id, path) VALUES (:document_id, :path) ON CONFLICT (document_id) DO NOTHING"
)
_INSERT_MARKER = (
    "INSERT INTO batch_markers (job_id, stage, batch, outcome, reason_code, recorded_at, message_id, duration_ms)"
    " VALUES (:job_id, :stage, :batch, :outcome, :reason_code, :now, :message_id, :duration_ms)"
    " ON CONFLICT (job_id, stage, batch) DO NOTHING"
)
_ADD_TO_STAGE = (
    "INSERT INTO job_stages (job_id, stage, done, dead_lettered)"
    " VALUES (:job_id, :stage, :done, :dead_lettered)"
    " ON CONFLICT (job_id, stage) DO UPDATE SET"
    " done = job_stages.done + excluded.done,"
    " dead_lettered = job_stages.dead_lettered + excluded.dead_lettered"
)
_ADD_TO_TOTALS = (
    "UPDATE jobs SET total_chunks = total_chunks + :chunks, total_entities = total_entities + :entities,"
    " total_relations = total_relations + :relations, total_bytes = total_bytes + :bytes, updated_at = :now"
    " WHERE job_id = :job_id"
)
_INSERT_ISSUE = (
    "INSERT INTO job_issues (job_id, locator, reason_code, detail, ordinal, recorded_at)"
    " VALUES (:job_id, :locator, :reason_code, :detail, :ordinal, :now)"
    " ON CONFLICT (job_id, locator, reason_code) DO NOTHING"
)
_ADD_TO_ISSUES = "UPDATE jobs SET issues = issues + :added, updated_at = :now WHERE job_id = :job_id"
# Long locators (deep XML paths) are cut: they are part of a primary key, and PostgreSQL's btree caps entry size.
_MAX_LOCATOR = 500
_MAX_DETAIL = 2000

# The completion rule, from named parts (checked inside the UPDATE so that the check and the state change are
# one atomic step; the state compare-and-set is what makes exactly one caller win).
_IS_PROCESSING = "state = :processing"
_EXPECTED_IS_KNOWN = "batches_expected IS NOT NULL"
_SINK_SETTLED_EVERY_BATCH = (
    "(SELECT COALESCE(SUM(s.done + s.dead_lettered), 0) FROM job_stages s"
    " WHERE s.job_id = jobs.job_id AND s.stage = :{param}) = jobs.batches_expected"
)
_NOTHING_DEAD_LETTERED = (
    "NOT EXISTS (SELECT 1 FROM job_stages s"  # any stage: a dead letter upstream also means an incomplete job
    " WHERE s.job_id = jobs.job_id AND s.dead_lettered > 0)"
)
_SINK_PARAMS = {f"sink_{i}": stage.value for i, stage in enumerate(SINK_STAGES)}
_COMPLETE = " AND ".join(
    [
        _IS_PROCESSING,
        _EXPECTED_IS_KNOWN,
        *(_SINK_SETTLED_EVERY_BATCH.format(param=p) for p in _SINK_PARAMS),
        _NOTHING_DEAD_LETTERED,
    ]
)
# A replay reopens a failed job only once none of its batches is dead-lettered any more, and only when parsing
# finished (a job that failed before its batch count was known could never finish: retry it instead).
_REOPEN_JOB = (
    "UPDATE jobs SET state = :processing, reason_code = NULL, updated_at = :now"
    f" WHERE job_id = :job_id AND state = :failed AND {_EXPECTED_IS_KNOWN} AND {_NOTHING_DEAD_LETTERED}"
)
_FINISH = f"UPDATE jobs SET state = :succeeded, updated_at = :now WHERE job_id = :job_id AND {_COMPLETE}"
# The new version is committed only over the version the job was built against, and only in the generation the
# job was created in (a delete since then opened another); a job that lost either race still succeeds, but leaves
# the document alone.
_COMMIT_DOCUMENT = (
    "UPDATE documents SET committed_version = :version, committed_at = :now, job_id = :job_id"
    " WHERE document_id = :document_id AND committed_version IS NOT DISTINCT FROM :base_version"
    " AND generation = :generation"
)
_SELECT_DOCUMENT = (
    "SELECT document_id, path, committed_version, generation FROM documents WHERE document_id = :document_id"
)
# Compare-and-set on the generation read in the same transaction: of two concurrent deletes, each opens its own.
_DELETE_DOCUMENT = (
    "UPDATE documents SET committed_version = NULL, committed_at = NULL, job_id = NULL, generation = generation + 1"
    " WHERE document_id = :document_id AND generation = :generation"
)


# --- the store ---------------------------------------------------------------------------------------------


class SQLJobStore(ABC):
    """The `JobStore` port over a SQL database; subclasses supply the connection primitives."""

    dialect: Dialect

    def __init__(self) -> None:
        self._local = threading.local()
        self._connections: list[Any] = []
        self._connections_lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False

    # -- primitives a backend supplies

    @abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection, ready for `_transaction`."""

    @abstractmethod
    def _transaction(self, connection: Any, *, write: bool) -> AbstractContextManager[Cursor]:
        """A transaction on `connection`: commit on success, roll back on error.

        Write transactions must take their write lock up front so that concurrent writers queue instead of
        failing half-way.
        """

    @abstractmethod
    def _lock_migrations(self, tx: Tx) -> None:
        """Serialise `migrate()` across processes for the rest of the transaction."""

    @abstractmethod
    def _run_script(self, tx: Tx, script: str) -> None:
        """Run a migration file (several statements) inside the open transaction."""

    def _is_usable(self, connection: Any) -> bool:
        """Whether a cached connection can still be used; backends that notice broken links override it."""
        return True

    # -- connections

    def _connection(self) -> Any:
        if self._closed:
            raise RuntimeError("the job store is closed")
        if os.getpid() != self._pid:
            # A forked child must not share its parent's sockets or file locks: start afresh.
            self._local = threading.local()
            self._connections = []
            self._pid = os.getpid()
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._is_usable(connection):
            return connection
        connection = self._connect()
        with self._connections_lock:
            self._connections.append(connection)
        self._local.connection = connection
        return connection

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Tx]:
        with self._transaction(self._connection(), write=write) as cursor:
            yield Tx(cursor, self.dialect)

    def close(self) -> None:
        """Close every connection this store opened; calling it again does nothing."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
            self._closed = True
        for connection in connections:
            # Best effort: one broken link must not keep the others open.
            with suppress(Exception):
                connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- schema

    def migrate(self) -> None:
        """Apply the migrations not yet recorded in `schema_migrations`, in order, in one transaction."""
        migrations = load_migrations(self.dialect.name)
        with self._tx(write=True) as tx:
            self._lock_migrations(tx)
            tx.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY,"
                f" name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at {self.dialect.timestamp_type} NOT NULL)"
            )
            applied = dict(tx.all("SELECT version, checksum FROM schema_migrations"))
            for migration in migrations:
                if migration.version in applied:
                    if applied[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version:04d}_{migration.name} changed after it was"
                            " applied; add a new migration instead"
                        )
                    continue
                self._run_script(tx, migration.sql)
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at)"
                    " VALUES (:version, :name, :checksum, :now)",
                    version=migration.version,
                    name=migration.name,
                    checksum=migration.checksum,
                    now=self._now(),
                )

    # -- jobs

    def create_job(self, job: Job) -> tuple[Job, bool]:
        """Insert if absent. Returns the stored job and whether this call created it."""
        with self._tx(write=True) as tx:
            created = tx.execute(_INSERT_JOB, **self._job_params(job)) == 1
            if created:
                for stage, counters in job.stages.items():
                    tx.execute(
                        _ADD_TO_STAGE,
                        job_id=job.job_id,
                        stage=Stage(stage).value,
                        done=counters.done,
                        dead_lettered=counters.dead_lettered,
                    )
                tx.execute(_INSERT_DOCUMENT, document_id=job.document_id, path=job.path)
            stored = self._read_job(tx, job.job_id)
        if stored is None:  # only if someone deleted it in between: nothing sensible to return
            raise JobNotFoundError(job.job_id)
        return stored, created

    def get_job(self, job_id: str) -> Job | None:
        """The job with its stage counters and totals, or None."""
        with self._tx(write=False) as tx:
            return self._read_job(tx, job_id)

    def list_jobs(self, state: JobState | None = None, limit: int = 100) -> list[Job]:
        """Newest first (by created_at, then job_id)."""
        if limit <= 0:
            return []
        where = "" if state is None else " WHERE state = :state"
        source = f"(SELECT * FROM jobs{where} ORDER BY {_NEWEST_FIRST} LIMIT :limit)"
        order = " ORDER BY j.created_at DESC, j.job_id DESC, s.stage"
        query = _SELECT_JOBS_WITH_STAGES.format(source=source) + order
        params: dict[str, Any] = {"limit": limit}
        if state is not None:
            params["state"] = JobState(state).value
        with self._tx(write=False) as tx:
            return self._jobs_from_rows(tx.all(query, **params))

    def transition(
        self,
        job_id: str,
        to: JobState,
        *,
        allowed_from: Collection[JobState],
        reason_code: str | None = None,
        last_error: str | None = None,
    ) -> bool:
        """Compare-and-set the state; False when the job was not in one of `allowed_from` (or is unknown).

        A reason code or last error given is stored; one not given keeps the stored value.
        """
        sources = sorted({JobState(s).value for s in allowed_from})
        if not sources:
            return False
        source_params = {f"from_{i}": value for i, value in enumerate(sources)}
        query = (
            "UPDATE jobs SET state = :to, reason_code = COALESCE(:reason_code, reason_code),"
            " last_error = COALESCE(:last_error, last_error), updated_at = :now"
            f" WHERE job_id = :job_id AND state IN ({', '.join(':' + p for p in source_params)})"
        )
        with self._tx(write=True) as tx:
            changed = tx.execute(
                query,
                to=JobState(to).value,
                reason_code=reason_code,
                last_error=last_error,
                now=self._now(),
                job_id=job_id,
                **source_params,
            )
        return changed == 1

    def set_batches_expected(self, job_id: str, batches: int) -> None:
        """Record how many batches parsing produced; raises JobNotFoundError for an unknown job."""
        if batches < 0:
            raise ValueError(f"batches must be >= 0, got {batches}")
        self._set_column(job_id, "batches_expected", batches)

    def set_extractor(self, job_id: str, extractor: str) -> None:
        """Record which extractor ran; raises JobNotFoundError for an unknown job."""
        self._set_column(job_id, "extractor", extractor)

    def record_batch(
        self,
        job_id: str,
        stage: Stage,
        batch: int,
        outcome: BatchOutcome,
        counts: Counts | None = None,
        reason_code: str | None = None,
        *,
        message_id: str | None = None,
        duration_ms: float | None = None,
    ) -> bool:
        """Insert the (job, stage, batch) marker if absent; only a new marker moves counters and totals.

        Returns whether the marker was new. Raises JobNotFoundError for an unknown job.
        """
        outcome = BatchOutcome(outcome)
        counts = counts or Counts()
        stage_value = Stage(stage).value
        now = self._now()
        with self._tx(write=True) as tx:
            if tx.one("SELECT 1 FROM jobs WHERE job_id = :job_id", job_id=job_id) is None:
                raise JobNotFoundError(job_id)
            new = (
                tx.execute(
                    _INSERT_MARKER,
                    job_id=job_id,
                    stage=stage_value,
                    batch=batch,
                    outcome=outcome.value,
                    reason_code=reason_code,
                    now=now,
                    message_id=message_id,
                    duration_ms=duration_ms,
                )
                == 1
            )
            if not new:
                return False
            # Lock order everywhere: marker, then stage row, then job row (no deadlocks between writers).
            tx.execute(
                _ADD_TO_STAGE,
                job_id=job_id,
                stage=stage_value,
                done=int(outcome is BatchOutcome.DONE),
                dead_lettered=int(outcome is BatchOutcome.DEAD_LETTERED),
            )
            tx.execute(_ADD_TO_TOTALS, job_id=job_id, now=now, **counts.model_dump())
        return True

    def finish_if_complete(self, job_id: str) -> Job | None:
        """Mark a processing job succeeded once both sinks settled every expected batch and none dead-lettered.

        In the same transaction the document's committed version becomes the job's version, if the committed
        version is still the job's base version. Returns the job when this call finished it, else None.
        """
        now = self._now()
        with self._tx(write=True) as tx:
            won = (
                tx.execute(
                    _FINISH,
                    job_id=job_id,
                    now=now,
                    processing=JobState.PROCESSING.value,
                    succeeded=JobState.SUCCEEDED.value,
                    **_SINK_PARAMS,
                )
                == 1
            )
            if not won:
                return None
            job = self._read_job(tx, job_id)
            assert job is not None  # we just updated it inside this transaction
            # A job from before the documents row existed still gets one to commit into.
            tx.execute(_INSERT_DOCUMENT, document_id=job.document_id, path=job.path)
            tx.execute(
                _COMMIT_DOCUMENT,
                version=job.version,
                now=now,
                job_id=job.job_id,
                document_id=job.document_id,
                base_version=job.base_version,
                generation=job.generation,
            )
        return job

    def committed_version(self, document_id: str) -> str | None:
        """The version last committed for the document, or None."""
        with self._tx(write=False) as tx:
            row = tx.one(
                "SELECT committed_version FROM documents WHERE document_id = :document_id",
                document_id=document_id,
            )
        return None if row is None else row[0]

    def document_state(self, document_id: str) -> DocumentState | None:
        """The document's committed version and generation; None for a document no job ever named."""
        with self._tx(write=False) as tx:
            return _document_state(tx.one(_SELECT_DOCUMENT, document_id=document_id))

    def begin_delete(self, document_id: str, tracking_id: str) -> Job | None:
        """Forget the committed version, open the next generation and create the delete job, in one transaction;
        None for an unknown document."""
        while True:
            with self._tx(write=True) as tx:
                document = _document_state(tx.one(_SELECT_DOCUMENT, document_id=document_id))
                if document is None:
                    return None
                if tx.execute(_DELETE_DOCUMENT, document_id=document_id, generation=document.generation) != 1:
                    continue  # another delete opened a generation in between (READ COMMITTED): read it again
                job = delete_job(document, tracking_id, datetime.now(UTC))
                tx.execute(_INSERT_JOB, **self._job_params(job))
                stored = self._read_job(tx, job.job_id)
            assert stored is not None  # inserted in this transaction (or found: the generation is unique)
            return stored

    # -- issues

    def record_issues(self, job_id: str, issues: Sequence[ParseIssue]) -> int:
        """Insert each issue if absent (job, locator, reason code) and add the number inserted to `jobs.issues`,
        in one transaction; returns that number. Raises JobNotFoundError for an unknown job."""
        now = self._now()
        with self._tx(write=True) as tx:
            row = tx.one("SELECT issues FROM jobs WHERE job_id = :job_id", job_id=job_id)
            if row is None:
                raise JobNotFoundError(job_id)
            # Ordinals keep the order of the call (for list_issues); rows are inserted in key order, so concurrent
            # writers of overlapping issues take their row locks in one order and never deadlock.
            keyed: dict[tuple[str, str], tuple[int, str]] = {}
            for issue in issues:
                key = (issue.locator[:_MAX_LOCATOR], issue.reason_code)
                keyed.setdefault(key, (row[0] + len(keyed), issue.detail[:_MAX_DETAIL]))
            added = 0
            for (locator, reason_code), (ordinal, detail) in sorted(keyed.items()):
                added += tx.execute(
                    _INSERT_ISSUE,
                    job_id=job_id,
                    locator=locator,
                    reason_code=reason_code,
                    detail=detail,
                    ordinal=ordinal,
                    now=now,
                )
            if added:
                tx.execute(_ADD_TO_ISSUES, added=added, now=now, job_id=job_id)
        return added

    def list_issues(self, job_id: str, limit: int = 100) -> list[ParseIssue]:
        """The job's issues in the order they were first recorded."""
        if limit <= 0:
            return []
        with self._tx(write=False) as tx:
            rows = tx.all(
                "SELECT locator, reason_code, detail FROM job_issues WHERE job_id = :job_id"
                " ORDER BY ordinal, locator, reason_code LIMIT :limit",
                job_id=job_id,
                limit=limit,
            )
        return [ParseIssue(locator=locator, reason_code=code, detail=detail) for locator, code, detail in rows]

    # -- bulk jobs

    def create_bulk_job(self, bulk: BulkJob) -> tuple[BulkJob, bool]:
        """Insert if absent. Returns the stored bulk job and whether this call created it."""
        with self._tx(write=True) as tx:
            created = (
                tx.execute(
                    _INSERT_BULK,
                    bulk_id=bulk.bulk_id,
                    operation=bulk.operation.value,
                    container=bulk.container,
                    selector=bulk.selector,
                    dry_run=int(bulk.dry_run),
                    state=bulk.state.value,
                    reason_code=bulk.reason_code,
                    created_at=self.dialect.encode_time(bulk.created_at),
                    updated_at=self._now(),
                )
                == 1
            )
            stored = self._read_bulk(tx, bulk.bulk_id)
        if stored is None:  # only if someone deleted it in between
            raise JobNotFoundError(bulk.bulk_id)
        return stored, created

    def get_bulk_job(self, bulk_id: str) -> BulkJob | None:
        """The bulk job with its counts as recorded, or None."""
        with self._tx(write=False) as tx:
            return self._read_bulk(tx, bulk_id)

    def list_bulk_jobs(self, limit: int = 20) -> list[BulkJob]:
        """Newest first (by created_at, then bulk_id)."""
        if limit <= 0:
            return []
        with self._tx(write=False) as tx:
            ids = tx.all(
                "SELECT bulk_id FROM bulk_jobs ORDER BY created_at DESC, bulk_id DESC LIMIT :limit", limit=limit
            )
            found = [self._read_bulk(tx, bulk_id) for (bulk_id,) in ids]
        return [bulk for bulk in found if bulk is not None]

    def record_bulk_page(self, bulk_id: str, page: int, listed: int, listed_bytes: int) -> bool:
        """Insert the page marker if absent; whether it was new. Raises JobNotFoundError for an unknown bulk job."""
        if page < 0 or listed < 0 or listed_bytes < 0:
            raise ValueError(f"page, listed and listed_bytes must be >= 0, got {page}, {listed}, {listed_bytes}")
        with self._tx(write=True) as tx:
            self._require_bulk(tx, bulk_id)
            return (
                tx.execute(
                    _INSERT_BULK_PAGE,
                    bulk_id=bulk_id,
                    page=page,
                    listed=listed,
                    listed_bytes=listed_bytes,
                    now=self._now(),
                )
                == 1
            )

    def record_bulk_item(self, bulk_id: str, item: BulkItem) -> bool:
        """Insert the item if absent (the first outcome stands); whether it was new. Raises JobNotFoundError for an
        unknown bulk job."""
        with self._tx(write=True) as tx:
            self._require_bulk(tx, bulk_id)
            return (
                tx.execute(
                    _INSERT_BULK_ITEM,
                    bulk_id=bulk_id,
                    path=item.path,
                    outcome=item.outcome.value,
                    job_id=item.job_id,
                    reason_code=item.reason_code,
                    now=self._now(),
                )
                == 1
            )

    def list_bulk_items(self, bulk_id: str, after: str | None = None, limit: int = 100) -> list[BulkItem]:
        """Items in path order, after the path `after` (keyset pagination)."""
        if limit <= 0:
            return []
        where = "bulk_id = :bulk_id" + ("" if after is None else " AND path > :after")
        with self._tx(write=False) as tx:
            rows = tx.all(
                f"SELECT path, outcome, job_id, reason_code FROM bulk_items WHERE {where} ORDER BY path LIMIT :limit",
                bulk_id=bulk_id,
                after=after,
                limit=limit,
            )
        return [
            BulkItem(path=path, outcome=ItemOutcome(outcome), job_id=job_id, reason_code=code)
            for path, outcome, job_id, code in rows
        ]

    def finish_bulk_job(self, bulk_id: str, to: BulkState, reason_code: str | None = None) -> bool:
        """Compare-and-set a running bulk job to a terminal state; False when it was not running (or is unknown)."""
        if BulkState(to) not in BULK_TERMINAL_STATES:
            raise ValueError(f"a bulk job finishes in a terminal state, not {to}")
        with self._tx(write=True) as tx:
            changed = tx.execute(
                "UPDATE bulk_jobs SET state = :to, reason_code = COALESCE(:reason_code, reason_code), updated_at = :now"
                " WHERE bulk_id = :bulk_id AND state = :running",
                to=BulkState(to).value,
                reason_code=reason_code,
                now=self._now(),
                bulk_id=bulk_id,
                running=BulkState.RUNNING.value,
            )
        return changed == 1

    def _require_bulk(self, tx: Tx, bulk_id: str) -> None:
        if tx.one("SELECT 1 FROM bulk_jobs WHERE bulk_id = :bulk_id", bulk_id=bulk_id) is None:
            raise JobNotFoundError(bulk_id)

    def _read_bulk(self, tx: Tx, bulk_id: str) -> BulkJob | None:
        # Counted in the same transaction as the row is read: one snapshot, however many items arrive meanwhile.
        row = tx.one(f"SELECT {', '.join(_BULK_COLUMNS)} FROM bulk_jobs WHERE bulk_id = :bulk_id", bulk_id=bulk_id)
        if row is None:
            return None
        fields = dict(zip(_BULK_COLUMNS, row, strict=True))
        pages = tx.one(_COUNT_BULK_PAGES, bulk_id=bulk_id) or (0, 0, 0)
        outcomes = dict(tx.all(_COUNT_BULK_ITEMS, bulk_id=bulk_id))
        counts = BulkCounts(
            pages=pages[0],
            listed=int(pages[1]),  # SUM of integers is NUMERIC in PostgreSQL
            listed_bytes=int(pages[2]),
            **{outcome.value: outcomes.get(outcome.value, 0) for outcome in ItemOutcome},
        )
        return BulkJob(
            bulk_id=fields["bulk_id"],
            operation=BulkOperation(fields["operation"]),
            container=fields["container"],
            selector=fields["selector"],
            dry_run=bool(fields["dry_run"]),
            state=BulkState(fields["state"]),
            reason_code=fields["reason_code"],
            counts=counts,
            created_at=self.dialect.decode_time(fields["created_at"]),
            updated_at=self.dialect.decode_time(fields["updated_at"]),
        )

    # -- helpers

    def _now(self) -> Any:
        return self.dialect.encode_time(datetime.now(UTC))

    def _set_column(self, job_id: str, column: str, value: Any) -> None:
        # `column` is one of our own literals, never user input.
        with self._tx(write=True) as tx:
            changed = tx.execute(
                f"UPDATE jobs SET {column} = :value, updated_at = :now WHERE job_id = :job_id",
                value=value,
                now=self._now(),
                job_id=job_id,
            )
        if changed != 1:
            raise JobNotFoundError(job_id)

    def _job_params(self, job: Job) -> dict[str, Any]:
        return {
            "job_id": job.job_id,
            "kind": job.kind.value,
            "document_id": job.document_id,
            "path": job.path,
            "version": job.version,
            "base_version": job.base_version,
            "generation": job.generation,
            "state": JobState(job.state).value,
            "reason_code": job.reason_code,
            "last_error": job.last_error,
            "tracking_id": job.tracking_id,
            "size": job.size,
            "batches_expected": job.batches_expected,
            "extractor": job.extractor,
            "issues": job.issues,
            "total_chunks": job.totals.chunks,
            "total_entities": job.totals.entities,
            "total_relations": job.totals.relations,
            "total_bytes": job.totals.bytes,
            "created_at": self.dialect.encode_time(job.created_at),
            # The store owns updated_at: it is the time of the last change it made.
            "updated_at": self._now(),
        }

    def _read_job(self, tx: Tx, job_id: str) -> Job | None:
        query = _SELECT_JOBS_WITH_STAGES.format(source="jobs") + " WHERE j.job_id = :job_id"
        jobs = self._jobs_from_rows(tx.all(query, job_id=job_id))
        return jobs[0] if jobs else None

    def _jobs_from_rows(self, rows: list[tuple[Any, ...]]) -> list[Job]:
        """Fold joined (job, stage) rows into jobs, keeping the rows' order."""
        width = len(_JOB_COLUMNS)
        fields_by_id: dict[str, dict[str, Any]] = {}
        stages_by_id: dict[str, dict[Stage, StageCounters]] = {}
        for row in rows:
            fields = dict(zip(_JOB_COLUMNS, row[:width], strict=True))
            job_id = fields["job_id"]
            if job_id not in fields_by_id:
                fields_by_id[job_id] = fields
                stages_by_id[job_id] = {}
            stage, done, dead_lettered = row[width:]
            if stage is not None:
                stages_by_id[job_id][Stage(stage)] = StageCounters(done=done, dead_lettered=dead_lettered)
        return [self._job_from_fields(f, stages_by_id[job_id]) for job_id, f in fields_by_id.items()]

    def _job_from_fields(self, fields: dict[str, Any], stages: dict[Stage, StageCounters]) -> Job:
        totals = Counts(
            chunks=fields.pop("total_chunks"),
            entities=fields.pop("total_entities"),
            relations=fields.pop("total_relations"),
            bytes=fields.pop("total_bytes"),
        )
        fields["created_at"] = self.dialect.decode_time(fields["created_at"])
        fields["updated_at"] = self.dialect.decode_time(fields["updated_at"])
        return Job(**fields, stages=stages, totals=totals)

    # -- token budget and extraction records (the LLM extractor)

    def reserve_tokens(self, key: str, tokens: int, limit: int, expires_at: datetime | None = None) -> bool:
        """Add `tokens` to the counter if it stays within `limit`: one conditional UPDATE, so of concurrent
        reservations only those that fit succeed (PostgreSQL re-checks the condition on the row it waited for)."""
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, got {tokens}")
        if tokens > limit:
            return False
        with self._tx(write=True) as tx:
            self._ensure_counter(tx, key, expires_at)
            return tx.execute(_RESERVE_TOKENS, key=key, tokens=tokens, limit=limit) == 1

    def adjust_tokens(self, key: str, delta: int, expires_at: datetime | None = None) -> None:
        """Add `delta` to the counter whatever the limit (a reservation reconciled or given back)."""
        with self._tx(write=True) as tx:
            self._ensure_counter(tx, key, expires_at)
            tx.execute(_ADJUST_TOKENS, key=key, delta=delta)

    def tokens_used(self, key: str) -> int:
        """The counter (0 when absent or expired)."""
        with self._tx(write=False) as tx:
            row = tx.one(_SELECT_TOKENS, key=key, now=self._now())
        return 0 if row is None else int(row[0])

    def record_extraction(self, job_id: str, record: BatchExtraction) -> bool:
        """Insert the batch's extraction record if absent; raises JobNotFoundError for an unknown job."""
        with self._tx(write=True) as tx:
            if tx.one("SELECT 1 FROM jobs WHERE job_id = :job_id", job_id=job_id) is None:
                raise JobNotFoundError(job_id)
            return tx.execute(_INSERT_EXTRACTION, job_id=job_id, now=self._now(), **record.model_dump()) == 1

    def list_extractions(self, job_id: str) -> list[BatchExtraction]:
        """The job's extraction records, by batch."""
        with self._tx(write=False) as tx:
            rows = tx.all(
                f"SELECT {', '.join(_EXTRACTION_FIELDS)} FROM extraction_batches WHERE job_id = :job_id ORDER BY batch",
                job_id=job_id,
            )
        return [BatchExtraction(**dict(zip(_EXTRACTION_FIELDS, row, strict=True))) for row in rows]

    def _ensure_counter(self, tx: Tx, key: str, expires_at: datetime | None) -> None:
        """Create the counter if absent; a new one is the moment to drop counters whose window has passed."""
        now = self._now()
        if tx.execute(_INSERT_COUNTER, key=key, expires_at=self.dialect.encode_time(expires_at)) == 1:
            tx.execute("DELETE FROM token_counters WHERE expires_at < :now", now=now)

    # -- the operations API (listing by filter a page at a time, counting by group)

    def list_jobs_page(self, where: JobFilter, limit: int, after: JobKey | None = None) -> list[Job]:
        """At most `limit` jobs matching `where`, newest first, strictly after `after` (keyset pagination)."""
        if limit <= 0:
            return []
        conditions, params = self._filter_sql(where)
        if after is not None:
            # Row-value comparison spelt out: both dialects then use the (created_at, job_id) index.
            conditions.append("(created_at < :after_created OR (created_at = :after_created AND job_id < :after_job))")
            params |= {"after_created": self.dialect.encode_time(after.created_at), "after_job": after.job_id}
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        source = f"(SELECT * FROM jobs{clause} ORDER BY {_NEWEST_FIRST} LIMIT :limit)"
        query = _SELECT_JOBS_WITH_STAGES.format(source=source) + " ORDER BY j.created_at DESC, j.job_id DESC, s.stage"
        with self._tx(write=False) as tx:
            return self._jobs_from_rows(tx.all(query, limit=limit, **params))

    def job_groups(self, since: datetime | None = None) -> list[JobGroup]:
        """Jobs created at or after `since` (all when None), counted by kind, state, reason code and format."""
        clause = "" if since is None else " WHERE created_at >= :since"
        query = (
            "SELECT kind, state, reason_code, file_format(path), COUNT(*), COALESCE(SUM(size), 0),"
            " COALESCE(SUM(total_chunks), 0), COALESCE(SUM(total_entities), 0)"
            f" FROM jobs{clause} GROUP BY kind, state, reason_code, file_format(path)"
        )
        with self._tx(write=False) as tx:
            rows = tx.all(query, since=self.dialect.encode_time(since))
        return [
            JobGroup(
                kind=kind,
                state=state,
                reason_code=reason,
                format=fmt or "",
                jobs=jobs,
                bytes=size,
                chunks=chunks,
                entities=entities,
            )
            for kind, state, reason, fmt, jobs, size, chunks, entities in rows
        ]

    def _filter_sql(self, where: JobFilter) -> tuple[list[str], dict[str, Any]]:
        conditions: list[str] = []
        params: dict[str, Any] = {}
        if where.state is not None:
            conditions.append("state = :state")
            params["state"] = JobState(where.state).value
        if where.since is not None:
            conditions.append("created_at >= :since")
            params["since"] = self.dialect.encode_time(where.since)
        if where.prefix:
            # Not LIKE: SQLite's is case-insensitive and both treat % and _ as wildcards. A prefix compared as the
            # path's first characters means the same in both dialects.
            conditions.append("substr(path, 1, :prefix_length) = :prefix")
            params |= {"prefix": where.prefix, "prefix_length": len(where.prefix)}
        if where.reason is not None:
            conditions.append("reason_code = :reason")
            params["reason"] = where.reason
        return conditions, params

    # -- the trace API (GET /api/trace/{tracking_id})

    def stage_events(self, job_id: str) -> list[StageEvent]:
        """The job's batch markers as stage events, in trace order (none for an unknown job)."""
        with self._tx(write=False) as tx:
            rows = tx.all(_SELECT_EVENTS, job_id=job_id)
        return in_trace_order(
            StageEvent(
                stage=Stage(stage),
                batch=batch,
                outcome=BatchOutcome(outcome),
                reason_code=reason_code,
                message_id=message_id,
                recorded_at=self.dialect.decode_time(recorded_at),
                duration_ms=duration_ms,
            )
            for stage, batch, outcome, reason_code, message_id, recorded_at, duration_ms in rows
        )

    def jobs_by_tracking_id(self, tracking_id: str, limit: int = 100) -> list[Job]:
        """At most `limit` jobs of this tracking id, newest first (by created_at, then job_id)."""
        if limit <= 0:
            return []
        source = f"(SELECT * FROM jobs WHERE tracking_id = :tracking_id ORDER BY {_NEWEST_FIRST} LIMIT :limit)"
        query = _SELECT_JOBS_WITH_STAGES.format(source=source) + " ORDER BY j.created_at DESC, j.job_id DESC, s.stage"
        with self._tx(write=False) as tx:
            return self._jobs_from_rows(tx.all(query, tracking_id=tracking_id, limit=limit))

    # -- dead-letter replay (shared/pipeline/deadletters.py)

    def reopen_batch(self, job_id: str, stage: Stage, batch: int) -> bool:
        """Remove the batch's DEAD_LETTERED marker and its count; a FAILED job with none left goes back to
        PROCESSING (reason code cleared, last error kept). Whether a marker was removed."""
        stage_value = Stage(stage).value
        with self._tx(write=True) as tx:
            # Lock order as in record_batch: marker, then stage row, then job row.
            removed = tx.execute(
                "DELETE FROM batch_markers WHERE job_id = :job_id AND stage = :stage AND batch = :batch"
                " AND outcome = :dead_lettered",
                job_id=job_id,
                stage=stage_value,
                batch=batch,
                dead_lettered=BatchOutcome.DEAD_LETTERED.value,
            )
            if removed != 1:
                return False
            tx.execute(
                "UPDATE job_stages SET dead_lettered = dead_lettered - 1"
                " WHERE job_id = :job_id AND stage = :stage AND dead_lettered > 0",
                job_id=job_id,
                stage=stage_value,
            )
            tx.execute(
                _REOPEN_JOB,
                job_id=job_id,
                now=self._now(),
                failed=JobState.FAILED.value,
                processing=JobState.PROCESSING.value,
            )
        return True


_SELECT_EVENTS = (
    "SELECT stage, batch, outcome, reason_code, message_id, recorded_at, duration_ms FROM batch_markers"
    " WHERE job_id = :job_id"
)


def _document_state(row: tuple[Any, ...] | None) -> DocumentState | None:
    if row is None:
        return None
    document_id, path, committed_version, generation = row
    return DocumentState(document_id=document_id, path=path, committed_version=committed_version, generation=generation)


# --- bulk jobs -----------------------------------------------------------------------------------------------

_BULK_COLUMNS: tuple[str, ...] = (
    "bulk_id",
    "operation",
    "container",
    "selector",
    "dry_run",
    "state",
    "reason_code",
    "created_at",
    "updated_at",
)
_INSERT_BULK = (
    f"INSERT INTO bulk_jobs ({', '.join(_BULK_COLUMNS)}) VALUES ({', '.join(':' + c for c in _BULK_COLUMNS)})"
    " ON CONFLICT (bulk_id) DO NOTHING"
)
_INSERT_BULK_PAGE = (
    "INSERT INTO bulk_pages (bulk_id, page, listed, listed_bytes, recorded_at)"
    " VALUES (:bulk_id, :page, :listed, :listed_bytes, :now) ON CONFLICT (bulk_id, page) DO NOTHING"
)
_INSERT_BULK_ITEM = (
    "INSERT INTO bulk_items (bulk_id, path, outcome, job_id, reason_code, recorded_at)"
    " VALUES (:bulk_id, :path, :outcome, :job_id, :reason_code, :now) ON CONFLICT (bulk_id, path) DO NOTHING"
)
_COUNT_BULK_PAGES = (
    "SELECT COUNT(*), COALESCE(SUM(listed), 0), COALESCE(SUM(listed_bytes), 0) FROM bulk_pages WHERE bulk_id = :bulk_id"
)
_COUNT_BULK_ITEMS = "SELECT outcome, COUNT(*) FROM bulk_items WHERE bulk_id = :bulk_id GROUP BY outcome"
_INSERT_COUNTER = (
    "INSERT INTO token_counters (key, used, expires_at) VALUES (:key, 0, :expires_at) ON CONFLICT (key) DO NOTHING"
)
_RESERVE_TOKENS = "UPDATE token_counters SET used = used + :tokens WHERE key = :key AND used + :tokens <= :limit"
_ADJUST_TOKENS = "UPDATE token_counters SET used = used + :delta WHERE key = :key"
_SELECT_TOKENS = "SELECT used FROM token_counters WHERE key = :key AND (expires_at IS NULL OR expires_at >= :now)"
_EXTRACTION_FIELDS: tuple[str, ...] = tuple(BatchExtraction.model_fields)
_INSERT_EXTRACTION = (
    f"INSERT INTO extraction_batches (job_id, {', '.join(_EXTRACTION_FIELDS)}, recorded_at)"
    f" VALUES (:job_id, {', '.join(':' + name for name in _EXTRACTION_FIELDS)}, :now)"
    " ON CONFLICT (job_id, batch) DO NOTHING"
)
