"""Imports run down the layers (STYLE.md): functions → pipeline → ports ← adapters; the local host sits beside the
app, never under it; the domain imports no Azure SDK; nothing the app ships imports the tests."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCAL_HOST = ("shared.devhost", "shared.cli")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports are not used in this project)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def app_modules() -> list[Path]:
    """The modules a deployed app may import: everything under shared/ and functions/ but the local host."""
    shipped = [*ROOT.glob("shared/**/*.py"), *ROOT.glob("functions/**/*.py"), ROOT / "function_app.py"]
    # The CLI's modules (shared/cli.py and shared/cli_*.py, as .funcignore leaves them out) are local too.
    local = [ROOT / "shared" / "devhost", *ROOT.glob("shared/cli*.py")]
    return sorted(path for path in shipped if not any(path.is_relative_to(folder) for folder in local))


@pytest.mark.parametrize("path", app_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_app_module_imports_the_local_host_or_the_tests(path: Path) -> None:
    bad = {name for name in imports_of(path) if name.startswith(LOCAL_HOST) or name.split(".")[0] in {"tests", "perf"}}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sorted(ROOT.glob("shared/domain/*.py")), ids=lambda path: path.name)
def test_the_domain_imports_no_azure_sdk_and_no_adapter(path: Path) -> None:
    bad = {name for name in imports_of(path) if name.startswith(("azure", "shared.adapters", "shared.pipeline"))}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_the_check_itself_sees_an_import_of_the_local_host(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text("from shared.devhost.broker import LocalBroker\nimport tests.support.bus\n")
    assert {"shared.devhost.broker", "tests.support.bus"} <= imports_of(planted)
