"""snapshots, forms and reconcile never import Textual: they run on servers and in print jobs."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADLESS = [p for p in ("snapshots", "forms", "reconcile") if (ROOT / p).is_dir()]


def _modules(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def test_headless_packages_do_not_load_textual():
    assert "snapshots" in HEADLESS
    modules = [m for p in HEADLESS for m in _modules(p)]
    assert len(modules) > 5
    code = ("import importlib, sys\n"
            f"for m in {modules!r}:\n"
            "    importlib.import_module(m)\n"
            "bad = sorted(k for k in sys.modules if k == 'textual' or k.startswith('textual.'))\n"
            "assert not bad, bad\n"
            "print('ok', len(sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


def test_no_textual_import_in_headless_source():
    pattern = re.compile(r"^\s*(import textual|from textual)", re.M)
    offenders = [str(p.relative_to(ROOT)) for pkg in HEADLESS for p in (ROOT / pkg).rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_check_would_catch_an_import(tmp_path):
    (tmp_path / "leaky.py").write_text("from textual.app import App\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import leaky; "
            "assert 'textual' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert importlib.util.find_spec("textual") is not None
