"""Packets laid out by a process pool: the whole hospital (`--unit ALL`), every unit's packet
joined in order (biggest unit first), and a big unit's packet; every form registered once."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import forms.jobs
import forms.parallel
from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry, printed_forms, read_registry
from forms.render import FormError
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, add_patient, chart_db, sealed_snapshot, two_unit_db

NOW = AS_OF + timedelta(minutes=5)


def test_all_units_in_one_pdf_rendered_in_parallel(tmp_path):
    conn = two_unit_db()
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


def _pages(pdf) -> list[str]:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return [" ".join(p.split()) for p in text.split("\f") if p.strip()]


def test_a_big_unit_packet_on_every_core_is_the_one_process_packet(tmp_path, monkeypatch):
    conn = chart_db()
    added = forms.parallel.PARALLEL_PATIENTS
    for i in range(added):
        add_patient(conn, f"q{i}", f"LUND{chr(65 + i)}, Per", f"4W-{100 + i}-A", nka=True)
    conn.commit()
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys, conn), keys.trusted, [keys.unit])
    assert forms.parallel.parallel_worth_it(snap, "4W")
    registry = FormRegistry(tmp_path / "registry", [keys.unit.recipient])
    pooled = []
    real = forms.jobs.render_packets
    monkeypatch.setattr(forms.jobs, "render_packets",
                        lambda *a, **k: pooled.append(a[1]) or real(*a, **k))
    both = run_print_job(snap, PrintRequest("packet", "4W", pdf_path=tmp_path / "both.pdf"),
                         registry, now=NOW)
    assert pooled == [[("4W", 5 + added)]]
    monkeypatch.setattr(forms.parallel, "PARALLEL_PATIENTS", 10_000)
    one = run_print_job(snap, PrintRequest("packet", "4W", pdf_path=tmp_path / "one.pdf"),
                        registry, now=NOW)
    assert len(pooled) == 1  # the second in one process
    patients = 5 + added
    assert len(both.forms) == len(one.forms) == 1 + 4 * patients
    assert [(f.kind, f.patient_id) for f in both.forms] == \
        [(f.kind, f.patient_id) for f in one.forms]
    form_ids = re.compile(r"DT-[A-Z2-9]{10}")  # new ids each time; all else alike

    def words(pdf) -> list[list[str]]:  # pdftotext's reading order may differ: the words
        return [sorted(form_ids.sub("DT-", p).split()) for p in _pages(pdf)]

    assert words(tmp_path / "both.pdf") == words(tmp_path / "one.pdf")
    printed = printed_forms(read_registry(tmp_path / "registry", [keys.unit.secret]))
    assert {f.form_id for f in both.forms + one.forms} <= set(printed)


_UNDER_A_TUI = """
import sys
from datetime import datetime, UTC
from pathlib import Path
from forms.parallel import render_packets
from snapshots.sealed import open_snapshot
from tests.factory import Keys, sealed_snapshot


class Captured:  # what Textual puts in sys.stderr while an app runs: no file descriptor
    def write(self, text): return len(text)
    def flush(self): pass
    def fileno(self): return -1


keys = Keys()
snap = open_snapshot(sealed_snapshot(Path(sys.argv[1]), keys), keys.trusted, [keys.unit])
sys.stderr = Captured()
try:
    pdf, pages, records = render_packets(snap, [("4W", 5)], "Letter", "t", datetime.now(UTC),
                                         workers=2)
except Exception as e:  # the traceback would go to the captured stderr
    print(f"{type(e).__name__}: {e}")
    sys.exit(1)
print(pages, len(records))
"""


def test_a_pool_starts_under_a_tui_that_captures_stderr(tmp_path):
    """`downtime browse` printing a big unit's packet: Textual's sys.stderr has no file
    descriptor, and multiprocessing's resource tracker passes it on to its child ("bad
    value(s) in fds_to_keep", seen printing the demo's 4W packet from browse)."""
    done = subprocess.run([sys.executable, "-c", _UNDER_A_TUI, str(tmp_path)],
                          capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, (done.stdout + done.stderr)[-1500:]
    assert done.stdout.split() == ["21", "21"]
