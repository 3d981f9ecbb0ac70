"""The Cosmos DB job store (azure-cosmos, SQL API): the serverless production store next to PostgreSQL.

Containers and partition keys follow the access pattern:

- `jobs`, partitioned by `/job_id`. Every write addresses one job, so each job is a partition of its own. It holds
  the job document and the job's parse issues. The job document carries its counters, its totals and its batch
  markers (`markers`, one short entry per (stage, batch)); the issues' keys and order (`issue_keys`) are on it too,
  their text in separate items of the same partition (an issue's detail can run to 2 KB).
  Listing jobs by state and time is the one cross-partition query (ORDER BY created_at, job_id over a composite
  index); it is rare (the API and the CLI) next to the per-batch writes.
- `documents`, partitioned by `/document_id`: the committed version and generation of each document, created with
  the document's first job and moved by ETag compare-and-set (a commit, a delete).

Why the markers live on the job document rather than as items beside it: "insert the marker if absent and move the
counters only then" must be one atomic step. On a single document it is one conditional patch (`filter_predicate`
"the marker is not defined yet" + `incr` of the counters, 412 when the marker exists): one round trip, no read, no
retry loop however many sink workers report at once. The alternative, a transactional batch of (create marker item,
patch job), is atomic on Azure, but the stand-in the tests run (`@vercel/cosmosdb-server`) neither rolls a batch
back nor accepts patch or ETag-checked replace in one, so it could not be tested here. The price is size: a marker
is ~45 bytes with the time and duration the trace API reads (`_marker_value`), five per batch of a file, so a job
stays below Cosmos DB's 2 MB item limit up to about 9,000 batches (a job whose document would outgrow it fails with
`jobstore.job_too_large`). Issues are capped per file (`max_issues_per_file`).

Writes that need the whole document (finish, issues) are ETag compare-and-set loops (`IfNotModified`, retried on
412); inserts-if-absent are creates (409 when present). The completion rule is checked in Python on the document
read for the compare-and-set, so the check and the state change are still one atomic step. A finished job commits
its version into `documents` right after winning (two partitions: no transaction spans them); the job document
keeps `commit_pending` until that is done, and any later `finish_if_complete` of the job completes a commit a crash
interrupted (the commit is idempotent).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, cast
from urllib.parse import urlsplit

from azure.core import MatchConditions
from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import CosmosClient, PartitionKey
from azure.cosmos.exceptions import CosmosHttpResponseError

from shared.connections import close_credential, connection_section, connection_string_parts, token_credential
from shared.domain import (
    SINK_STAGES,
    BatchExtraction,
    BatchOutcome,
    Counts,
    DocumentState,
    Job,
    JobKind,
    JobState,
    ParseIssue,
    PermanentError,
    Stage,
    StageCounters,
    TransientError,
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
from shared.domain.ids import message_id as deterministic_message_id
from shared.domain.job_queries import JobFilter, JobGroup, JobKey, file_format
from shared.domain.jobs import delete_job
from shared.domain.reasons import Reason
from shared.domain.stage_events import StageEvent, in_trace_order
from shared.ports import JobNotFoundError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.cosmos import ContainerProxy, DatabaseProxy

JOBS_CONTAINER = "jobs"
DOCUMENTS_CONTAINER = "documents"

# list_jobs sorts on two properties across partitions: Cosmos DB serves that only from a composite index. The
# markers and issue keys are never queried: keeping them out of the index keeps writes cheap.
_JOBS_INDEXING = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": "/markers/*"}, {"path": "/issue_keys/*"}, {"path": '/"_etag"/?'}],
    "compositeIndexes": [
        [{"path": "/created_at", "order": "descending"}, {"path": "/job_id", "order": "descending"}],
        # GET /api/jobs filtered by state or reason: the equality first, then the order (Cosmos DB's rule for a
        # filter with an ORDER BY). Applied when the container is created; an existing one keeps its policy.
        [
            {"path": "/state", "order": "ascending"},
            {"path": "/created_at", "order": "descending"},
            {"path": "/job_id", "order": "descending"},
        ],
        [
            {"path": "/reason_code", "order": "ascending"},
            {"path": "/created_at", "order": "descending"},
            {"path": "/job_id", "order": "descending"},
        ],
        # GET /api/trace/{tracking_id}: the jobs of a tracking id, newest first.
        [
            {"path": "/tracking_id", "order": "ascending"},
            {"path": "/created_at", "order": "descending"},
            {"path": "/job_id", "order": "descending"},
        ],
    ],
}
# The LLM extractor's token counters, one item per budget window (a deployment's minute, a job), partitioned by
# their key; time to live is on (-1: only items that carry a `ttl` expire), so a past minute goes by itself.
BUDGETS_CONTAINER = "budgets"
_CONTAINERS: dict[str, str] = {
    JOBS_CONTAINER: "/job_id",
    DOCUMENTS_CONTAINER: "/document_id",
    BUDGETS_CONTAINER: "/key",
}

_MAX_LOCATOR = 500  # the SQL stores' limits, so every store keeps the same text
_MAX_DETAIL = 2000
_TRANSIENT_STATUS = frozenset({408, 429, 449, 500, 502, 503, 504})
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Item ids may not contain / \ ? # and are at most 255 characters; job and document ids are hashes, but be safe.
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:=-]{1,200}")
_KIND_JOB = "job"
_KIND_ISSUE = "issue"
_KIND_BULK = "bulk"
_KIND_BULK_ITEM = "bulk_item"
_BULK_ITEM_ID = "bulk"  # the bulk job's own item: one per partition (the bulk job's)
_KIND_EXTRACTION = "extraction"
_CAS_ATTEMPTS = 1000  # compare-and-set retries: only ever reached if the document changes on every single read


class CosmosJobStore:
    """`JobStore` on Cosmos DB: one partition per job, counters moved by conditional patches."""

    def __init__(
        self,
        endpoint: str,
        credential: str | TokenCredential,
        database: str,
        *,
        owns_credential: bool = False,
        **client_options: Any,
    ) -> None:
        """`credential`: the account key, or a token credential (closed with the store when `owns_credential`)."""
        self.endpoint = endpoint
        self.database_name = database
        self._credential = credential
        self._owns_credential = owns_credential
        # Only a stand-in on this machine may go unverified (its certificate is self-signed); never a remote host,
        # whatever the caller asks.
        self._client_options = dict(client_options) | {"connection_verify": not _is_local(endpoint)}
        self._lock = threading.Lock()
        self._client: CosmosClient | None = None
        self._pid = os.getpid()
        self._closed = False

    @classmethod
    def from_connection_setting(
        cls, name: str, database: str, environ: Mapping[str, str] | None = None, **client_options: Any
    ) -> CosmosJobStore:
        """The store for a Functions connection setting (e.g. `CosmosConnection`), read as the host reads it.

        A value is a connection string `AccountEndpoint=...;AccountKey=...;`. Otherwise `<name>__accountEndpoint`
        names the account, reached with a token credential (`__credential=managedidentity` + `__clientId`, or
        `__tenantId` + `__clientId` + `__clientSecret`, else DefaultAzureCredential).
        """
        value, children = connection_section(name, os.environ if environ is None else environ)
        if value:
            endpoint, key = parse_connection_string(value)
            return cls(endpoint, key, database, **client_options)
        endpoint = children.get("accountendpoint", "")
        if not endpoint:
            raise ValueError(
                f"Cosmos DB connection {name!r} is not configured: set {name} to a connection string"
                f" (AccountEndpoint=...;AccountKey=...;) or {name}__accountEndpoint for an identity-based one"
            )
        return cls(endpoint, token_credential(children), database, owns_credential=True, **client_options)

    # -- lifecycle

    def close(self) -> None:
        """Close the client (and a credential this store owns); calling it again does nothing."""
        with self._lock:
            client, self._client = self._client, None
            already, self._closed = self._closed, True
        if already:
            return
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if self._owns_credential:
            close_credential(self._credential)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- schema

    def migrate(self) -> None:
        """Create the database and its containers if absent; safe to call on every start, from many processes."""
        with _translated("migrate"):
            database = self._create_if_absent(
                lambda: self._cosmos().create_database(self.database_name),
                lambda: self._cosmos().get_database_client(self.database_name),
            )
            for name, partition_key in _CONTAINERS.items():
                options: dict[str, Any] = {"indexing_policy": _JOBS_INDEXING} if name == JOBS_CONTAINER else {}
                if name == BUDGETS_CONTAINER:
                    options["default_ttl"] = -1
                self._create_if_absent(
                    partial(database.create_container, name, PartitionKey(partition_key), **options),
                    partial(database.get_container_client, name),
                )

    def containers(self) -> list[str]:
        """Names of the containers in the database (what `migrate` created)."""
        with _translated("list containers"):
            return sorted(c["id"] for c in self._database().list_containers())

    # -- jobs

    def create_job(self, job: Job) -> tuple[Job, bool]:
        """Insert if absent. Returns the stored job and whether this call created it."""
        document = self._job_document(job)
        with _translated(f"job {job.job_id}"):
            try:
                created = self._jobs().create_item(document)
            except CosmosHttpResponseError as error:
                if error.status_code != 409:
                    raise
                stored = self._read_job(job.job_id)
                if stored is None:  # only if someone deleted it in between: nothing sensible to return
                    raise JobNotFoundError(job.job_id) from error
                self._create_document(job)  # again: a crash may have come between the two creates
                return _job_from_document(stored), False
        self._create_document(job)
        return _job_from_document(created), True

    def _create_document(self, job: Job) -> None:
        """The document's item, if absent, so that a delete before the first commit still opens a generation."""
        item = {"id": _item_id(job.document_id), "document_id": job.document_id, "path": job.path, "generation": 0}
        with _translated(f"document {job.document_id}"), contextlib.suppress(_ConflictError):
            _create(self._documents(), item | {"committed_version": None})

    def get_job(self, job_id: str) -> Job | None:
        """The job with its stage counters and totals, or None."""
        document = self._read_job(job_id)
        return None if document is None else _job_from_document(document)

    def list_jobs(self, state: JobState | None = None, limit: int = 100) -> list[Job]:
        """Newest first (by created_at, then job_id)."""
        if limit <= 0:
            return []
        where = "c.kind = @kind" + ("" if state is None else " AND c.state = @state")
        parameters: list[dict[str, Any]] = [{"name": "@limit", "value": limit}, {"name": "@kind", "value": _KIND_JOB}]
        if state is not None:
            parameters.append({"name": "@state", "value": JobState(state).value})
        query = f"SELECT TOP @limit * FROM c WHERE {where} ORDER BY c.created_at DESC, c.job_id DESC"
        with _translated("list jobs"):
            found = self._jobs().query_items(query, parameters=parameters, enable_cross_partition_query=True)
            return [_job_from_document(d) for d in found]

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
        operations = [_set("/state", JobState(to).value), _set("/updated_at", _now())]
        if reason_code is not None:
            operations.append(_set("/reason_code", reason_code))
        if last_error is not None:
            operations.append(_set("/last_error", last_error))
        # The states are our own enum values, never user input, so they can sit in the predicate's text.
        in_sources = ", ".join(f"'{s}'" for s in sources)
        try:
            return self._patch(job_id, operations, condition=f"FROM c WHERE c.state IN ({in_sources})")
        except JobNotFoundError:
            return False

    def set_batches_expected(self, job_id: str, batches: int) -> None:
        """Record how many batches parsing produced; raises JobNotFoundError for an unknown job."""
        if batches < 0:
            raise ValueError(f"batches must be >= 0, got {batches}")
        self._set_field(job_id, "batches_expected", batches)

    def set_extractor(self, job_id: str, extractor: str) -> None:
        """Record which extractor ran; raises JobNotFoundError for an unknown job."""
        self._set_field(job_id, "extractor", extractor)

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

        One conditional patch: the marker, its counter and the totals change together or not at all. Returns
        whether the marker was new. Raises JobNotFoundError for an unknown job.
        """
        outcome = BatchOutcome(outcome)
        counts = counts or Counts()
        marker = _marker_key(Stage(stage), batch)
        value = _marker_value(job_id, Stage(stage), batch, outcome, reason_code, message_id, duration_ms)
        operations = [
            _set(f"/markers/{marker}", value),
            {"op": "incr", "path": f"/counters/{_counter_key(Stage(stage), outcome)}", "value": 1},
            *({"op": "incr", "path": f"/totals/{name}", "value": n} for name, n in counts.model_dump().items() if n),
            _set("/updated_at", _now()),
        ]
        # The marker key is built from our enum and an int (lower case, so the stand-in's lower-casing is harmless).
        return self._patch(job_id, operations, condition=f"FROM c WHERE NOT IS_DEFINED(c.markers.{marker})")

    def finish_if_complete(self, job_id: str) -> Job | None:
        """Mark a processing job succeeded once both sinks settled every expected batch and none dead-lettered.

        The winner then commits the job's version over its base version. Returns the job when this call
        finished it, else None.
        """
        won: dict[str, Any] | None = None

        def finish(document: dict[str, Any]) -> bool:
            nonlocal won
            won = None  # an attempt that lost its compare-and-set won nothing
            if not _is_complete(document):
                return False
            document.update(state=JobState.SUCCEEDED.value, updated_at=_now(), commit_pending=True)
            won = document
            return True

        document = self._compare_and_set(job_id, finish)
        if document is None:
            return None
        if won is None:
            if document.get("commit_pending") and document.get("state") == JobState.SUCCEEDED.value:
                self._finish_commit(document)  # a winner crashed between its two steps: finish its commit
            return None
        self._finish_commit(won)
        return _job_from_document(won)

    def committed_version(self, document_id: str) -> str | None:
        """The version last committed for the document, or None."""
        document = self._read_document(document_id)
        return None if document is None else document.get("committed_version")

    def document_state(self, document_id: str) -> DocumentState | None:
        """The document's committed version and generation; None for a document no job ever named."""
        return _document_state(self._read_document(document_id))

    def begin_delete(self, document_id: str, tracking_id: str) -> Job | None:
        """Create the delete job of the current generation, then open the next one (forgetting the committed
        version); None for an unknown document.

        Two partitions, so two steps, in the order that makes a retry safe: after a crash between them the delete
        job exists and the generation is still open, and the retry finds the same job (its id is the generation's)
        and finishes the step. A delete racing this one for the same generation finds the same job too.
        """
        document = self.document_state(document_id)
        if document is None:
            return None
        job = delete_job(document, tracking_id, datetime.now(UTC))
        stored, _ = self.create_job(job)

        def open_next_generation(current: dict[str, Any] | None) -> dict[str, Any] | None:
            if current is None or current.get("generation", 0) != document.generation:
                return None  # opened already (a retry, or the delete racing this one)
            return {
                "committed_version": None,
                "committed_at": None,
                "job_id": None,
                "generation": document.generation + 1,
            }

        self._change_document(document_id, open_next_generation)
        return stored

    # -- issues

    def record_issues(self, job_id: str, issues: Sequence[ParseIssue]) -> int:
        """Insert each issue if absent (job, locator, reason code) and add the number inserted to `issues`.

        The issue items are created first; they count only once the job document lists their keys, which one
        compare-and-set does together with the counter. Raises JobNotFoundError for an unknown job.
        """
        keyed: dict[str, ParseIssue] = {}
        for issue in issues:
            cut = ParseIssue(
                locator=issue.locator[:_MAX_LOCATOR], reason_code=issue.reason_code, detail=issue.detail[:_MAX_DETAIL]
            )
            keyed.setdefault(_issue_key(cut), cut)
        written: set[str] = set()
        added = 0

        def add(document: dict[str, Any]) -> bool:
            nonlocal added
            listed: dict[str, int] = document.setdefault("issue_keys", {})
            new = [key for key in keyed if key not in listed]
            added = len(new)
            if not new:
                return False
            for key in new:
                if key not in written:
                    self._create_issue(job_id, key, keyed[key])
                    written.add(key)
            for key in new:
                listed[key] = len(listed)  # ordinals keep the order issues were first recorded in
            document["issues"] = document.get("issues", 0) + len(new)
            document["updated_at"] = _now()
            return True

        if self._compare_and_set(job_id, add) is None:
            raise JobNotFoundError(job_id)
        return added

    def list_issues(self, job_id: str, limit: int = 100) -> list[ParseIssue]:
        """The job's issues in the order they were first recorded."""
        if limit <= 0:
            return []
        document = self._read_job(job_id)
        if document is None:
            return []
        listed: dict[str, int] = document.get("issue_keys", {})
        keys = sorted(listed, key=listed.__getitem__)[:limit]
        if not keys:
            return []
        with _translated(f"issues of job {job_id}"):
            found = self._jobs().query_items(
                "SELECT * FROM c WHERE c.job_id = @job_id AND c.kind = @kind AND ARRAY_CONTAINS(@ids, c.id)",
                parameters=[
                    {"name": "@job_id", "value": job_id},
                    {"name": "@kind", "value": _KIND_ISSUE},
                    {"name": "@ids", "value": list(map(_issue_id, keys))},
                ],
                partition_key=job_id,
            )
            by_key = {item["key"]: item for item in found}
        return [
            ParseIssue(locator=item["locator"], reason_code=item["reason_code"], detail=item["detail"])
            for item in (by_key[key] for key in keys if key in by_key)
        ]

    # -- bulk jobs: each a partition of the jobs container of its own (its id in /job_id), holding the bulk job's
    # item (`kind` bulk, its page markers on it as a job's batch markers are) and one item per blob run (`kind`
    # bulk_item, created if absent: the first outcome stands). Counts are read from them, never kept as numbers.

    def create_bulk_job(self, bulk: BulkJob) -> tuple[BulkJob, bool]:
        """Insert if absent. Returns the stored bulk job and whether this call created it."""
        item: dict[str, Any] = {
            "id": _BULK_ITEM_ID,
            "kind": _KIND_BULK,
            "job_id": bulk.bulk_id,
            "operation": bulk.operation.value,
            "container": bulk.container,
            "selector": bulk.selector,
            "dry_run": bulk.dry_run,
            "state": bulk.state.value,
            "reason_code": bulk.reason_code,
            "pages": {},
            "created_at": _encode_time(bulk.created_at),
            "updated_at": _now(),
        }
        created = True
        with _translated(f"bulk job {bulk.bulk_id}"):
            try:
                _create(self._jobs(), item)
            except _ConflictError:
                created = False
        stored = self.get_bulk_job(bulk.bulk_id)
        if stored is None:  # only if someone deleted it in between
            raise JobNotFoundError(bulk.bulk_id)
        return stored, created

    def get_bulk_job(self, bulk_id: str) -> BulkJob | None:
        """The bulk job with its counts as recorded, or None."""
        with _translated(f"bulk job {bulk_id}"):
            item: dict[str, Any] | None = _read_or_none(self._jobs(), _BULK_ITEM_ID, "job_id", bulk_id)
        return None if item is None else self._bulk_from_item(item)

    def list_bulk_jobs(self, limit: int = 20) -> list[BulkJob]:
        """Newest first (by created_at)."""
        if limit <= 0:
            return []
        with _translated("list bulk jobs"):
            found = list(
                self._jobs().query_items(
                    "SELECT TOP @limit * FROM c WHERE c.kind = @kind ORDER BY c.created_at DESC",
                    parameters=[{"name": "@limit", "value": limit}, {"name": "@kind", "value": _KIND_BULK}],
                    enable_cross_partition_query=True,
                )
            )
        return [self._bulk_from_item(item) for item in found]

    def record_bulk_page(self, bulk_id: str, page: int, listed: int, listed_bytes: int) -> bool:
        """Insert the page marker if absent (one conditional patch); whether it was new. Raises JobNotFoundError for
        an unknown bulk job."""
        if page < 0 or listed < 0 or listed_bytes < 0:
            raise ValueError(f"page, listed and listed_bytes must be >= 0, got {page}, {listed}, {listed_bytes}")
        marker = f"p{page}"
        operations = [_set(f"/pages/{marker}", [listed, listed_bytes]), _set("/updated_at", _now())]
        return self._patch_bulk(bulk_id, operations, condition=f"FROM c WHERE NOT IS_DEFINED(c.pages.{marker})")

    def record_bulk_item(self, bulk_id: str, item: BulkItem) -> bool:
        """Create the item if absent (the first outcome stands); whether it was new. Raises JobNotFoundError for an
        unknown bulk job."""
        with _translated(f"bulk job {bulk_id}"):
            if _read_or_none(self._jobs(), _BULK_ITEM_ID, "job_id", bulk_id) is None:  # not get_bulk_job: no counts
                raise JobNotFoundError(bulk_id)
        record = {
            "id": "item-" + hashlib.sha256(item.path.encode()).hexdigest()[:40],
            "kind": _KIND_BULK_ITEM,
            "job_id": bulk_id,
            "path": item.path,
            "outcome": item.outcome.value,
            "item_job_id": item.job_id,
            "reason_code": item.reason_code,
            "recorded_at": _now(),
        }
        with _translated(f"item of bulk job {bulk_id}"):
            try:
                _create(self._jobs(), record)
            except _ConflictError:
                return False
        return True

    def list_bulk_items(self, bulk_id: str, after: str | None = None, limit: int = 100) -> list[BulkItem]:
        """Items in path order, after the path `after` (keyset pagination)."""
        if limit <= 0:
            return []
        where = "c.job_id = @bulk_id AND c.kind = @kind" + ("" if after is None else " AND c.path > @after")
        parameters: list[dict[str, Any]] = [
            {"name": "@limit", "value": limit},
            {"name": "@bulk_id", "value": bulk_id},
            {"name": "@kind", "value": _KIND_BULK_ITEM},
        ]
        if after is not None:
            parameters.append({"name": "@after", "value": after})
        with _translated(f"items of bulk job {bulk_id}"):
            found = self._jobs().query_items(
                f"SELECT TOP @limit * FROM c WHERE {where} ORDER BY c.path",
                parameters=parameters,
                partition_key=bulk_id,
            )
            return [
                BulkItem(
                    path=item["path"],
                    outcome=ItemOutcome(item["outcome"]),
                    job_id=item.get("item_job_id"),
                    reason_code=item.get("reason_code"),
                )
                for item in found
            ]

    def finish_bulk_job(self, bulk_id: str, to: BulkState, reason_code: str | None = None) -> bool:
        """Compare-and-set a running bulk job to a terminal state; False when it was not running (or is unknown)."""
        if BulkState(to) not in BULK_TERMINAL_STATES:
            raise ValueError(f"a bulk job finishes in a terminal state, not {to}")
        operations = [_set("/state", BulkState(to).value), _set("/updated_at", _now())]
        if reason_code is not None:
            operations.append(_set("/reason_code", reason_code))
        try:
            return self._patch_bulk(bulk_id, operations, condition=f"FROM c WHERE c.state = '{BulkState.RUNNING}'")
        except JobNotFoundError:
            return False

    def _patch_bulk(self, bulk_id: str, operations: list[dict[str, Any]], condition: str) -> bool:
        with _translated(f"bulk job {bulk_id}"):
            try:
                self._jobs().patch_item(
                    _BULK_ITEM_ID, partition_key=bulk_id, patch_operations=operations, filter_predicate=condition
                )
            except CosmosHttpResponseError as error:
                if error.status_code == 404:
                    raise JobNotFoundError(bulk_id) from error
                if error.status_code == 412:
                    return False
                raise
        return True

    def _bulk_from_item(self, item: Mapping[str, Any]) -> BulkJob:
        bulk_id = item["job_id"]
        pages: Mapping[str, list[int]] = item.get("pages", {})
        outcomes: dict[str, int] = {}
        with _translated(f"items of bulk job {bulk_id}"):
            for outcome in ItemOutcome:  # one count each: no GROUP BY on the stand-in
                counted = self._jobs().query_items(
                    "SELECT VALUE COUNT(1) FROM c"
                    " WHERE c.job_id = @bulk_id AND c.kind = @kind AND c.outcome = @outcome",
                    parameters=[
                        {"name": "@bulk_id", "value": bulk_id},
                        {"name": "@kind", "value": _KIND_BULK_ITEM},
                        {"name": "@outcome", "value": outcome.value},
                    ],
                    partition_key=bulk_id,
                )
                outcomes[outcome.value] = sum(int(number) for number in cast(Iterable[Any], counted))
        counts = BulkCounts(
            pages=len(pages),
            listed=sum(listed for listed, _ in pages.values()),
            listed_bytes=sum(size for _, size in pages.values()),
            **outcomes,
        )
        return BulkJob(
            bulk_id=bulk_id,
            operation=BulkOperation(item["operation"]),
            container=item["container"],
            selector=item.get("selector", ""),
            dry_run=bool(item.get("dry_run", False)),
            state=BulkState(item["state"]),
            reason_code=item.get("reason_code"),
            counts=counts,
            created_at=_decode_time(item["created_at"]),
            updated_at=_decode_time(item["updated_at"]),
        )

    # -- building blocks

    def _cosmos(self) -> CosmosClient:
        with self._lock:
            if self._closed:
                raise RuntimeError("the job store is closed")
            if self._client is None or os.getpid() != self._pid:
                # A forked child must not share its parent's connections: start afresh.
                self._client = CosmosClient(self.endpoint, credential=self._credential, **self._client_options)
                self._pid = os.getpid()
            return self._client

    def _database(self) -> DatabaseProxy:
        return self._cosmos().get_database_client(self.database_name)

    def _jobs(self) -> ContainerProxy:
        return self._database().get_container_client(JOBS_CONTAINER)

    def _documents(self) -> ContainerProxy:
        return self._database().get_container_client(DOCUMENTS_CONTAINER)

    @staticmethod
    def _create_if_absent(create: Callable[[], Any], existing: Callable[[], Any]) -> Any:
        # Not create_*_if_not_exists: it reads first, so two processes migrating at once can both try to create.
        try:
            return create()
        except CosmosHttpResponseError as error:
            if error.status_code == 409:
                return existing()
            if error.status_code != 403:
                raise
        # 403: Entra data-plane roles (a managed identity) may not create databases or containers; the deployment
        # creates them (infra/modules/cosmos.bicep). Reading proves they are there; a 404 says what is missing.
        found = existing()
        found.read()
        return found

    def _read_job(self, job_id: str) -> dict[str, Any] | None:
        with _translated(f"job {job_id}"):
            return _read_or_none(self._jobs(), _item_id(job_id), "job_id", job_id)

    def _read_document(self, document_id: str) -> dict[str, Any] | None:
        with _translated(f"document {document_id}"):
            return _read_or_none(self._documents(), _item_id(document_id), "document_id", document_id)

    def _patch(self, job_id: str, operations: list[dict[str, Any]], condition: str | None = None) -> bool:
        """Patch the job document in one atomic step; False when `condition` does not hold.

        Raises JobNotFoundError when the job is absent.
        """
        with _translated(f"job {job_id}"):
            try:
                self._jobs().patch_item(
                    _item_id(job_id), partition_key=job_id, patch_operations=operations, filter_predicate=condition
                )
            except CosmosHttpResponseError as error:
                if error.status_code == 404:
                    raise JobNotFoundError(job_id) from error
                if error.status_code == 412:
                    return False
                raise
        return True

    def _set_field(self, job_id: str, field: str, value: Any) -> None:
        self._patch(job_id, [_set(f"/{field}", value), _set("/updated_at", _now())])

    def _compare_and_set(self, job_id: str, change: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """Read the job document, let `change` edit it, replace it if unchanged since the read; retry on 412.

        Returns the document as last read (edited when `change` said so), or None when the job is absent.
        """
        for attempt in range(_CAS_ATTEMPTS):
            document = self._read_job(job_id)
            if document is None:
                return None
            etag = document["_etag"]
            if not change(document):
                return document
            with _translated(f"job {job_id}"):
                try:
                    self._jobs().replace_item(
                        document["id"],
                        _without_system_properties(document),
                        etag=etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
                    return document
                except CosmosHttpResponseError as error:
                    if error.status_code != 412:
                        raise
            time.sleep(min(0.001 * attempt, 0.05))  # someone else wrote in between: read again
        raise TransientError(Reason.JOBSTORE_CONTENTION, f"job {job_id} changed on each of {_CAS_ATTEMPTS} attempts")

    def _create_issue(self, job_id: str, key: str, issue: ParseIssue) -> None:
        item = {
            "id": _issue_id(key),
            "job_id": job_id,
            "kind": _KIND_ISSUE,
            "key": key,
            "locator": issue.locator,
            "reason_code": issue.reason_code,
            "detail": issue.detail,
            "recorded_at": _now(),
        }
        with _translated(f"issue of job {job_id}"), contextlib.suppress(_ConflictError):
            _create(self._jobs(), item)  # present already (an earlier attempt): the first detail stays

    def _finish_commit(self, job: dict[str, Any]) -> None:
        """Commit the job's version over its base version (idempotent), then clear the job's pending flag."""
        self._commit_document(job)
        with contextlib.suppress(TransientError, JobNotFoundError):
            # Best effort: left set, the next finish_if_complete of the job redoes the (idempotent) commit.
            self._patch(job["job_id"], [_set("/commit_pending", False)])

    def _commit_document(self, job: dict[str, Any]) -> None:
        version, base = job["version"], job.get("base_version")

        def commit(current: dict[str, Any] | None) -> dict[str, Any] | None:
            committed = None if current is None else current.get("committed_version")
            generation = 0 if current is None else current.get("generation", 0)
            if committed == version or committed != base or generation != job.get("generation", 0):
                # Done already, or another job committed over our base first, or the document was deleted since
                # the job was created: leave the document alone.
                return None
            fields = {"committed_version": version, "committed_at": _now(), "job_id": job["job_id"]}
            return fields if current is not None else fields | {"path": job["path"]}

        self._change_document(job["document_id"], commit)

    def _change_document(
        self, document_id: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> None:
        """Read the document item, let `change` say which fields to set (None: leave it alone), and write them only
        if the item is unchanged since the read (created, when absent); a lost race reads again."""
        for attempt in range(_CAS_ATTEMPTS):
            current = self._read_document(document_id)
            fields = change(current)
            if fields is None:
                return
            with _translated(f"document {document_id}"):
                try:
                    if current is None:
                        _create(self._documents(), {"id": _item_id(document_id), "document_id": document_id, **fields})
                    else:
                        self._documents().replace_item(
                            current["id"],
                            _without_system_properties(current) | fields,
                            etag=current["_etag"],
                            match_condition=MatchConditions.IfNotModified,
                        )
                    return
                except _ConflictError:
                    pass  # created by another writer in between: read again
                except CosmosHttpResponseError as error:
                    if error.status_code != 412:
                        raise
            time.sleep(min(0.001 * attempt, 0.05))
        raise TransientError(Reason.JOBSTORE_CONTENTION, f"document {document_id} changed on each attempt")

    def _job_document(self, job: Job) -> dict[str, Any]:
        counters: dict[str, int] = {}
        for stage, stage_counters in job.stages.items():
            counters[_counter_key(Stage(stage), BatchOutcome.DONE)] = stage_counters.done
            counters[_counter_key(Stage(stage), BatchOutcome.DEAD_LETTERED)] = stage_counters.dead_lettered
        return {
            "id": _item_id(job.job_id),
            "kind": _KIND_JOB,
            "job_id": job.job_id,
            "job_kind": job.kind.value,
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
            "totals": job.totals.model_dump(),
            "counters": counters,
            "markers": {},
            "issue_keys": {},
            "commit_pending": False,
            "created_at": _encode_time(job.created_at),
            "updated_at": _now(),  # the store owns updated_at: the time of the last change it made
        }

    # -- token budget and extraction records (the LLM extractor)

    def reserve_tokens(self, key: str, tokens: int, limit: int, expires_at: datetime | None = None) -> bool:
        """Add `tokens` to the counter if it stays within `limit`: one conditional patch (`filter_predicate` on the
        count, 412 when it would pass the limit), so concurrent workers never overrun the budget."""
        if tokens < 0:
            raise ValueError(f"tokens must be >= 0, got {tokens}")
        if tokens > limit:
            return False
        # Both numbers are ints of ours, never user input, so they can sit in the predicate's text.
        return self._add_tokens(key, tokens, expires_at, condition=f"FROM c WHERE c.used <= {limit - tokens}")

    def adjust_tokens(self, key: str, delta: int, expires_at: datetime | None = None) -> None:
        """Add `delta` to the counter whatever the limit (a reservation reconciled or given back)."""
        self._add_tokens(key, delta, expires_at, condition=None)

    def tokens_used(self, key: str) -> int:
        """The counter (0 when absent or expired)."""
        with _translated(f"token counter {key}"):
            item = _read_or_none(self._budgets(), _item_id(key), "key", key)
        if item is None or (item.get("expires_at") and _decode_time(item["expires_at"]) < datetime.now(UTC)):
            return 0
        return int(item.get("used", 0))

    def record_extraction(self, job_id: str, record: BatchExtraction) -> bool:
        """Create the batch's extraction item in the job's partition if absent (409: the first one stays)."""
        if self._read_job(job_id) is None:
            raise JobNotFoundError(job_id)
        item = {
            "id": f"{_KIND_EXTRACTION}-{record.batch}",
            "job_id": job_id,
            "kind": _KIND_EXTRACTION,
            **record.model_dump(),
            "recorded_at": _now(),
        }
        with _translated(f"extraction of job {job_id}"):
            try:
                _create(self._jobs(), item)
            except _ConflictError:
                return False
        return True

    def list_extractions(self, job_id: str) -> list[BatchExtraction]:
        """The job's extraction records, by batch (sorted here: one partition holds a job's few hundred at most)."""
        with _translated(f"extractions of job {job_id}"):
            found = list(
                self._jobs().query_items(
                    "SELECT * FROM c WHERE c.job_id = @job_id AND c.kind = @kind",
                    parameters=[{"name": "@job_id", "value": job_id}, {"name": "@kind", "value": _KIND_EXTRACTION}],
                    partition_key=job_id,
                )
            )
        fields = BatchExtraction.model_fields
        records = [BatchExtraction(**{name: item[name] for name in fields if name in item}) for item in found]
        return sorted(records, key=lambda record: record.batch)

    def _budgets(self) -> ContainerProxy:
        return self._database().get_container_client(BUDGETS_CONTAINER)

    def _add_tokens(self, key: str, delta: int, expires_at: datetime | None, condition: str | None) -> bool:
        """Patch the counter by `delta` (under `condition`); create it when absent. False when `condition` fails."""
        item_id = _item_id(key)
        for _ in range(_CAS_ATTEMPTS):
            with _translated(f"token counter {key}"):
                try:
                    self._budgets().patch_item(
                        item_id,
                        partition_key=key,
                        patch_operations=[{"op": "incr", "path": "/used", "value": delta}],
                        filter_predicate=condition,
                    )
                    return True
                except CosmosHttpResponseError as error:
                    if error.status_code == 412:
                        return False
                    if error.status_code != 404:
                        raise
                item: dict[str, Any] = {"id": item_id, "key": key, "used": delta}
                if expires_at is not None:
                    item["expires_at"] = _encode_time(expires_at)
                    # Per-item time to live (the container has TTL on): Cosmos DB drops a past minute by itself.
                    item["ttl"] = max(1, int((expires_at - datetime.now(UTC)).total_seconds()) + 60)
                try:
                    _create(self._budgets(), item)
                    return True
                except _ConflictError:
                    continue  # created by another worker in between: patch it now
        raise TransientError(Reason.JOBSTORE_CONTENTION, f"token counter {key} changed on each attempt")

    # -- the operations API (listing by filter a page at a time, counting by group)

    def list_jobs_page(self, where: JobFilter, limit: int, after: JobKey | None = None) -> list[Job]:
        """At most `limit` jobs matching `where`, newest first, strictly after `after` (keyset pagination): one
        cross-partition query served by the (created_at, job_id) composite index."""
        if limit <= 0:
            return []
        conditions = ["c.kind = @kind"]
        parameters: list[dict[str, Any]] = [{"name": "@limit", "value": limit}, {"name": "@kind", "value": _KIND_JOB}]

        def condition(text: str, **values: Any) -> None:
            conditions.append(text)
            parameters.extend({"name": f"@{name}", "value": value} for name, value in values.items())

        if where.state is not None:
            condition("c.state = @state", state=JobState(where.state).value)
        if where.since is not None:
            condition("c.created_at >= @since", since=_encode_time(where.since))
        if where.prefix:
            condition("STARTSWITH(c.path, @prefix)", prefix=where.prefix)  # case-sensitive, as in the SQL stores
        if where.reason is not None:
            condition("c.reason_code = @reason", reason=where.reason)
        if after is not None:
            condition(
                "(c.created_at < @after_created OR (c.created_at = @after_created AND c.job_id < @after_job))",
                after_created=_encode_time(after.created_at),
                after_job=after.job_id,
            )
        query = f"SELECT TOP @limit * FROM c WHERE {' AND '.join(conditions)} ORDER BY c.created_at DESC, c.job_id DESC"
        with _translated("list jobs"):
            found = self._jobs().query_items(query, parameters=parameters, enable_cross_partition_query=True)
            return [_job_from_document(d) for d in found]

    def job_groups(self, since: datetime | None = None) -> list[JobGroup]:
        """Jobs created at or after `since` (all when None), counted by kind, state, reason code and format.

        Summed here from a projection read page by page (memory holds the groups, not the jobs): the stand-in has no
        GROUP BY, and a GROUP BY on Azure would be a cross-partition query reading every job as well."""
        where = "c.kind = @kind" + ("" if since is None else " AND c.created_at >= @since")
        parameters: list[dict[str, Any]] = [{"name": "@kind", "value": _KIND_JOB}]
        if since is not None:
            parameters.append({"name": "@since", "value": _encode_time(since)})
        query = f"SELECT c.job_kind, c.state, c.reason_code, c.path, c.size, c.totals FROM c WHERE {where}"
        sums: dict[tuple[str, str, str | None, str], list[int]] = {}
        with _translated("count jobs"):
            for item in self._jobs().query_items(query, parameters=parameters, enable_cross_partition_query=True):
                key = (
                    item.get("job_kind", JobKind.INGEST.value),
                    item["state"],
                    item.get("reason_code"),
                    file_format(item["path"]),
                )
                totals = item.get("totals") or {}
                added = (1, item.get("size", 0), totals.get("chunks", 0), totals.get("entities", 0))
                sums[key] = [a + b for a, b in zip(sums.get(key, [0, 0, 0, 0]), added, strict=True)]
        return [
            JobGroup(
                kind=JobKind(kind),
                state=JobState(state),
                reason_code=reason,
                format=fmt,
                jobs=jobs,
                bytes=size,
                chunks=chunks,
                entities=entities,
            )
            for (kind, state, reason, fmt), (jobs, size, chunks, entities) in sums.items()
        ]

    # -- the trace API (GET /api/trace/{tracking_id})

    def stage_events(self, job_id: str) -> list[StageEvent]:
        """The job's markers as stage events, in trace order (none for an unknown job): one read of the job."""
        document = self._read_job(job_id)
        if document is None:
            return []
        markers: Mapping[str, Any] = document.get("markers") or {}
        return in_trace_order(_stage_event(job_id, key, value) for key, value in markers.items())

    def jobs_by_tracking_id(self, tracking_id: str, limit: int = 100) -> list[Job]:
        """At most `limit` jobs of this tracking id, newest first.

        A cross-partition query (the jobs are partitioned by job id): it fans out to every physical partition, each
        answering from the (tracking_id, created_at, job_id) composite index, so it costs a few RU per physical
        partition plus the jobs returned (about 1 RU per KB read; markers make a big job's document large). Fine for
        an operator's look-up, never for a per-message path.
        """
        if limit <= 0:
            return []
        query = (
            "SELECT TOP @limit * FROM c WHERE c.kind = @kind AND c.tracking_id = @tracking_id"
            " ORDER BY c.created_at DESC, c.job_id DESC"
        )
        parameters: list[dict[str, Any]] = [
            {"name": "@limit", "value": limit},
            {"name": "@kind", "value": _KIND_JOB},
            {"name": "@tracking_id", "value": tracking_id},
        ]
        with _translated("jobs by tracking id"):
            found = self._jobs().query_items(query, parameters=parameters, enable_cross_partition_query=True)
            return [_job_from_document(d) for d in found]

    # -- dead-letter replay (shared/pipeline/deadletters.py)

    def reopen_batch(self, job_id: str, stage: Stage, batch: int) -> bool:
        """Remove the batch's DEAD_LETTERED marker and its count in one compare-and-set of the job document; a
        FAILED job with none left (and its batch count known) goes back to PROCESSING, reason code cleared, last
        error kept. Whether a marker was removed."""
        marker = _marker_key(Stage(stage), batch)
        dead_key = _counter_key(Stage(stage), BatchOutcome.DEAD_LETTERED)
        removed = False

        def reopen(document: dict[str, Any]) -> bool:
            nonlocal removed
            removed = False  # an attempt that lost its compare-and-set removed nothing
            markers: dict[str, Any] = document.get("markers", {})
            value = markers.get(marker)
            if value is None or _stage_event(job_id, marker, value).outcome is not BatchOutcome.DEAD_LETTERED:
                return False  # absent, or DONE: never touched (either shape of marker)
            del markers[marker]
            counters: dict[str, int] = document.setdefault("counters", {})
            counters[dead_key] = max(counters.get(dead_key, 0) - 1, 0)
            none_left = not any(counters.get(_counter_key(s, BatchOutcome.DEAD_LETTERED), 0) > 0 for s in Stage)
            if (
                document.get("state") == JobState.FAILED.value
                and none_left
                and document.get("batches_expected") is not None
            ):
                document.update(state=JobState.PROCESSING.value, reason_code=None)
            document["updated_at"] = _now()
            removed = True
            return True

        self._compare_and_set(job_id, reopen)
        return removed


# -- the document shape ----------------------------------------------------------------------------------------


def parse_connection_string(value: str) -> tuple[str, str]:
    """(endpoint, key) of `AccountEndpoint=...;AccountKey=...;`; ValueError when either is missing."""
    parts = connection_string_parts(value)
    endpoint, key = parts.get("accountendpoint"), parts.get("accountkey")
    if not endpoint or not key:
        raise ValueError("a Cosmos DB connection string needs AccountEndpoint=...;AccountKey=...;")
    return endpoint, key


def _is_local(endpoint: str) -> bool:
    return (urlsplit(endpoint).hostname or "").lower() in _LOCAL_HOSTS


def _item_id(key: str) -> str:
    """The item id for a job or document id: itself when Cosmos DB allows it, else a hash of it."""
    if _SAFE_ID.fullmatch(key):
        return key
    return "sha256-" + hashlib.sha256(key.encode()).hexdigest()


def _issue_key(issue: ParseIssue) -> str:
    return hashlib.sha256(f"{issue.locator}\0{issue.reason_code}".encode()).hexdigest()[:32]


def _issue_id(key: str) -> str:
    return f"issue-{key}"


def _marker_key(stage: Stage, batch: int) -> str:
    if batch < 0:
        raise ValueError(f"batch must be >= 0, got {batch}")
    return f"{stage.value}_{batch}"


def _marker_value(
    job_id: str,
    stage: Stage,
    batch: int,
    outcome: BatchOutcome,
    reason_code: str | None,
    message_id: str | None,
    duration_ms: float | None,
) -> list[Any]:
    """A marker as it is stored: `[outcome[:reason], recorded at (µs since the epoch), duration ms]`, and the
    message id as a fourth entry only when it is not the deterministic one of (job, stage, batch) (then read back
    from the ids): a job document holds one marker per stage batch under the 2 MB item limit, so each byte counts.
    Markers from before the trace API are a bare string `outcome[:reason]`."""
    status = outcome.value if reason_code is None else f"{outcome.value}:{reason_code}"
    now = datetime.now(UTC)
    micros = (now - _EPOCH) // timedelta(microseconds=1)
    value: list[Any] = [status, micros, None if duration_ms is None else round(duration_ms, 3)]
    if message_id != deterministic_message_id(job_id, stage, batch):
        value.append(message_id)
    return value


def _stage_event(job_id: str, key: str, value: Any) -> StageEvent:
    """A stored marker (either shape) as a stage event."""
    stage_value, _, batch_text = key.rpartition("_")
    stage, batch = Stage(stage_value), int(batch_text)
    status, recorded_at, duration_ms, message_id = value, None, None, None
    if isinstance(value, list):
        status, micros, duration_ms = value[:3]
        recorded_at = _EPOCH + timedelta(microseconds=micros)
        message_id = value[3] if len(value) > 3 else deterministic_message_id(job_id, stage, batch)
    outcome, _, reason_code = str(status).partition(":")
    return StageEvent(
        stage=stage,
        batch=batch,
        outcome=BatchOutcome(outcome),
        reason_code=reason_code or None,
        message_id=message_id,
        recorded_at=recorded_at,
        duration_ms=duration_ms,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _counter_key(stage: Stage, outcome: BatchOutcome) -> str:
    return f"{stage.value}_{outcome.value}"


def _is_complete(document: Mapping[str, Any]) -> bool:
    """The completion rule, from named parts (the SQL stores' rule, on the job document)."""
    counters: Mapping[str, int] = document.get("counters", {})
    expected = document.get("batches_expected")

    def settled(stage: Stage) -> int:
        return sum(counters.get(_counter_key(stage, outcome), 0) for outcome in BatchOutcome)

    is_processing = document.get("state") == JobState.PROCESSING.value
    expected_is_known = expected is not None
    every_sink_settled_every_batch = all(settled(stage) == expected for stage in SINK_STAGES)
    nothing_dead_lettered = not any(  # any stage: a dead letter upstream also means an incomplete job
        counters.get(_counter_key(stage, BatchOutcome.DEAD_LETTERED), 0) > 0 for stage in Stage
    )
    return is_processing and expected_is_known and every_sink_settled_every_batch and nothing_dead_lettered


def _job_from_document(document: Mapping[str, Any]) -> Job:
    counters: Mapping[str, int] = document.get("counters", {})
    stages: dict[Stage, StageCounters] = {}
    for stage in Stage:
        done = counters.get(_counter_key(stage, BatchOutcome.DONE))
        dead = counters.get(_counter_key(stage, BatchOutcome.DEAD_LETTERED))
        if done is not None or dead is not None:
            stages[stage] = StageCounters(done=done or 0, dead_lettered=dead or 0)
    return Job(
        job_id=document["job_id"],
        kind=JobKind(document.get("job_kind", JobKind.INGEST.value)),
        document_id=document["document_id"],
        path=document["path"],
        version=document["version"],
        base_version=document.get("base_version"),
        generation=document.get("generation", 0),
        state=JobState(document["state"]),
        reason_code=document.get("reason_code"),
        last_error=document.get("last_error"),
        tracking_id=document["tracking_id"],
        size=document.get("size", 0),
        batches_expected=document.get("batches_expected"),
        stages=stages,
        totals=Counts(**document.get("totals", {})),
        extractor=document.get("extractor"),
        issues=document.get("issues", 0),
        created_at=_decode_time(document["created_at"]),
        updated_at=_decode_time(document["updated_at"]),
    )


def _document_state(document: Mapping[str, Any] | None) -> DocumentState | None:
    if document is None:
        return None
    return DocumentState(
        document_id=document["document_id"],
        path=document["path"],
        committed_version=document.get("committed_version"),
        generation=document.get("generation", 0),
    )


def _without_system_properties(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if not key.startswith("_")}


def _set(path: str, value: Any) -> dict[str, Any]:
    return {"op": "set", "path": path, "value": value}


def _now() -> str:
    return _encode_time(datetime.now(UTC))


def _encode_time(value: datetime) -> str:
    """ISO 8601 UTC text with microseconds: one fixed width, so it sorts as it compares. Naive times are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamps must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _decode_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


# -- the SDK's errors as the port's -------------------------------------------------------------------------------


class _ConflictError(Exception):
    """A create found the item present (409)."""


def _create(container: ContainerProxy, item: dict[str, Any]) -> dict[str, Any]:
    try:
        return container.create_item(item)
    except CosmosHttpResponseError as error:
        if error.status_code == 409:
            raise _ConflictError(item["id"]) from error
        raise


def _read_or_none(container: ContainerProxy, item_id: str, key_field: str, key: str) -> dict[str, Any] | None:
    """The item, or None.

    A query rather than a point read: the stand-in answers a point read of a missing item with HTTP 500 instead of
    404 (its handler dereferences the absent item), and a 500 must stay transient. Within one partition the query
    costs a couple of RU more than a point read. The partition key is also in the query text because the stand-in
    refuses a single-partition query without it (it does not read the partition key header).
    """
    found = container.query_items(
        f"SELECT * FROM c WHERE c.{key_field} = @key AND c.id = @id",
        parameters=[{"name": "@key", "value": key}, {"name": "@id", "value": item_id}],
        partition_key=key,
    )
    return next(iter(found), None)


@contextlib.contextmanager
def _translated(what: str) -> Iterator[None]:
    """Throttling, timeouts and an unreachable account become TransientError; a job too large, PermanentError."""
    try:
        yield
    except (ServiceRequestError, ServiceResponseError) as error:
        raise TransientError(Reason.JOBSTORE_UNAVAILABLE, f"{what}: {type(error).__name__}: {error}") from error
    except CosmosHttpResponseError as error:
        if error.status_code in _TRANSIENT_STATUS:
            raise TransientError(Reason.JOBSTORE_UNAVAILABLE, f"{what}: HTTP {error.status_code}") from error
        if error.status_code == 413:
            raise PermanentError(Reason.JOBSTORE_JOB_TOO_LARGE, f"{what}: over Cosmos DB's 2 MB item limit") from error
        raise
