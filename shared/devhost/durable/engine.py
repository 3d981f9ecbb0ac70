"""The Durable Functions engine of the local host: finds the durable functions among the indexed ones, runs
orchestration episodes and activities on the host's worker pool, and serves the durable HTTP API.

Episodes are batched, since the SDK replays the whole history each time: an instance with new events runs at once
when nothing else it scheduled is still outstanding, otherwise when its oldest new event has waited `batch_window`
seconds. A fan-out of N activities therefore costs a few episodes, not N (perf/bench_durable.py measures it).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

from azure.functions import meta

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.durable.history import T, event, utc_now
from shared.devhost.durable.runner import Catalog, run_episode
from shared.devhost.durable.store import DurableStore, WorkItem
from shared.devhost.host_config import DurableTaskOptions

__all__ = ["BATCH_WINDOW", "STORE_FILE", "DurableEngine", "is_durable"]

log = logging.getLogger(__name__)

STORE_FILE = "devhost-durable.sqlite"
ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER = "orchestrationTrigger", "activityTrigger", "entityTrigger"
DURABLE_CLIENT = "durableClient"
BATCH_WINDOW = 0.5  # seconds an episode waits for more completions while the instance still has work outstanding
_ACTIVITY = meta.get_binding_registry().get(ACTIVITY_TRIGGER)

Call = Callable[[FunctionSpec, dict[str, Any]], Any]


def is_durable(spec: FunctionSpec) -> bool:
    return spec.trigger_type in (ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER, ENTITY_TRIGGER) or any(
        binding.get("type") == DURABLE_CLIENT for binding in spec.bindings
    )


class DurableEngine:
    """`poll()` from the host loop starts what can start; `busy()` says whether anything is left to do."""

    def __init__(
        self,
        functions: Sequence[FunctionSpec],
        data_dir: Path,
        executor: Executor,
        call: Call,
        options: DurableTaskOptions | None = None,
        batch_window: float = BATCH_WINDOW,
    ) -> None:
        self.options = options or DurableTaskOptions()
        self.batch_window = batch_window
        self.orchestrators = {spec.name: spec for spec in functions if spec.trigger_type == ORCHESTRATION_TRIGGER}
        self.activities = {spec.name: spec for spec in functions if spec.trigger_type == ACTIVITY_TRIGGER}
        # Entities need their own protocol (operation batches, locks); refuse them loudly rather than half-run them.
        self.errors = {
            spec.name: f"The '{spec.name}' function is in error: entityTrigger (durable entities) is not supported by "
            "the local host."
            for spec in functions
            if spec.trigger_type == ENTITY_TRIGGER
        }
        for message in self.errors.values():
            log.warning(message)
        self.catalog = Catalog(orchestrators=self.orchestrators, activities=frozenset(self.activities))
        self.store = DurableStore(Path(data_dir) / STORE_FILE)
        self._executor = executor
        self._call = call
        self._lock = threading.Lock()
        self._episodes: dict[str, Future[None]] = {}
        self._activities: dict[int, Future[None]] = {}
        self._dispatched_up_to = 0  # work ids above this one have not been started by this process
        self._closed = False
        self.episodes_run = 0

    # -- driving

    def poll(self) -> int:
        """Start due episodes and activities; returns how many started."""
        if self._closed:
            return 0
        return self._start_episodes() + self._start_activities()

    def busy(self) -> bool:
        with self._lock:
            running = bool(self._episodes or self._activities)
        return running or self.store.has_pending()

    def close(self) -> None:
        """Stop starting work, drop what has not started (it stays in the store), wait for what has, close."""
        self._closed = True
        with self._lock:
            futures = [*self._episodes.values(), *self._activities.values()]
        for future in futures:
            future.cancel()
        for future in futures:
            if not future.cancelled():
                with contextlib.suppress(Exception):  # already logged by the task itself
                    future.result()
        self.store.close()

    # -- episodes

    def _start_episodes(self) -> int:
        started = 0
        now = time.time()
        for instance_id, oldest, outstanding in self.store.ready(now):
            if outstanding and now - oldest < self.batch_window:
                continue  # more completions are coming: let them join this episode
            with self._lock:
                if instance_id in self._episodes:
                    continue
                self._episodes[instance_id] = self._executor.submit(self._episode, instance_id)
            started += 1
        return started

    def _episode(self, instance_id: str) -> None:
        try:
            now = utc_now()
            loaded = self.store.load(instance_id, now.timestamp())
            if loaded is None or not loaded[2]:
                return
            instance, history, inbox = loaded
            try:
                outcome = run_episode(instance, history, inbox, self.catalog, now, self._call)
            except Exception as failure:  # the host's fault, not the orchestrator's: fail it rather than spin
                log.exception("orchestration episode of %s", instance_id)
                self.store.fail(instance_id, f"The local host could not run an episode: {failure!r}")
                return
            self.store.commit(outcome)
            self.episodes_run += 1
        except Exception:
            if not self._closed:
                log.exception("orchestration episode of %s", instance_id)
        finally:
            with self._lock:
                self._episodes.pop(instance_id, None)

    # -- activities

    def _start_activities(self) -> int:
        with self._lock:
            room = self.options.max_concurrent_activities - len(self._activities)
        items = self.store.work(after=self._dispatched_up_to, limit=room)
        for item in items:
            with self._lock:
                self._activities[item.id] = self._executor.submit(self._activity, item)
            self._dispatched_up_to = max(self._dispatched_up_to, item.id)
        return len(items)

    def _activity(self, item: WorkItem) -> None:
        try:
            if self._closed:
                return
            self.store.complete(item, self._run_activity(item))
        except Exception:
            if not self._closed:
                log.exception("activity %s of %s", item.name, item.instance_id)
        finally:
            with self._lock:
                self._activities.pop(item.id, None)

    def _run_activity(self, item: WorkItem) -> dict[str, Any]:
        """The TaskCompleted or TaskFailed event of one run, through the worker's own activityTrigger converter."""
        spec = self.activities.get(item.name)
        try:
            if spec is None:
                raise LookupError(f"The function '{item.name}' doesn't exist, is disabled, or is not an activity.")
            value = _ACTIVITY.decode(meta.Datum(item.input or "null", "json"), trigger_metadata={})
            result = self._call(spec, {spec.trigger["name"]: value})
            encoded = _ACTIVITY.encode(result, expected_type=None)  # refuses what is not JSON-serialisable
        except Exception as failure:
            return event(
                T.TASK_FAILED,
                utc_now(),
                TaskScheduledId=item.task_id,
                Reason=f"Activity function '{item.name}' failed: {type(failure).__name__}: {failure}",
                Details="".join(traceback.format_exception(failure)),
            )
        return event(T.TASK_COMPLETED, utc_now(), TaskScheduledId=item.task_id, Result=encoded.value)
