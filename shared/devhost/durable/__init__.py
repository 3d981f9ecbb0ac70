"""Durable Functions on the local host: orchestrations replayed through the SDK's own `handle(context_json)`,
activities on the host's workers, history in a SQLite file under the data directory, and the durable HTTP API
(management webhooks and the client's RPC endpoints). `DurableEngine` (engine.py) ties them together."""

from shared.devhost.durable.engine import DurableEngine

__all__ = ["DurableEngine"]
