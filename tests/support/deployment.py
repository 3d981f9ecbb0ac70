"""The package Azure would run: the repo filtered by .funcignore, in a virtual environment of requirements.txt alone.

`build_package` copies what `func publish` would ship; `deployment_venv` makes (once per requirements.txt content,
reused under build/) a virtual environment with only requirements.txt installed, as the Functions build does;
`run_check` imports and indexes the app there (tests/support/deployment_check.py) and returns what it found.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pathspec

ROOT = Path(__file__).resolve().parents[2]
CHECK_SCRIPT = Path(__file__).with_name("deployment_check.py")


def build_package(source: Path, destination: Path) -> list[str]:
    """Copy every file of `source` that .funcignore keeps into `destination`; returns their relative paths."""
    rules = pathspec.GitIgnoreSpec.from_lines((source / ".funcignore").read_text(encoding="utf-8").splitlines())
    kept = []
    for folder, subfolders, files in os.walk(source):
        base = Path(folder).relative_to(source)
        # Prune ignored folders (node_modules, .venv) instead of walking their thousands of files.
        subfolders[:] = [name for name in subfolders if not rules.match_file(f"{(base / name).as_posix()}/")]
        for name in files:
            relative = (base / name).as_posix()
            if rules.match_file(relative):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(folder) / name, target)
            kept.append(relative)
    return sorted(kept)


def deployment_venv(requirements: Path, cache: Path = ROOT / "build") -> Path:
    """The python of a virtual environment with exactly `requirements` installed (cached by its content)."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    folder = cache / f"deploy-venv-{digest}"
    python = folder / "bin" / "python"
    if (folder / ".complete").exists():
        return python
    shutil.rmtree(folder, ignore_errors=True)
    venv.create(folder, with_pip=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(requirements)],
        check=True,
        capture_output=True,
    )
    (folder / ".complete").touch()
    return python


def run_check(python: Path, package: Path) -> dict[str, Any]:
    """Import and index the app in `package` with `python`, as the worker would; the check script's report."""
    result = subprocess.run(
        [str(python), "-I", "-B", str(CHECK_SCRIPT), str(package)],  # -I: not the script folder on sys.path
        cwd=package,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin"},  # none of this process's settings
    )
    if result.returncode != 0:
        return {"ok": False, "error": result.stderr.strip().splitlines()[-1] if result.stderr else result.stdout}
    return json.loads(result.stdout.strip().splitlines()[-1]) | {"ok": True}


if __name__ == "__main__":
    # By hand: python -m tests.support.deployment /tmp/package
    target = Path(sys.argv[1])
    print(len(build_package(ROOT, target)), "files")
    print(json.dumps(run_check(deployment_venv(target / "requirements.txt"), target), indent=2))
