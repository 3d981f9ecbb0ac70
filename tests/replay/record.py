"""Record the reference history the replay tests hold the orchestrator to: `python -m tests.replay.record`.

Recorded once from the orchestrator as it was when committed; a later change that an instance in flight could not
replay (other activities, other inputs, another order) then fails tests/replay/test_bulk_orchestrator.py. Record
again only for a change made on purpose, knowing that instances in flight must drain (or use a new orchestrator
name) before it is deployed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.devhost.app_loader import load_app
from tests.replay.fakes import FakeBulk
from tests.replay.simulator import Handle, Recording, Simulator

ROOT = Path(__file__).resolve().parents[2]
RECORDED = Path(__file__).parent / "histories" / "bulk_reprocess_3_pages.json"
# 70 blobs in pages of 30 and batches of 8: three generations, a retried blob settled with its batch, a mix of
# outcomes. Small enough to read, every path of the orchestrator on it.
REFERENCE_RUN: dict[str, Any] = {
    "bulk_id": "3f2b8c0e6d1a4f7e9b5c2a8d0e4f6a1b",
    "operation": "reprocess",
    "container": "incoming",
    "prefix": "docs/",
    "selector": '{"prefix": "docs/"}',
    "page_size": 30,
    "batch_size": 8,
}
REFERENCE_FAILING = {"docs/blob-000040.txt"}


def registered_handle() -> Handle:
    """The orchestrator as the worker indexes it: `get_user_function()` of function_app.py's bulk_orchestrator,
    which is the SDK's `handle(context_json)`."""
    handle: Handle = load_app(ROOT / "function_app.py").function("bulk_orchestrator").user_function
    return handle


def record_reference(handle: Handle) -> Recording:
    fake = FakeBulk(blobs=70, failing=set(REFERENCE_FAILING))
    return Simulator(handle, fake.activities(), instance_id=REFERENCE_RUN["bulk_id"]).run(REFERENCE_RUN)


if __name__ == "__main__":
    RECORDED.parent.mkdir(exist_ok=True)
    RECORDED.write_text(json.dumps(record_reference(registered_handle()).to_json(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RECORDED.relative_to(ROOT)}")
