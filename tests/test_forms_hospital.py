"""The whole-hospital packet (`--unit ALL`): every unit's packet laid out by a process pool,
joined in order (biggest unit first), every form registered once."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest

from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry, printed_forms, read_registry
from forms.render import FormError
from snapshots.schema import insert_rows
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, _lineage, add_patient, chart_db, sealed_snapshot

NOW = AS_OF + timedelta(minutes=5)


def test_all_units_in_one_pdf_rendered_in_parallel(tmp_path):
    conn = chart_db()
    insert_rows(conn, "units", [{"id": "unit-5E", "code": "5E", "name": "5 East",
                                 "kind": "med-surg", **_lineage("Location", "unit-5E")}])
    add_patient(conn, "p7", "BERG, Ola", "5E-501-A", unit="5E", nka=True)
    conn.commit()
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys, conn, scope="house"), keys.trusted,
                         [keys.unit])
    registry = FormRegistry(tmp_path / "registry", [keys.unit.recipient])
    out = tmp_path / "all.pdf"
    progress: list[tuple[int, int]] = []
    result = run_print_job(snap, PrintRequest("packet", "ALL", pdf_path=out), registry,
                           progress=lambda d, t: progress.append((d, t)), now=NOW)
    assert result.pages == 21 + 5  # 4W: census + 5 x 4; 5E: census + 1 x 4
    assert progress[-1] == (26, 26)  # one step per form laid out, in either worker
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    pages = [" ".join(p.split()) for p in text.split("\f") if p.strip()]
    assert len(pages) == 26
    assert "Unit 4W" in pages[0] and "Unit 5E" in pages[21]  # biggest unit first
    assert "BERG, Ola" in pages[22]
    assert [f.unit for f in result.forms].count("5E") == 5
    ids = [f.form_id for f in result.forms]
    assert len(set(ids)) == len(ids)
    assert set(ids) <= set(printed_forms(read_registry(tmp_path / "registry",
                                                       [keys.unit.secret])))
    with pytest.raises(FormError, match="whole hospital's packets only"):
        run_print_job(snap, PrintRequest("census", "ALL", pdf_path=tmp_path / "x.pdf"),
                      registry, now=NOW)
