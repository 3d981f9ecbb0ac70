"""The hostile PDF, Office, .msg and Parquet fixtures through sniff and parse, in a child process per folder: each
gets exactly its EXPECTED.yaml outcome, within a time and a peak-RSS bound per file (the whole-pipeline run of the
same files is tests/functional/test_hostile.py)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hostile import expected_outcomes

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("pdf", "office", "msg", "parquet")
MAX_SECONDS = 90  # the million-styled-rows workbook takes ~20 s on a loaded 2-core machine
MAX_PEAK_MB = 400  # the interpreter with pyarrow, PDFium and openpyxl loaded is ~150 MB


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", KINDS)
def test_each_document_fixture_gets_its_outcome_within_time_and_memory_bounds(kind: str):
    run = subprocess.run(
        [sys.executable, "-m", "tests.support.hostile", kind],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=850,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = [json.loads(line) for line in run.stdout.splitlines()]
    expected = expected_outcomes(kind)
    assert {r["name"]: _normal(r["outcome"]) for r in results} == {n: _normal(o) for n, o in expected.items()}
    slow = {r["name"]: round(r["seconds"], 1) for r in results if r["seconds"] > MAX_SECONDS}
    assert slow == {}
    assert max(r["peak_mb"] for r in results) < MAX_PEAK_MB


def _normal(outcome: dict[str, object]) -> tuple[str, object]:
    if "fails" in outcome:
        return ("fails", outcome["fails"])
    return ("succeeds", sorted(outcome.get("issues") or []))  # type: ignore[call-overload]
