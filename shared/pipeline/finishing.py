"""A job's end, counted once: by the one call that moved it to its terminal state."""

from shared.domain import Job
from shared.ports import Ports
from shared.telemetry import metrics


def finish_if_complete(job_id: str, ports: Ports) -> Job | None:
    """`JobStore.finish_if_complete`, with the job's end counted when this call won."""
    finished = ports.jobs.finish_if_complete(job_id)
    if finished is not None:
        metrics.job_ended(finished.kind, finished.state, finished.size)
    return finished
