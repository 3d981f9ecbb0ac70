"""Fabricated answers of the bulk activities, for replaying the orchestrator without any store: a container of
numbered blobs listed in pages, item outcomes by a fixed rule, a summary made of what the items answered."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.bulk.orchestrator import BEGIN, COMMUNITIES, DOCUMENTS_SETTLED, FINISH, ITEM, LIST_PAGE, SETTLE_BATCH


def outcome_of(path: str) -> str:
    """Every 10th blob was skipped, every 25th failed, the rest done (a fixed, checkable mix)."""
    number = int(path.rsplit("-", 1)[1].split(".")[0])
    if number % 25 == 24:
        return "failed"
    return "skipped" if number % 10 == 9 else "done"


@dataclass
class FakeBulk:
    blobs: int
    failing: set[str] = field(default_factory=set)  # these raise on every attempt (a dependency down)
    answered: Counter[str] = field(default_factory=Counter)
    running_checks: int = 0  # checks of the document jobs that find one still running before all have ended
    communities_fail: bool = False  # the communities refresh raises on every attempt (the graph down)
    checks: list[dict[str, Any]] = field(default_factory=list)  # the inputs of every check, in order

    def paths(self) -> list[str]:
        return [f"docs/blob-{number:06d}.txt" for number in range(self.blobs)]

    def activities(self) -> dict[str, Callable[[Any], Any]]:
        return {
            BEGIN: lambda data: {"bulk_id": data["bulk_id"]},
            LIST_PAGE: self.list_page,
            ITEM: self.item,
            SETTLE_BATCH: self.settle,
            FINISH: self.finish,
            DOCUMENTS_SETTLED: self.documents_settled,
            COMMUNITIES: self.communities,
        }

    def documents_settled(self, data: dict[str, Any]) -> dict[str, Any]:
        self.checks.append(data)
        settled = len(self.checks) > self.running_checks
        # Each check that finds a job running has seen a few more end: it passes on the last path it saw end.
        after = f"docs/blob-{len(self.checks):06d}.txt"
        return {"settled": settled, "after": after, "waiting_on": None if settled else f"job-{len(self.checks)}"}

    def communities(self, data: dict[str, Any]) -> dict[str, Any]:
        if self.communities_fail:
            raise RuntimeError("graph.unavailable: the graph is down")
        counts = {"entities": 12, "relations": 9, "components": 2, "components_changed": 2, "communities": 3}
        times = {"seconds": 0.5, "read_seconds": 0.1, "detect_seconds": 0.1, "summarise_seconds": 0.2}
        return counts | times | {
            "levels": 1, "written": 3, "summarised": 3, "unchanged": 0, "deleted": 0, "summarizer": "extractive",
            "chat_answers": 0, "chat_fallbacks": 0, "input_tokens": 0, "output_tokens": 0, "write_seconds": 0.1,
        }  # fmt: skip

    def list_page(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["paths"] is not None:
            chosen = [path for path in data["paths"] if path.startswith(data["prefix"])]
            return {"paths": chosen, "listed": len(chosen), "listed_bytes": 10 * len(chosen), "continuation": None}
        start = int(data["continuation"] or 0)
        page = self.paths()[start : start + data["size"]]
        after = start + len(page)
        token = str(after) if after < self.blobs else None
        return {"paths": page, "listed": len(page), "listed_bytes": 10 * len(page), "continuation": token}

    def item(self, data: dict[str, Any]) -> str:
        if data["path"] in self.failing:
            raise RuntimeError(f"blob.unavailable: {data['path']}")
        outcome = outcome_of(data["path"])
        self.answered[outcome] += 1
        return outcome

    def settle(self, data: dict[str, Any]) -> dict[str, Any]:
        outcomes = ["failed" if path in self.failing else outcome_of(path) for path in data["paths"]]
        return {"outcomes": outcomes}

    def finish(self, data: dict[str, Any]) -> dict[str, Any]:
        return {"bulk_id": data["bulk_id"], "counts": dict(self.answered)}


def expected_counts(paths: list[str], failing: frozenset[str] | set[str] = frozenset()) -> dict[str, int]:
    outcomes = Counter("failed" if path in failing else outcome_of(path) for path in paths)
    return {name: outcomes.get(name, 0) for name in ("done", "failed", "skipped")}
