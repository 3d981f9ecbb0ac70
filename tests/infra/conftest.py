"""A copy of the deployment files to break on purpose: every infra check must fail on its mutated copy."""

import shutil
from pathlib import Path

import pytest

from tests.support.infra_checks import ROOT


@pytest.fixture
def infra_copy(tmp_path: Path) -> Path:
    """A root holding copies of infra/, azure.yaml and function_app.py (what the checks read from a root)."""
    shutil.copytree(ROOT / "infra", tmp_path / "infra")
    for name in ("azure.yaml", "function_app.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def mutate(root: Path, relative: str, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in a copied file (fails if there is not exactly one: a mutation that
    changes nothing would make its test pass for the wrong reason)."""
    path = root / relative
    source = path.read_text()
    assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times in {relative}"
    path.write_text(source.replace(old, new))
