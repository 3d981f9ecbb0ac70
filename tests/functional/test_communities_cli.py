"""`tributary communities` as a user runs it: a real process on the embedded default, after `tributary ingest`."""

import json
from pathlib import Path

import pytest

from tests.functional.test_cli import tributary
from tests.support.pipeline import SAMPLES

pytestmark = [pytest.mark.falkordb, pytest.mark.timeout(600)]


def test_communities_on_the_samples_print_with_summaries_and_a_second_run_writes_nothing(tmp_path: Path) -> None:
    # GIVEN the samples ingested
    ingested = tributary("ingest", SAMPLES, data_dir=tmp_path)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    # WHEN `tributary communities` runs
    first = tributary("communities", data_dir=tmp_path)
    # THEN it prints the communities with their summaries, and what it wrote
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Communities" in first.stdout
    assert "entities (" in first.stdout  # the extractive summaries begin "N entities (…)"
    assert "Project Heron" in first.stdout
    assert " written, " in first.stdout
    # WHEN it runs again, asking for JSON
    second = tributary("communities", "--output", "json", data_dir=tmp_path)
    # THEN nothing is written or deleted, and every community comes back with its summary and members
    assert second.returncode == 0, second.stderr
    answer = json.loads(second.stdout)
    assert (answer["refresh"]["written"], answer["refresh"]["deleted"]) == (0, 0)
    assert answer["refresh"]["communities"] == len(answer["communities"]) > 1
    for community in answer["communities"]:
        assert community["summary"]
        assert community["members"]
        assert community["summarizer"] == "extractive/1"
