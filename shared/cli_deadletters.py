"""`tributary deadletters`: list a stage queue's dead letters, or replay them, on the local host's broker (the command
opens it) or through a deployed app's HTTP API (`--url`, `--key`), answering what GET/POST /api/deadletters answer.
The command itself is the thin `deadletters` at the end of shared/cli.py; the rules are shared/pipeline/deadletters.py.

    tributary deadletters [QUEUE]                  every stage queue (or one) counted by reason, with samples
    tributary deadletters replay QUEUE [--reason R] [--job J] [--limit N] [--dry-run]

Exit codes: 0 done (what was held or skipped is in the report), 2 the request was refused (an unknown queue, a bus
without dead letters, bad options: the problem is printed).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from shared.cli_ops import ApiRefusedError, Output, call_api, print_json
from shared.domain import Stage, TributaryError
from shared.pipeline.deadletters import (
    DeadLetterSummary,
    ReplayReport,
    ReplayRequest,
    list_dead_letters,
    replay_dead_letters,
)
from shared.ports import Ports

REPLAY = "replay"
LISTED_STAGES = (Stage.ENRICH, Stage.EXTRACT, Stage.GRAPH, Stage.VECTOR, Stage.CLEANUP, Stage.DELETE)


class DeadLetterRefusedError(RuntimeError):
    """The request was refused: its reason code and detail (a problem document's, or the pipeline's error's)."""

    def __init__(self, reason_code: str, detail: str) -> None:
        super().__init__(f"{reason_code}: {detail}")
        self.reason_code = reason_code
        self.detail = detail


@dataclass(frozen=True)
class Invocation:
    """What the command line asked for: a listing (queue None: every stage queue) or a replay of one queue."""

    replay: bool
    queue: str | None
    request: ReplayRequest | None = None


def parse(
    first: str | None,
    second: str | None,
    *,
    reason: str | None,
    job_id: str | None,
    limit: int,
    dry_run: bool,
) -> Invocation:
    """The invocation from the positional arguments and options; ValueError says what is wrong."""
    if first == REPLAY:
        if not second:
            raise ValueError("replay needs the QUEUE: tributary deadletters replay graph")
        try:
            request = ReplayRequest(reason=reason, job_id=job_id, limit=limit, dry_run=dry_run)
        except ValidationError as error:
            raise ValueError("; ".join(f"{e['loc'][0]}: {e['msg']}" for e in error.errors())) from error
        return Invocation(replay=True, queue=second, request=request)
    if second is not None:
        raise ValueError(f"one QUEUE at most (to replay: tributary deadletters replay {first})")
    if reason is not None or job_id is not None or dry_run:
        raise ValueError("--reason, --job and --dry-run go with replay: tributary deadletters replay QUEUE ...")
    return Invocation(replay=False, queue=first)


class DeadLetterSource:
    """Where the dead letters are read and replayed: the local ports, or a deployed app's API."""

    def summary(self, queue: str) -> DeadLetterSummary:
        raise NotImplementedError

    def replay(self, queue: str, request: ReplayRequest) -> ReplayReport:
        raise NotImplementedError


@dataclass(frozen=True)
class LocalSource(DeadLetterSource):
    ports: Ports

    def summary(self, queue: str) -> DeadLetterSummary:
        try:
            return list_dead_letters(queue, self.ports)
        except TributaryError as error:
            raise DeadLetterRefusedError(error.reason_code, error.detail) from error

    def replay(self, queue: str, request: ReplayRequest) -> ReplayReport:
        try:
            return replay_dead_letters(queue, request, self.ports)
        except TributaryError as error:
            raise DeadLetterRefusedError(error.reason_code, error.detail) from error


@dataclass(frozen=True)
class ApiSource(DeadLetterSource):
    """The dead-letter endpoints of one host: `base_url` up to and without `/api`, a function key."""

    base_url: str
    key: str
    timeout: float = 120.0

    def summary(self, queue: str) -> DeadLetterSummary:
        return DeadLetterSummary.model_validate(self._call("GET", f"/api/deadletters/{_quoted(queue)}"))

    def replay(self, queue: str, request: ReplayRequest) -> ReplayReport:
        body = request.model_dump(mode="json")
        return ReplayReport.model_validate(self._call("POST", f"/api/deadletters/{_quoted(queue)}/replay", body))

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return call_api(self.base_url, self.key, method, path, body, timeout=self.timeout)
        except ApiRefusedError as error:
            problem = error.document()
            problem = problem if isinstance(problem, dict) else {}
            raise DeadLetterRefusedError(
                str(problem.get("reason_code", f"http.{error.status}")), str(problem.get("detail", error.reason))
            ) from error


def _quoted(queue: str) -> str:
    return urllib.parse.quote(queue, safe="")


def run(
    source: DeadLetterSource,
    invocation: Invocation,
    *,
    output: Output,
    console: Console,
    after_replay: Callable[[], None] | None = None,
) -> int:
    """Carry out the invocation and print its answer; returns the exit code. `after_replay` runs once messages were
    resent (the local host then processes them before the command ends)."""
    try:
        if invocation.replay:
            assert invocation.queue is not None
            assert invocation.request is not None
            report = source.replay(invocation.queue, invocation.request)
            if report.replayed and not report.dry_run and after_replay is not None:
                after_replay()
            show_report(report, output, console)
        else:
            queues = [invocation.queue] if invocation.queue else [stage.value for stage in LISTED_STAGES]
            show_summaries([source.summary(queue) for queue in queues], output, console, single=bool(invocation.queue))
    except DeadLetterRefusedError as refused:
        if output is Output.JSON:
            print_json({"reason_code": refused.reason_code, "detail": refused.detail})
        else:
            console.print(f"[red]{refused.reason_code}[/red]: {refused.detail}")
        return 2
    return 0


def show_summaries(summaries: list[DeadLetterSummary], output: Output, console: Console, *, single: bool) -> None:
    if output is Output.JSON:
        print_json(
            summaries[0].model_dump(mode="json")
            if single
            else {"queues": [summary.model_dump(mode="json") for summary in summaries]}
        )
        return
    overview = Table(title="Dead letters by queue")
    for column in ("queue", "stage", "dead letters", "by reason", "by reason code"):
        overview.add_column(column)
    for summary in summaries:
        count = f"{summary.scanned}{'+' if summary.truncated else ''}"
        overview.add_row(
            summary.queue, summary.stage, count, _counts(summary.by_reason), _counts(summary.by_reason_code)
        )
    console.print(overview)
    samples = [(summary.queue, sample) for summary in summaries for sample in summary.samples]
    if not samples:
        return
    table = Table(title="Oldest dead letters (samples)")
    for column in ("queue", "message", "job", "stage/batch", "enqueued (UTC)", "deliveries", "reason", "description"):
        table.add_column(column, overflow="fold")
    for queue, sample in samples:
        table.add_row(
            queue,
            sample.message_id[:12],
            (sample.job_id or "")[:12],
            f"{sample.stage or '?'}/{'' if sample.batch is None else sample.batch}",
            sample.enqueued_time.strftime("%Y-%m-%d %H:%M:%S"),
            str(sample.delivery_count),
            sample.reason_code or sample.dead_letter_reason or "",
            (sample.description or "")[:80],
        )
    console.print(table)


def show_report(report: ReplayReport, output: Output, console: Console) -> None:
    if output is Output.JSON:
        print_json(report.model_dump(mode="json"))
        return
    verb = "would replay" if report.dry_run else "replayed"
    window = f"{report.duplicate_window_seconds:g} s"
    if report.window_assumed:
        window += " (assumed: the queue's own is unreadable)"
    console.print(
        f"{report.queue}: {report.scanned} read, {report.matched} selected; {verb} {report.replayed}, held "
        f"{report.held}, skipped {report.skipped}. Duplicate detection window {window}."
    )
    if not report.items:
        return
    table = Table()
    for column in ("message", "job", "stage/batch", "outcome", "reason", "detail"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        detail = item.detail
        if item.replayable_at is not None:
            detail = f"replayable at {item.replayable_at.strftime('%Y-%m-%d %H:%M:%S')} UTC"
        table.add_row(
            item.message_id[:12],
            (item.job_id or "")[:12],
            f"{item.stage or '?'}/{'' if item.batch is None else item.batch}",
            item.outcome.value,
            item.reason_code or "",
            detail,
        )
    console.print(table)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name or '(none)'}: {n}" for name, n in counts.items()) or "-"
