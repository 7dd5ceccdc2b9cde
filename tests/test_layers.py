"""The layers of docs/architecture.md hold: `lint-imports` (import-linter) checks every import
of the four packages, inside functions and under TYPE_CHECKING too, against the contracts in
pyproject.toml; and it would catch an arrow pointing the wrong way."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_every_package_imports_only_the_layers_below_it():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "3 kept, 0 broken" in result.stdout


def test_an_arrow_the_wrong_way_is_caught(tmp_path):
    """The same contracts over a copy of the tree with one upward import added, inside a
    function (the kind that slips through a glance at the imports at the top)."""
    import os
    import shutil

    for package in ("downtime", "snapshots", "forms", "reconcile"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "forms" / "kinds.py", "a") as f:
        f.write("\n\ndef _leak():\n    from reconcile import __doc__  # noqa\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    result = lint(tmp_path, env)
    assert result.returncode != 0
    assert "forms.kinds -> reconcile" in result.stdout and "BROKEN" in result.stdout


def test_no_test_module_imports_from_another_or_a_private_helper():
    """Shared fixtures are in tests/conftest.py and shared helpers in the helper modules
    (factory, shared, cups, tui_helpers, vectors): a test module imports neither another test
    module nor a name its owner keeps private."""
    import ast

    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                    "tests"):
                continue
            own = path.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
            other_test = node.module.split(".")[-1].startswith("test_") and node.module != own
            private = [a.name for a in node.names if a.name.startswith("_")]
            if other_test or private:
                offenders.append(f"{path.name}:{node.lineno} from {node.module} "
                                 f"import {', '.join(a.name for a in node.names)}")
    assert offenders == []
