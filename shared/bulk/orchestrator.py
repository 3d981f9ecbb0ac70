"""The bulk orchestration: list a page of blobs, run them in bounded batches, pass on to the next page.

Replayed by Durable from its history on every wake-up, so it obeys the determinism rules: no clock, uuid, I/O or
settings here (`context.current_utc_datetime` is the time, the input carries every tunable); activities do all I/O.

Why `continue_as_new` after every page rather than sub-orchestrations. The history of an orchestration holds two
events per activity (scheduled, completed) and is replayed whole at every wake-up, so its cost grows with the square
of its length. One history for a run of 100,000 blobs would hold ~200,000 events and, in the worst case of one
wake-up per completion, replay ~10^10 of them. Here one generation lists one page (500 blobs by default) and runs it
in batches of 16: its history stays at ~1,000 events (2 per blob, plus the listing and ~2 per batch), replayed at
most ~500 times (~250,000 event replays per page, ~500 per blob) whatever the size of the run; the input passed on
is the next page's token and the counters, under 1 KB. Sub-orchestrations per page would bound each child the same
way, but the parent still grows by 4 events per page (unbounded for an unbounded container), and a terminate does
not reach sub-orchestrations: "cancel = terminate" would leave them running. With `continue_as_new` the run is one
instance id from start to end, and terminating it stops it.

Once every blob ran, a run that refreshes communities waits for the document jobs it started (ingest only queued
them: the stages still run): an activity checks them, a durable timer spaces the checks, up to a time limit; then
one activity refreshes the communities, once for the whole run. Each check adds eight events to the last
generation's history (the activity, the timer, two episodes' markers), so the limit bounds it (two hours at 30 s:
240 checks, ~2,000 events, in the one generation that waits).

A batch is fanned out with `task_all`, each blob an activity retried on transient errors (`RetryOptions`). Durable's
`task_all` fails as soon as one child fails for good, losing the others' results: the batch is then settled by one
activity that runs again (as the last attempt) every blob of it. Running a blob twice is harmless: the job it starts
and the item it records have deterministic ids.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from shared.bulk.models import (
    BatchInput,
    BatchOutcomes,
    BulkBegin,
    BulkFinish,
    BulkProgress,
    BulkRun,
    CommunitiesInput,
    ItemInput,
    ListedPage,
    ListPageInput,
    SettleAnswer,
    SettleInput,
)
from shared.communities.refresh import CommunityRefresh
from shared.domain.bulk_jobs import ItemOutcome

# The orchestrator's and the activities' names: the function names in functions/bulk.py.
ORCHESTRATOR = "bulk_orchestrator"
BEGIN = "bulk_begin"
LIST_PAGE = "bulk_list_page"
ITEM = "bulk_item"
SETTLE_BATCH = "bulk_settle_batch"
FINISH = "bulk_finish"
DOCUMENTS_SETTLED = "bulk_documents_settled"
COMMUNITIES = "bulk_communities"

# Transient errors (a dependency down): 3 attempts, 5 s apart, before a blob counts as given up.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)


def bulk_orchestrator(context: df.DurableOrchestrationContext) -> Generator[Any, Any, dict[str, Any] | None]:
    """One generation: one page. Returns the summary once the last page ran; else continues as new."""
    run = BulkRun.model_validate(context.get_input(expected_type=dict))
    progress = run.progress.model_copy(update={"dry_run": run.dry_run})
    if run.page == 0:
        begin = BulkBegin(
            bulk_id=run.bulk_id,
            operation=run.operation,
            container=run.container,
            selector=run.selector,
            dry_run=run.dry_run,
            started_at=context.current_utc_datetime,
        )
        yield context.call_activity_with_retry(BEGIN, RETRY, _json(begin), expected_type=dict)
        context.set_custom_status(_status(progress))

    explicit = run.paths[: run.page_size] if run.paths is not None else None
    listing = ListPageInput(
        bulk_id=run.bulk_id,
        page=run.page,
        container=run.container,
        prefix=run.prefix,
        modified_since=run.modified_since,
        paths=explicit,
        continuation=run.continuation,
        size=run.page_size,
    )
    page = ListedPage.model_validate(
        (yield context.call_activity_with_retry(LIST_PAGE, RETRY, _json(listing), expected_type=dict))
    )
    remaining = run.paths[run.page_size :] if run.paths is not None else None
    last = not remaining if run.paths is not None else page.continuation is None
    progress = progress.listed(page, last=last)
    context.set_custom_status(_status(progress))

    if not run.dry_run:
        for start in range(0, len(page.paths), run.batch_size):
            batch = page.paths[start : start + run.batch_size]
            outcomes = yield from _run_batch(context, run, batch)
            progress = progress.ran(outcomes)
            context.set_custom_status(_status(progress))

    if last:
        if run.communities and not run.dry_run and progress.done > 0:
            progress = yield from _await_documents(context, run, progress)
            progress = yield from _refresh_communities(context, run, progress)
        finish = BulkFinish(bulk_id=run.bulk_id)
        summary = yield context.call_activity_with_retry(FINISH, RETRY, _json(finish), expected_type=dict)
        return dict(summary)
    following = run.model_copy(
        update={"page": run.page + 1, "continuation": page.continuation, "paths": remaining, "progress": progress}
    )
    context.continue_as_new(_next_input(following))
    return None


def _run_batch(
    context: df.DurableOrchestrationContext, run: BulkRun, batch: list[str]
) -> Generator[Any, Any, list[ItemOutcome]]:
    """Each blob of the batch as an activity, all at once; the outcomes in the batch's order."""
    tasks = [
        context.call_activity_with_retry(
            ITEM,
            RETRY,
            _json(ItemInput(bulk_id=run.bulk_id, operation=run.operation, container=run.container, path=p)),
            expected_type=str,
        )
        for p in batch
    ]
    try:
        results = yield context.task_all(tasks)
        return [ItemOutcome(result) for result in results]
    except Exception:  # a blob failed past its retries: task_all gave up on the others' results
        settle = BatchInput(bulk_id=run.bulk_id, operation=run.operation, container=run.container, paths=batch)
        settled = yield context.call_activity_with_retry(SETTLE_BATCH, RETRY, _json(settle), expected_type=dict)
        return BatchOutcomes.model_validate(settled).outcomes


def _await_documents(
    context: df.DurableOrchestrationContext, run: BulkRun, progress: BulkProgress
) -> Generator[Any, Any, BulkProgress]:
    """Check the run's document jobs until all ended or the time limit passed; the progress says which."""
    deadline = context.current_utc_datetime + timedelta(seconds=run.settle_timeout_seconds)
    after: str | None = None
    while True:
        check = SettleInput(bulk_id=run.bulk_id, after=after)
        answer = SettleAnswer.model_validate(
            (yield context.call_activity_with_retry(DOCUMENTS_SETTLED, RETRY, _json(check), expected_type=dict))
        )
        if answer.settled or context.current_utc_datetime >= deadline:
            progress = progress.model_copy(update={"documents": "ended" if answer.settled else "timed_out"})
            context.set_custom_status(_status(progress))
            return progress
        if progress.documents is None:
            progress = progress.model_copy(update={"documents": "waiting"})
            context.set_custom_status(_status(progress))
        after = answer.after
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=run.settle_poll_seconds))


def _refresh_communities(
    context: df.DurableOrchestrationContext, run: BulkRun, progress: BulkProgress
) -> Generator[Any, Any, BulkProgress]:
    """One refresh for the run. Its failure past the retries is reported, not fatal: every blob ran, and
    `tributary communities` can refresh later."""
    try:
        refresh = yield context.call_activity_with_retry(
            COMMUNITIES, RETRY, _json(CommunitiesInput(bulk_id=run.bulk_id)), expected_type=dict
        )
        progress = progress.model_copy(update={"communities": CommunityRefresh.model_validate(refresh)})
    except Exception as error:
        progress = progress.model_copy(update={"communities_error": str(error)[:500]})
    context.set_custom_status(_status(progress))
    return progress


def _status(progress: BulkProgress) -> dict[str, Any]:
    """The custom status: the progress without the end-of-run fields a run has not reached (or never has)."""
    return dict(progress.model_dump(mode="json", exclude_none=True))


def _next_input(run: BulkRun) -> dict[str, Any]:
    """The next generation's input. Fields added to the run since it may have started are left out at their
    defaults, so a run that does not use them passes on what it did before they existed: an instance in flight
    across a deployment replays its recorded history unchanged."""
    data = _json(run) | {"progress": _status(run.progress)}
    for name in ("communities", "settle_poll_seconds", "settle_timeout_seconds"):
        if data[name] == BulkRun.model_fields[name].default:
            del data[name]
    return data


def _json(model: Any) -> dict[str, Any]:
    """An activity's input or the custom status as plain JSON values (the history stores them as JSON text)."""
    return dict(model.model_dump(mode="json"))
