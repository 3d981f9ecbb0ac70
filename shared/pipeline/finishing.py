"""A job's end, counted once: by the one call that moved it to its terminal state."""

from shared.domain import Job
from shared.pipeline.job_events import job_ended
from shared.ports import Ports


def finish_if_complete(job_id: str, ports: Ports) -> Job | None:
    """`JobStore.finish_if_complete`, with the job's end counted and announced when this call won."""
    finished = ports.jobs.finish_if_complete(job_id)
    if finished is not None:
        job_ended(finished, ports)
    return finished
