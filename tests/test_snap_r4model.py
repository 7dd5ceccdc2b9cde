"""The stored table of R4 elements (snapshots/r4_elements.json) says what the installed
fhir.resources models say: the build reads the table instead of loading the models."""

from __future__ import annotations

import json
import subprocess
import sys

from snapshots import r4model
from snapshots.mapcontext import allowed_elements, is_r4_type
from tests.shared import ROOT


def test_table_matches_the_installed_models():
    stored = json.loads(r4model.TABLE.read_text(encoding="utf-8"))
    assert stored == r4model.from_models(), (
        "snapshots/r4_elements.json is stale: run `python -m snapshots.r4model`")


def test_checked_types_come_from_the_table_and_others_from_the_models():
    for rtype in r4model.CHECKED_TYPES:
        assert r4model.element_kinds(rtype) == r4model.model_element_kinds(rtype)
    # Not in the table: asked of the model, with the same answer shape.
    assert "Immunization" not in r4model.CHECKED_TYPES
    assert "vaccineCode" in allowed_elements("Immunization")
    assert "resourceType" in allowed_elements("Observation")


def test_r4_type_names():
    assert is_r4_type("Observation") and is_r4_type("Immunization")
    assert is_r4_type("HumanName")  # a datatype: get_fhir_model_class accepts it too
    assert not is_r4_type("Observaton") and not is_r4_type("observation")


def test_a_build_does_not_load_the_models():
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
            "from datetime import UTC, datetime\n"
            "from downtime.generator import generate\n"
            "from snapshots.pipeline import build_database\n"
            "from snapshots.settings import BuildSettings\n"
            "import tempfile, pathlib\n"
            "d = pathlib.Path(tempfile.mkdtemp())\n"
            "when = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)\n"
            "generate(d, patients=3, seed=5, as_of=when)\n"
            "loaded = [m for m in sys.modules if m.startswith('fhir')]\n"
            "r = build_database(d, BuildSettings(as_of=when), workers=1)\n"
            "assert r.report['census']['in_snapshot'] > 0\n"
            "print(sorted(set(m for m in sys.modules if m.startswith('fhir')) - set(loaded)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
