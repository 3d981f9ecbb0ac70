"""Record a bulk run's history as the local host's Durable engine wrote it: `python -m tests.replay.record_local_host`.

A reprocess of 10 blobs in one generation (pages of 50, batches of 4), ending with the wait for its document jobs
(durable timers 1 s apart) and the communities refresh, run through function_app.py on the local
host (Azurite, the durable broker, SQLite, FalkorDB, LanceDB) and driven through its HTTP API; the history is read
from the engine's task hub once the run completed. tests/replay/test_bulk_orchestrator.py replays it: the history
written by an engine other than the tests' simulator, holding what a real run scheduled.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from shared.app_ports import app_ports
from shared.config import STORAGE_CONNECTION
from shared.devhost.environment import SAMPLE_SETTINGS, app_settings
from shared.devhost.host import APP_SCRIPT, DevHost
from shared.devhost.local_services import local_services
from tests.support.devhost import api_json

RECORDED = Path(__file__).parent / "histories" / "bulk_reprocess_local_host.json"


def record() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bulk-record-") as scratch:
        overrides = {
            "TRIBUTARY_DATA_DIR": str(Path(scratch) / "data"),
            "TRIBUTARY_BULK_PAGE_SIZE": "50",
            "TRIBUTARY_BULK_BATCH_SIZE": "4",
            "TRIBUTARY_BULK_SETTLE_POLL_SECONDS": "1",
        }
        settings = app_settings(APP_SCRIPT.parent, overrides, settings_file=APP_SCRIPT.parent / SAMPLE_SETTINGS)
        with local_services(settings) as resolved, DevHost(APP_SCRIPT, settings=resolved, serve_http=True) as host:
            assert host.durable is not None, "this local host has no Durable engine"
            host.start()
            store = host.blob_store(STORAGE_CONNECTION)
            for number in range(10):
                text = f"Note {number}: Ada Lovelace met Charles Babbage in London.\n"
                store.upload(host.settings.incoming_container, f"notes/{number:02d}.txt", text.encode())
            _wait(
                lambda: (
                    len(app_ports().jobs.list_jobs()) == 10 and all(j.terminal for j in app_ports().jobs.list_jobs())
                )
            )
            accepted = api_json(host, "POST", "/api/bulk", {"operation": "reprocess", "prefix": "notes/"})
            _wait(lambda: api_json(host, "GET", f"/api/bulk/{accepted['id']}")["runtime_status"] == "Completed")
            history = host.durable.engine.store.history(accepted["id"])
            host.stop()
    return {"instance_id": accepted["id"], "history": history}


def _wait(done: Any, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the local host did not get there")
        time.sleep(0.2)


if __name__ == "__main__":
    RECORDED.write_text(json.dumps(record(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {RECORDED}")
