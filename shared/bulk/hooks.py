"""What runs once a bulk run has finished (from its last activity, never from the orchestrator)."""

from __future__ import annotations

import logging

from shared.bulk.models import BulkSummary
from shared.ports import Ports

log = logging.getLogger(__name__)


def after_bulk_run(summary: BulkSummary, ports: Ports) -> None:
    """The hook for work that follows a whole run rather than each document: graph communities.

    Communities summarise the graph as a whole, so refreshing them once per run beats once per document. Another
    piece of work provides `refresh_communities(ports)`; when it lands, call it here for a run that changed the graph
    (not a dry run, at least one blob done). Until then this only says that a refresh would be due.
    """
    if summary.dry_run or summary.counts.done == 0:
        return
    log.info("bulk run %s changed %d documents: a communities refresh is due", summary.bulk_id, summary.counts.done)
