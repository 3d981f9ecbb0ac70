"""Fabricated answers of the bulk activities, for replaying the orchestrator without any store: a container of
numbered blobs listed in pages, item outcomes by a fixed rule, a summary made of what the items answered."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.bulk.orchestrator import BEGIN, FINISH, ITEM, LIST_PAGE, SETTLE_BATCH


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

    def paths(self) -> list[str]:
        return [f"docs/blob-{number:06d}.txt" for number in range(self.blobs)]

    def activities(self) -> dict[str, Callable[[Any], Any]]:
        return {
            BEGIN: lambda data: {"bulk_id": data["bulk_id"]},
            LIST_PAGE: self.list_page,
            ITEM: self.item,
            SETTLE_BATCH: self.settle,
            FINISH: self.finish,
        }

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
