"""Shared fixtures: real servers (PostgreSQL, FalkorDB, Azurite, the Cosmos DB and AI Search
stand-ins) start once per test session."""

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.falkordb",
    "tests.support.pipeline",
    "tests.support.azurite",
    "tests.support.cosmos",
    "tests.support.search_standin",
    "tests.support.openai_standin",
    "tests.support.bus",
    "tests.support.devhost",
    "tests.support.host_pipeline",
    "tests.support.event_receiver",
]
