"""The `tributary` command: run files through the pipeline on the embedded default and inspect jobs."""

import logging
import os
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TransferSpeedColumn
from rich.table import Table
from typer.core import TyperGroup

from shared import cli_deadletters, cli_ops
from shared.api_jobs import JobDetail
from shared.api_search import search as search_chunks
from shared.app_ports import app_ports
from shared.cli_bulk import Action, BulkApi, bulk_command, request_body
from shared.cli_communities import run as run_communities
from shared.cli_communities import show as show_communities
from shared.cli_extraction import extraction_table
from shared.cli_notifications import NotificationAction, notifications_command
from shared.cli_ops import Output, OutputOption
from shared.cli_trace import show_trace
from shared.config import STORAGE_CONNECTION, Settings
from shared.devhost.environment import LOCAL_SETTINGS, SAMPLE_SETTINGS, app_settings
from shared.devhost.errors import StartupError, invalid_settings
from shared.devhost.host import APP_SCRIPT, DevHost
from shared.devhost.http_server import load_or_create_keys
from shared.devhost.local_services import local_services
from shared.domain import ConfigError, Job, JobState, ParseIssue, Stage
from shared.domain.ids import chunk_id, document_id
from shared.pipeline.delete import request_delete
from shared.ports import GraphSink, JobStore
from shared.wiring import open_job_store

_VERBOSE = "tributary.verbose"  # key in click's context meta, which every command's context shares


class _Commands(TyperGroup):
    """The one place a start-up failure becomes one line on stderr and its exit code (the traceback: --verbose)."""

    # typer.Context is what typer passes; its stubs name the vendored click base class, which is private.
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        failure: StartupError
        cause: Exception
        try:
            return super().invoke(ctx)
        except StartupError as error:
            failure, cause = error, error
        except ConfigError as error:  # the wiring refused the settings (shared/wiring.py): its detail names the fix
            failure, cause = StartupError(error.reason_code, error.cause, error.fix), error
        except ValidationError as error:
            if error.title != Settings.__name__:
                raise
            failure, cause = invalid_settings(error), error
        if ctx.meta.get(_VERBOSE):
            traceback.print_exception(cause, file=sys.stderr)
        typer.secho(failure.one_line(), err=True, fg=typer.colors.RED)
        raise typer.Exit(failure.exit_code)


app = typer.Typer(
    cls=_Commands,
    help="Tributary: files in blob storage to a knowledge graph and a vector index.",
    no_args_is_help=True,
)
# Piped output (CI logs, files) gets a wide fixed width rather than rich's 80 columns, so tables stay readable.
console = Console(width=None if sys.stdout.isatty() else 140)
errors = Console(stderr=True)  # notes about the set-up, kept out of the tables on stdout


def _remember_verbose(ctx: typer.Context, value: bool) -> bool:
    if value:
        ctx.meta[_VERBOSE] = True
    return value


DataDir = Annotated[Path | None, typer.Option("--data-dir", help="state folder (default: TRIBUTARY_DATA_DIR)")]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="log more, and show a failure's traceback", callback=_remember_verbose)
]


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    return settings.model_copy(update={"data_dir": data_dir}) if data_dir else settings


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders to drop into the incoming container")],
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """Drop files into the incoming container, let the local Functions host run every stage, print a summary."""
    _configure_logging(logging.INFO if verbose else logging.ERROR)
    files = collect_files(paths)
    if not files:
        console.print("[red]No files found.[/red]")
        raise typer.Exit(2)
    started = time.perf_counter()
    with _local_host(data_dir) as host, _progress() as progress:
        store = host.blob_store(STORAGE_CONNECTION)
        incoming = host.settings.incoming_container
        task = progress.add_task("upload", total=sum(file.stat().st_size for file in files), name="")
        for file, blob_path in files.items():
            progress.update(task, name=blob_path)
            with file.open("rb") as content:
                store.upload(incoming, blob_path, content)
            progress.advance(task, file.stat().st_size)
        progress.update(task, description="process", name="functions running")
        host.run_until_idle(timeout=3600)
        elapsed = time.perf_counter() - started
        documents = {document_id(store.account, incoming, blob_path) for blob_path in files.values()}
        ports = app_ports()  # the ports the functions used, still open: no second job store to open and migrate
        finished = _latest_jobs(ports.jobs, documents)
        store_counts = ports.graph.counts().model_dump() | {"vectors": ports.vectors.count()}
    _print_summary(finished, elapsed, store_counts)
    if any(job.state is JobState.FAILED for job in finished):
        raise typer.Exit(1)


@app.command()
def dev(
    data_dir: DataDir = None,
    port: Annotated[int, typer.Option(help="HTTP port of the local host (0: a free one)")] = 7071,
    verbose: Verbose = False,
) -> None:
    """Run the local Functions host: watch the incoming container, run the queues, serve the HTTP API."""
    _configure_logging(logging.DEBUG if verbose else logging.INFO)
    # Ctrl-C and SIGTERM (see main) stop the servers started here as well; servers found running are left alone.
    with _local_host(data_dir, serve_http=True, http_port=port) as host:
        assert host.http is not None
        keys_file = host.settings.data_dir / "devhost-keys.json"
        console.print(f"HTTP API on {host.http.base_url}/api (function key in {keys_file})")
        console.print(f"Storage: {os.environ[STORAGE_CONNECTION]}")
        console.print(f"Drop files into its {host.settings.incoming_container!r} container; Ctrl-C stops the host.")
        host.start()
        try:
            with Live(_queue_table(host.status(), host.errors), console=console, refresh_per_second=2) as live:
                while True:
                    time.sleep(0.5)
                    live.update(_queue_table(host.status(), host.errors))
        except KeyboardInterrupt:
            console.print("Stopping: letting running functions finish.")


def _configure_logging(level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The Azure SDKs log every HTTP request at INFO: far too much for a terminal.
    logging.getLogger("azure").setLevel(max(level, logging.WARNING))


@contextmanager
def _local_host(data_dir: Path | None, *, serve_http: bool = False, http_port: int = 0) -> Iterator[DevHost]:
    overrides = {"TRIBUTARY_DATA_DIR": str(data_dir)} if data_dir else {}
    settings_file = _settings_file()
    settings = app_settings(APP_SCRIPT.parent, overrides, settings_file=settings_file)
    with (
        local_services(settings) as resolved,
        DevHost(APP_SCRIPT, settings=resolved, serve_http=serve_http, http_port=http_port) as host,
    ):
        # Said once the host runs, so that a start-up failure stays the one line it is.
        if settings_file.name == SAMPLE_SETTINGS:
            errors.print(
                f"No {LOCAL_SETTINGS}: using the values of {SAMPLE_SETTINGS} "
                f"(copy it to {LOCAL_SETTINGS} to change them)."
            )
        for message in host.errors.values():  # functions the host refused: their triggers will not run
            errors.print(f"[yellow]{message}[/yellow]")
        yield host


def _settings_file() -> Path:
    """local.settings.json next to the app; without one, the committed sample's values (what `cp` would give)."""
    local = APP_SCRIPT.parent / LOCAL_SETTINGS
    return local if local.exists() else APP_SCRIPT.parent / SAMPLE_SETTINGS


def _latest_jobs(store: JobStore, documents: set[str]) -> list[Job]:
    """The newest job of each document this run dropped (a re-upload of unchanged content is a skipped job)."""
    latest: dict[str, Job] = {}
    for job in store.list_jobs(limit=100_000):  # newest first
        if job.document_id in documents and job.document_id not in latest:
            latest[job.document_id] = job
    return sorted(latest.values(), key=lambda job: job.path)


def _queue_table(status: dict[str, dict[str, int]], refused: Mapping[str, str] | None = None) -> Table:
    # Functions the host refused stay in sight: their queues fill and nothing drains them.
    caption = (
        f"[yellow]not running: {', '.join(sorted(refused))} (see the start-up message)[/yellow]" if refused else None
    )
    table = Table(title="Queues", caption=caption)
    table.add_column("queue")
    for column in ("active", "scheduled", "locked", "dead_lettered"):
        table.add_column(column, justify="right")
    for queue, counts in status.items():
        table.add_row(queue, *(str(counts[column]) for column in ("active", "scheduled", "locked", "dead_lettered")))
    return table


@app.command()
def search(
    text: Annotated[str, typer.Argument(help="what to look for")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=50, help="how many chunks")] = 5,
    filter: Annotated[
        str,
        typer.Option(
            "--filter",
            help="only chunks matching field:value terms (all must hold): document_id, path, folder, content_type; "
            'repeat a field for any of its values; quote values with spaces: path:"my notes.txt"',
        ),
    ] = "",
    data_dir: DataDir = None,
    verbose: Verbose = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """The chunks best matching a text (its words and its meaning), with their documents, the entities they mention
    and those entities' links."""
    _configure_logging(logging.INFO if verbose else logging.ERROR)
    with _local_host(data_dir):
        answer = search_chunks(app_ports(), {"q": text, "k": str(k), "filter": filter})
    if output is Output.JSON:
        cli_ops.print_json(answer.body)
    if answer.status != 200:
        if output is Output.TABLE:
            console.print(f"[red]{answer.body['reason_code']}: {answer.body['detail']}[/red]")
        raise typer.Exit(2)
    if output is Output.JSON:
        return
    console.print(_hits_table(answer.body))
    if answer.body["relations"]:
        console.print(_relations_table(answer.body))


def _hits_table(body: dict[str, Any]) -> Table:
    entities = body["entities"]
    table = Table(title=f"Search: {body['query']}")
    for column in ("score", "path", "locator", "text", "entities"):
        table.add_column(column, overflow="fold", justify="right" if column == "score" else "left")
    for hit in body["hits"]:
        names = "\n".join(f"{entities[e]['name']} ({entities[e]['type']})" for e in hit["entities"] if e in entities)
        text = hit["text"] if len(hit["text"]) <= 200 else hit["text"][:199] + "…"
        table.add_row(f"{hit['score']:.3f}", hit["path"] or hit["document_id"], hit["locator"] or "", text, names)
    return table


def _relations_table(body: dict[str, Any], shown: int = 20) -> Table:
    entities, relations = body["entities"], body["relations"]
    more = f" (the first {shown} of {len(relations)})" if len(relations) > shown else ""
    table = Table(title=f"Around them in the graph{more}")
    for column in ("source", "relation", "target"):
        table.add_column(column, overflow="fold")
    for relation in relations[:shown]:
        source, target = entities.get(relation["source_id"]), entities.get(relation["target_id"])
        table.add_row(source["name"] if source else "?", relation["type"], target["name"] if target else "?")
    return table


@app.command()
def delete(
    document: Annotated[
        str, typer.Argument(help="a blob path in the incoming container (as `ingest` names files), or a document id")
    ],
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """Remove a document from the graph, the vector index and the served versions (its blob stays, if any)."""
    _configure_logging(logging.INFO if verbose else logging.ERROR)
    with _local_host(data_dir) as host:
        ports = app_ports()
        by_path = document_id(ports.blobs.account, host.settings.incoming_container, document)
        target = by_path if ports.jobs.document_state(by_path) is not None else document
        deletion = request_delete(target, ports)
        if deletion is not None:
            host.run_until_idle(timeout=3600)
            deletion = ports.jobs.get_job(deletion.job_id)
    if deletion is None:
        console.print(f"Nothing to delete: no document is known as {document!r}.")
        return
    console.print(_jobs_table([deletion], title="Delete"))
    if deletion.state is not JobState.SUCCEEDED:
        raise typer.Exit(1)


@app.command()
def status(
    data_dir: DataDir = None,
    state: Annotated[JobState | None, typer.Option(help="only jobs in this state")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    verbose: Verbose = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """List jobs, newest first, with their state and reason."""
    store, opened = open_job_store(_settings(data_dir))
    with opened:
        jobs = store.list_jobs(state=state, limit=limit)
    if output is Output.JSON:
        cli_ops.print_json({"jobs": [job.model_dump(mode="json") for job in jobs]})
        return
    console.print(_jobs_table(jobs))


@app.command()
def job(
    job_id: Annotated[str, typer.Argument(help="a job id, or the first characters of one as `status` shows them")],
    data_dir: DataDir = None,
    issues: Annotated[int, typer.Option(min=0, help="how many issues to list")] = 50,
    chunks: Annotated[
        int, typer.Option(min=0, help="also list this many of its chunks with their ranges (starts the local host)")
    ] = 0,
    verbose: Verbose = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """One job in full: state, reason, counters per stage, totals and the issues found in its file."""
    store, opened = open_job_store(_settings(data_dir))
    with opened:
        found = store.get_job(job_id) or _job_by_prefix(store, job_id)
        listed = store.list_issues(found.job_id, limit=issues) if found else []
        extractions = store.list_extractions(found.job_id) if found else []
    if found is None:
        console.print(f"[red]No job matches {job_id!r}.[/red]")
        raise typer.Exit(2)
    if output is Output.JSON:  # GET /api/jobs/{id}'s answer (chunks are a table-only extra)
        cli_ops.print_json(JobDetail(**found.model_dump(), issue_samples=listed).model_dump(mode="json"))
        return
    console.print(_job_report(found, listed))
    if extractions:
        console.print(extraction_table(extractions))
    if chunks and found.totals.chunks:
        _configure_logging(logging.INFO if verbose else logging.ERROR)
        with _local_host(data_dir):
            console.print(_chunks_table(found, app_ports().graph, chunks))


def _chunks_table(job: Job, graph: GraphSink, shown: int) -> Table:
    """The job's first chunks as the graph holds them: ordinal, the range of the file each covers, size."""
    ids = [chunk_id(job.document_id, job.version, ordinal) for ordinal in range(min(shown, job.totals.chunks))]
    known = graph.context(ids, max_relations=0).chunks
    table = Table(title=f"Chunks ({len(ids)} of {job.totals.chunks})")
    for column in ("#", "range", "entities"):
        table.add_column(column, overflow="fold", justify="right" if column != "range" else "left")
    for ordinal, id_ in enumerate(ids):
        chunk = known.get(id_)
        # A version replaced since, or deleted, is no longer in the graph: say so rather than show nothing.
        table.add_row(
            str(ordinal), chunk.locator if chunk else "(not in the graph)", str(len(chunk.entity_ids)) if chunk else ""
        )
    return table


def _job_by_prefix(store: JobStore, prefix: str) -> Job | None:
    # Local stores hold few enough jobs to scan; ids are hex, so a prefix of 8+ characters is unambiguous in practice.
    matches = [job for job in store.list_jobs(limit=100_000) if job.job_id.startswith(prefix)]
    return matches[0] if len(matches) == 1 else None


def _job_report(job: Job, issues: list[ParseIssue]) -> Table:
    report = Table(title=f"Job {job.job_id}", show_header=False)
    rows = {
        "path": job.path,
        "kind": job.kind.value,
        "state": job.state.value,
        "reason": job.reason_code or "",
        "last error": job.last_error or "",
        "version": job.version,
        "replaces version": job.base_version or "",
        "tracking id": job.tracking_id,
        "bytes": str(job.size),
        "batches expected": "" if job.batches_expected is None else str(job.batches_expected),
        "stages (done / dead-lettered)": ", ".join(
            f"{stage}: {job.counters(stage).done}/{job.counters(stage).dead_lettered}"
            for stage in Stage
            if stage in job.stages
        ),
        "totals": f"chunks {job.totals.chunks}, entities {job.totals.entities}, relations {job.totals.relations}",
        "extractor": job.extractor or "",
        "issues": str(job.issues),
        "created / updated": f"{job.created_at:%Y-%m-%d %H:%M:%S} / {job.updated_at:%Y-%m-%d %H:%M:%S} UTC",
    }
    for name, value in rows.items():
        report.add_row(name, value)
    for issue in issues:
        report.add_row(f"  {issue.locator}", f"{issue.reason_code}: {issue.detail}")
    return report


def collect_files(paths: list[Path]) -> dict[Path, str]:
    """Every regular file under the given paths, mapped to its blob name (folder name + relative path)."""
    files: dict[Path, str] = {}
    for path in paths:
        if path.is_file():
            files[path] = path.name
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                files[file] = f"{path.resolve().name}/{file.relative_to(path).as_posix()}"
    return files


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[name]}"),
        console=console,
        transient=True,
    )


def _print_summary(jobs: list[Job], elapsed: float, store_counts: dict[str, int]) -> None:
    states = Counter(job.state.value for job in jobs)
    megabytes = sum(job.size for job in jobs) / 1e6
    summary = Table(title="Ingest summary", show_header=False)
    summary.add_row("files", str(len(jobs)))
    summary.add_row("jobs", ", ".join(f"{state}: {count}" for state, count in sorted(states.items())))
    summary.add_row("chunks (this run)", str(sum(job.totals.chunks for job in jobs)))
    for name, count in store_counts.items():
        summary.add_row(f"{name} (in store)", str(count))
    summary.add_row("MB", f"{megabytes:.3f}")
    summary.add_row("seconds", f"{elapsed:.2f}")
    summary.add_row("MB/s", f"{megabytes / elapsed:.3f}" if elapsed else "-")
    console.print(_jobs_table(jobs, title="Files"))
    console.print(summary)


def _jobs_table(jobs: list[Job], title: str = "Jobs") -> Table:
    table = Table(title=title)
    table.add_column("path", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("reason", overflow="fold")
    for column in ("chunks", "entities", "relations", "issues"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("extractor", no_wrap=True)
    table.add_column("job", no_wrap=True)
    for job in jobs:
        style = {"failed": "red", "succeeded": "green", "skipped": "dim"}.get(job.state.value, "")
        table.add_row(
            job.path,
            f"[{style}]{job.state.value}[/{style}]" if style else job.state.value,
            _reason(job),
            str(job.totals.chunks),
            str(job.totals.entities),
            str(job.totals.relations),
            str(job.issues),
            job.extractor or "",
            job.job_id[:12],
        )
    return table


def _reason(job: Job) -> str:
    if job.state is JobState.SKIPPED:
        return f"{job.reason_code}"
    if job.reason_code:
        return f"{job.reason_code}: {job.last_error or ''}"[:80]
    return ""


@app.command()
def communities(
    output: OutputOption = Output.TABLE,
    shown: Annotated[int, typer.Option("--limit", min=1, help="communities shown in the table")] = 50,
    full: Annotated[bool, typer.Option("--full", help="detect every part of the graph again, from scratch")] = False,
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """Find the entity graph's communities where it changed, summarise them, write them to the graph, print them."""
    _configure_logging(logging.INFO if verbose else logging.ERROR)
    with _local_host(data_dir):
        refresh, found = run_communities(app_ports(), full=full)
    show_communities(console, refresh, found, output, shown)


@app.command()
def jobs(
    state: Annotated[JobState | None, typer.Option(help="only jobs in this state")] = None,
    since: Annotated[str | None, typer.Option(help="only jobs created at or after (ISO 8601 with offset)")] = None,
    prefix: Annotated[str | None, typer.Option(help="only jobs whose path (container/blob) starts with it")] = None,
    reason: Annotated[str | None, typer.Option(help="only jobs with this reason code")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="jobs per page")] = 50,
    cursor: Annotated[str | None, typer.Option(help="go on after a page (the cursor it printed)")] = None,
    data_dir: DataDir = None,
    verbose: Verbose = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """Jobs newest first, filtered and paged as GET /api/jobs is."""
    try:
        query = cli_ops.jobs_query(state=state, since=since, prefix=prefix, reason=reason, limit=limit, cursor=cursor)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    store, opened = open_job_store(_settings(data_dir))
    with opened:
        page = cli_ops.list_page(store, query)
    if output is Output.JSON:
        cli_ops.print_json(page.model_dump(mode="json"))
        return
    console.print(_jobs_table(page.jobs))
    if page.next_cursor:
        errors.print(f"More: --cursor {page.next_cursor}")


@app.command()
def retry(
    job_id: Annotated[str | None, typer.Argument(help="a failed job's id (or the first characters of one)")] = None,
    state: Annotated[JobState | None, typer.Option(help="retry the jobs in this state (only failed)")] = None,
    reason: Annotated[str | None, typer.Option(help="only failed jobs with this reason code")] = None,
    prefix: Annotated[str | None, typer.Option(help="only failed jobs whose path starts with it")] = None,
    data_dir: DataDir = None,
    verbose: Verbose = False,
    output: OutputOption = Output.TABLE,
) -> None:
    """Start a new attempt of a failed job, or of each document's latest failed job matching the filters, as
    uploading its file again would; the local host runs them; exits 1 if one fails again or cannot be retried."""
    by_filter = state is not None or reason is not None or prefix is not None
    if (job_id is None) == (not by_filter):
        raise typer.BadParameter("give a JOB_ID, or filters (--state failed, --reason CODE, --prefix), not both")
    if state not in (None, JobState.FAILED):
        raise typer.BadParameter("only failed jobs are retried: --state failed")
    _configure_logging(logging.INFO if verbose else logging.ERROR)
    with _local_host(data_dir) as host:
        ports = app_ports()
        if job_id is not None:
            found = ports.jobs.get_job(job_id) or _job_by_prefix(ports.jobs, job_id)
            if found is None:
                console.print(f"[red]No job matches {job_id!r}.[/red]")
                raise typer.Exit(2)
            targets = [found]
        else:
            targets = list(cli_ops.retry_candidates(ports.jobs, JobState.FAILED, reason, prefix))
        rows = [cli_ops.retry_one(job, ports) for job in targets]
        if any(row.retried for row in rows):
            host.run_until_idle(timeout=3600)
        rows = cli_ops.refreshed(rows, ports.jobs)
    if output is Output.JSON:
        cli_ops.print_json({"retries": [row.model_dump(mode="json") for row in rows]})
    else:
        console.print(cli_ops.retry_table(rows))
    if any(row.reason_code or (row.attempt and row.attempt.state is JobState.FAILED) for row in rows):
        raise typer.Exit(1)


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    app()


def _terminate(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (kill, systemd, containers) takes the path of Ctrl-C: the host stops, and the servers it started."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut that stop short; SIGKILL still can
    raise KeyboardInterrupt


@app.command()
def bulk(
    action: Annotated[
        Action, typer.Argument(help="reprocess or delete: start a run; status or cancel: a run given by its id")
    ],
    bulk_id: Annotated[str | None, typer.Argument(help="the run's id (status, cancel)")] = None,
    prefix: Annotated[str | None, typer.Option(help='blobs whose name starts with it ("" selects all)')] = None,
    modified_since: Annotated[str | None, typer.Option(help="blobs modified since, ISO 8601 with its zone")] = None,
    path: Annotated[list[str] | None, typer.Option("--path", help="this blob (repeat the option for more)")] = None,
    container: Annotated[str | None, typer.Option(help="the incoming container (the default)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list and count only")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="follow the run until it ends")] = True,
    url: Annotated[str | None, typer.Option(help="a running host (default: start the local one)")] = None,
    key: Annotated[str | None, typer.Option(help="its function key (with --url)")] = None,
    output: OutputOption = Output.TABLE,
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """Reprocess or delete many documents at once (a Durable orchestration), show a run's progress, or cancel it."""
    _configure_logging(logging.INFO if verbose else logging.ERROR)
    body = request_body(
        action, prefix=prefix, modified_since=modified_since, paths=path, container=container, dry_run=dry_run
    )
    if url:
        raise typer.Exit(
            bulk_command(BulkApi(url, key or ""), action, bulk_id, body, wait=wait, output=output, console=console)
        )
    with _local_host(data_dir, serve_http=True) as host:
        host.start()
        assert host.http is not None
        keys = load_or_create_keys(host.settings.data_dir, host.app_settings)
        api = BulkApi(host.http.base_url, keys.function)
        code = bulk_command(api, action, bulk_id, body, wait=wait, output=output, console=console)
    raise typer.Exit(code)


@app.command()
def trace(
    tracking_id: Annotated[str, typer.Argument(help="a tracking id (trace id), or a job id or its first characters")],
    data_dir: DataDir = None,
    output: OutputOption = Output.TABLE,
    events: Annotated[bool, typer.Option("--events", help="the job store's stage events, even with spans")] = False,
) -> None:
    """One file's trace: the span tree from the local exporter (data_dir/telemetry) when it has it, else the stage
    events the job store recorded (as GET /api/trace; `-o json` prints that answer)."""
    settings = _settings(data_dir)
    store, opened = open_job_store(settings)
    with opened:
        code = show_trace(
            store, settings.data_dir / "telemetry", tracking_id, events=events, output=output, console=console
        )
    raise typer.Exit(code)


@app.command()
def deadletters(
    first: Annotated[str | None, typer.Argument(metavar="QUEUE|replay", help="a queue to list, or replay")] = None,
    queue: Annotated[str | None, typer.Argument(metavar="QUEUE", help="replay: which queue")] = None,
    reason: Annotated[str | None, typer.Option(help="replay: only this DeadLetterReason or reason code")] = None,
    job: Annotated[str | None, typer.Option("--job", help="replay: only this job's messages")] = None,
    limit: Annotated[int, typer.Option(help="replay: at most this many messages")] = 100,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="replay: report what would move, move nothing")] = False,
    url: Annotated[str | None, typer.Option(help="a running host (default: the local one, opened here)")] = None,
    key: Annotated[str | None, typer.Option(help="its function key (with --url)")] = None,
    output: OutputOption = Output.TABLE,
    data_dir: DataDir = None,
    verbose: Verbose = False,
) -> None:
    """List the stage queues' dead letters (`deadletters [QUEUE]`), or replay them (`deadletters replay QUEUE`)."""
    try:
        invocation = cli_deadletters.parse(first, queue, reason=reason, job_id=job, limit=limit, dry_run=dry_run)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    _configure_logging(logging.INFO if verbose else logging.ERROR)
    if url:
        source = cli_deadletters.ApiSource(url, key or "")
        raise typer.Exit(cli_deadletters.run(source, invocation, output=output, console=console))
    with _local_host(data_dir) as host:
        local = cli_deadletters.LocalSource(app_ports())
        code = cli_deadletters.run(
            local, invocation, output=output, console=console, after_replay=lambda: host.run_until_idle(timeout=3600)
        )
    raise typer.Exit(code)


@app.command()
def notifications(
    action: Annotated[NotificationAction, typer.Argument(help="list the undelivered events, or resend them")],
    data_dir: DataDir = None,
    output: OutputOption = Output.TABLE,
) -> None:
    """Completion events that were not delivered (kept in the work container): list them, or send them again
    (exits 1 if one still fails, 2 with no notifier configured)."""
    _configure_logging(logging.ERROR)
    with _local_host(data_dir):
        code = notifications_command(action, app_ports(), output, console=console, errors=errors)
    raise typer.Exit(code)


if __name__ == "__main__":
    main()
