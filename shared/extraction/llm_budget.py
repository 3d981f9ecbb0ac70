"""The LLM extractor's token budget, shared by every worker through the job store: per minute (for a deployment,
the service's own rate limit measured the service's way) and per job (a cost cap).

A call reserves its worst case first (the prompt's tokens plus the output cap, which is how Azure OpenAI counts a
request against a deployment's tokens-per-minute quota), atomically in the job store, and gives back what it did
not use once the answer says what it cost. A reservation that does not fit is refused whole: the batch goes to the
offline extractor, never over the budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.domain import Reason
from shared.ports import JobStore

MINUTE = 60


class BudgetSpentError(Exception):
    """A reservation did not fit; `reason` says which budget (`llm.minute_budget_spent`, `llm.job_budget_spent`)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Reservation:
    tokens: int
    keys: tuple[tuple[str, datetime | None], ...]  # the counters it was added to, with their expiry


class TokenBudget:
    """Reserve before a call, settle after it. A limit of 0 means no limit of that kind."""

    def __init__(
        self,
        jobs: JobStore,
        model: str,
        *,
        per_minute: int,
        per_job: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jobs = jobs
        self.model = model
        self.per_minute = per_minute
        self.per_job = per_job
        self._clock = clock

    def reserve(self, tokens: int, job_id: str | None) -> Reservation:
        """Add `tokens` to this minute's and the job's counters, or to neither (BudgetSpentError)."""
        taken: list[tuple[str, datetime | None]] = []
        for key, limit, expires, reason in self._counters(job_id):
            if self._jobs.reserve_tokens(key, tokens, limit, expires):
                taken.append((key, expires))
                continue
            for done, done_expires in taken:  # the other budget said no: give back what this one took
                self._jobs.adjust_tokens(done, -tokens, done_expires)
            raise BudgetSpentError(reason, f"{tokens} tokens do not fit in {limit} ({key})")
        return Reservation(tokens, tuple(taken))

    def settle(self, reservation: Reservation, used: int) -> None:
        """Replace the reservation by what the call really used (0: nothing, it failed before the model ran)."""
        if used == reservation.tokens:
            return
        for key, expires in reservation.keys:
            self._jobs.adjust_tokens(key, used - reservation.tokens, expires)

    def _counters(self, job_id: str | None) -> list[tuple[str, int, datetime | None, Reason]]:
        counters: list[tuple[str, int, datetime | None, Reason]] = []
        if self.per_minute:
            minute = int(self._clock()) // MINUTE
            expires = datetime.fromtimestamp((minute + 2) * MINUTE, UTC)  # kept a minute past its end, then dropped
            counters.append(
                (f"llm-minute:{self.model}:{minute}", self.per_minute, expires, Reason.LLM_MINUTE_BUDGET_SPENT)
            )
        if self.per_job and job_id is not None:
            counters.append((f"llm-job:{job_id}", self.per_job, None, Reason.LLM_JOB_BUDGET_SPENT))
        return counters
