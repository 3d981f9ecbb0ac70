"""Run one queued batch through its stage with the ordering that makes redelivery harmless (DESIGN.md §3).

effects (idempotent) → send downstream (deterministic ids) → record the stage marker (insert-if-absent; counters
move only when it is new) → finish the job if this was the last sink batch → the caller settles the message.
"""

import time
from collections.abc import Callable

from shared.domain import (
    SINK_STAGES,
    TERMINAL_STATES,
    BatchOutcome,
    BatchPayload,
    DocumentRef,
    Envelope,
    Job,
    JobState,
    PermanentError,
    Reason,
    Stage,
    StageResult,
)
from shared.pipeline import batch_context, cleanup, delete, enrich, extract, graph_sink, vector_sink
from shared.pipeline.envelopes import make_envelope, open_payload
from shared.pipeline.finishing import finish_if_complete
from shared.pipeline.job_events import job_ended
from shared.pipeline.outputs import StageOutput
from shared.ports import Ports
from shared.telemetry import current_traceparent, metrics

Handler = Callable[[BatchPayload, DocumentRef, Ports], StageOutput]

HANDLERS: dict[Stage, Handler] = {
    Stage.ENRICH: enrich.handle,
    Stage.EXTRACT: extract.handle,
    Stage.GRAPH: graph_sink.handle,
    Stage.VECTOR: vector_sink.handle,
    Stage.CLEANUP: cleanup.handle,
    Stage.DELETE: delete.handle,
}

NEXT_STAGES: dict[Stage, tuple[Stage, ...]] = {
    Stage.PARSE: (Stage.ENRICH,),
    Stage.ENRICH: (Stage.EXTRACT,),
    Stage.EXTRACT: (Stage.GRAPH, Stage.VECTOR),
    Stage.GRAPH: (),
    Stage.VECTOR: (),
    Stage.CLEANUP: (),
    Stage.DELETE: (),
}


def process_message(envelope: Envelope, ports: Ports) -> StageResult:
    """Run the envelope's stage; raises PermanentError or TransientError for the host to settle."""
    job = ports.jobs.get_job(envelope.job_id)
    if job is None:
        raise PermanentError(Reason.MESSAGE_UNKNOWN_JOB, envelope.job_id)
    payload = open_payload(envelope, ports)
    started = time.perf_counter()
    with batch_context.running(envelope.job_id, envelope.batch):  # extract accounts per job batch
        output = HANDLERS[envelope.stage](payload, envelope.document, ports)
    handler_ms = (time.perf_counter() - started) * 1000

    sent = [send_downstream(envelope, next_stage, output.payload, ports) for next_stage in NEXT_STAGES[envelope.stage]]
    if output.payload.extractor and envelope.stage is Stage.EXTRACT:
        ports.jobs.set_extractor(envelope.job_id, output.payload.extractor)
    marker_new = ports.jobs.record_batch(
        envelope.job_id,
        envelope.stage,
        envelope.batch,
        BatchOutcome.DONE,
        output.counts,
        message_id=envelope.message_id,
        duration_ms=handler_ms,
    )
    if marker_new and envelope.stage is Stage.GRAPH:
        # Counted with the job store's counters, once per batch whatever the redeliveries.
        metrics.graph_written(output.counts.entities, output.counts.relations)
    finished = _finish(envelope, ports)
    if envelope.stage in SINK_STAGES:
        # The winner sends the clean-up. A sink message of a job that had already succeeded when it arrived (the
        # redelivery after a crash right after the win) sends it again: same MessageId, and clean-up is idempotent.
        settled = finished or (job if job.state is JobState.SUCCEEDED else None)
        if settled is not None:
            send_cleanup(envelope, settled, ports)
    return StageResult(
        job_id=envelope.job_id,
        stage=envelope.stage,
        batch=envelope.batch,
        sent=sent,
        marker_new=marker_new,
        job_finished=finished.state if finished else None,
    )


def _finish(envelope: Envelope, ports: Ports) -> Job | None:
    """The job, when this message was the last it waited for and this call finished it (exactly one caller wins)."""
    if envelope.stage in SINK_STAGES:
        return finish_if_complete(envelope.job_id, ports)
    if envelope.stage is not Stage.DELETE:
        return None
    # One message does the whole delete.
    if not ports.jobs.transition(envelope.job_id, JobState.SUCCEEDED, allowed_from={JobState.PROCESSING}):
        return None
    finished = ports.jobs.get_job(envelope.job_id)
    if finished is not None:
        job_ended(finished, ports)
    return finished


def send_downstream(
    envelope: Envelope, stage: Stage, payload: BatchPayload, ports: Ports, *, batch: int | None = None
) -> str:
    """Send the payload on to `stage` (as the same batch unless told); returns the deterministic message id."""
    next_envelope = make_envelope(
        job_id=envelope.job_id,
        document=envelope.document,
        stage=stage,
        batch=envelope.batch if batch is None else batch,
        payload=payload,
        tracking_id=envelope.tracking_id,
        traceparent=current_traceparent() or envelope.traceparent,
        ports=ports,
    )
    ports.bus.send(ports.settings.queues[stage], [next_envelope])
    return next_envelope.message_id


def version_to_remove(job: Job, committed: str | None) -> str | None:
    """Once `job` succeeded: the version no reader will ever be served again, if any.

    The job committed (its version is the document's): the version it replaced goes. The job lost the race to
    another one that committed first: its own version goes, it will never be served.
    """
    if committed == job.version:
        return job.base_version if job.base_version not in (None, job.version) else None
    return job.version


def send_cleanup(envelope: Envelope, job: Job, ports: Ports) -> str | None:
    """Send the clean-up of the version `job` made obsolete; returns its message id (None when nothing goes)."""
    version = version_to_remove(job, ports.jobs.committed_version(job.document_id))
    if version is None:
        return None
    return send_downstream(
        envelope.model_copy(update={"document": envelope.document.model_copy(update={"version": version})}),
        Stage.CLEANUP,
        BatchPayload(chunks=[]),
        ports,
        batch=0,
    )


def record_dead_letter(envelope: Envelope, reason_code: str, detail: str, ports: Ports) -> None:
    """Account for a batch that will never complete, and fail its job with the reason."""
    ports.jobs.record_batch(
        envelope.job_id,
        envelope.stage,
        envelope.batch,
        BatchOutcome.DEAD_LETTERED,
        reason_code=reason_code,
        message_id=envelope.message_id,
    )
    metrics.dead_lettered(envelope.stage, reason_code)
    failed = ports.jobs.transition(
        envelope.job_id,
        JobState.FAILED,
        allowed_from=set(JobState) - TERMINAL_STATES,
        reason_code=reason_code,
        last_error=f"{envelope.stage} batch {envelope.batch}: {detail}"[:2000],
    )
    job = ports.jobs.get_job(envelope.job_id) if failed else None
    if job is not None:
        job_ended(job, ports)
