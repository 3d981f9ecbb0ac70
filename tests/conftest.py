"""Shared fixtures: real servers (PostgreSQL, FalkorDB) are started once per test session."""

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.falkordb",
    "tests.support.pipeline",
]
