"""Composing a job's pages: layers drawn on many pages (a patient's header, the blank forms'
bodies) are painted once into a form XObject that every page draws; nothing else changes."""

from __future__ import annotations

import subprocess

from forms import compose
from forms.render import FormContext, plan, render_pdf
from snapshots import chart
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot


def test_repeated_layers_are_painted_once_and_every_page_still_shows_them(tmp_path,
                                                                        monkeypatch):
    painted = []

    def counted(stream, layer, scale):
        painted.append(layer)
        name = real(stream, layer, scale)
        assert "Group" not in stream._resources["XObject"][name].extra  # a plain form
        return name

    real = compose._painted_once
    monkeypatch.setattr(compose, "_painted_once", counted)
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(tmp_path, keys), keys.trusted, [keys.unit])
    ctx = FormContext(snap, "4W", "rn.kim", AS_OF)
    rows = chart.census(snap.db, "4W")[:2]
    pdf, pages = render_pdf([step() for step in plan(ctx, "packet", [r.patient_id
                                                                      for r in rows])])
    # painted once each (no layer twice): at least every patient's header and the blank
    # orders and note bodies (and any other body two patients share word for word)
    assert len(painted) >= len(rows) + 2 and len(set(map(id, painted))) == len(painted)
    path = tmp_path / "packet.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout.split("\f")[:pages]
    for row in rows:
        theirs = [t for t in text if row.mrn in t]
        # the header (an XObject) on every page of the patient's four forms
        assert len(theirs) >= 4 and all(row.name.split(",")[0] in t for t in theirs)
    orders = [t for t in text if "Physician orders" in t or "PHYSICIAN ORDERS" in t]
    assert len(orders) == len(rows), "the shared orders body is on each patient's page"
