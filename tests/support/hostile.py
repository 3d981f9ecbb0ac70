"""The hostile corpus: tests/fixtures/hostile/<kind>/ with an EXPECTED.yaml per folder."""

from functools import cache
from pathlib import Path

import yaml

HOSTILE = Path(__file__).resolve().parents[1] / "fixtures" / "hostile"
EXPECTED_FILE = "EXPECTED.yaml"


@cache
def expected_outcomes(kind: str) -> dict[str, dict[str, object]]:
    """File name -> `{fails: <reason>}` or `{succeeds: true, issues: [...]}` for one folder of the corpus."""
    return yaml.safe_load((HOSTILE / kind / EXPECTED_FILE).read_text(encoding="utf-8"))
