"""Durable Functions wired into the local host: the engine, the durable HTTP API on both its doors (the webhooks on
the host's HTTP server, the RPC endpoint on a loopback server of its own), and the `durableClient` input binding."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

from shared.devhost.app_loader import FunctionSpec
from shared.devhost.durable.client import RPC_PATH, WEBHOOK_PATH, DurableApi
from shared.devhost.durable.engine import DURABLE_CLIENT, Call, DurableEngine, is_durable
from shared.devhost.host_config import DurableTaskOptions
from shared.devhost.http_server import HostKeys, HttpServer
from shared.devhost.invoke import provide_input

__all__ = ["DurableService", "has_durable_functions"]

log = logging.getLogger(__name__)


def has_durable_functions(functions: Sequence[FunctionSpec]) -> bool:
    return any(is_durable(spec) for spec in functions)


class DurableService:
    """Open with the host, `attach(http)` when it serves HTTP, `close()` with it."""

    def __init__(
        self,
        functions: Sequence[FunctionSpec],
        data_dir: Path,
        executor: Executor,
        call: Call,
        keys: HostKeys,
        options: DurableTaskOptions | None = None,
    ) -> None:
        self.engine = DurableEngine(functions, data_dir, executor, call, options)
        self.api = DurableApi(self.engine.store, set(self.engine.orchestrators), keys, self.engine.options.hub_name)
        self.rpc = HttpServer([], call, keys, host="127.0.0.1", port=0)
        self.rpc.add_handler(RPC_PATH, self.api.rpc)
        self.rpc.start()
        self.api.rpc_base = self.rpc.base_url
        provide_input(DURABLE_CLIENT, lambda binding: self.api.client_binding())

    def attach(self, http: HttpServer) -> None:
        """Serve the management webhooks on the host's HTTP server and hand out its address in status URLs."""
        http.add_handler(WEBHOOK_PATH, self.api.webhook)
        self.api.web_base = http.base_url
        log.info(
            "Durable Functions: task hub %s, %d orchestrators, %d activities; management API on %s%s",
            self.api.hub_name,
            len(self.engine.orchestrators),
            len(self.engine.activities),
            http.base_url,
            WEBHOOK_PATH,
        )

    def close(self) -> None:
        provide_input(DURABLE_CLIENT, None)
        self.rpc.stop()
        self.engine.close()
