"""The page header under stress: a patient with a long name, a dozen allergies, isolation and
a name alert, and enough orders for a multi-page MAR. Nothing in the header may be pushed off
the page: the name, the allergy label and allergies, and a QR code that decodes, on every
page; the face sheet lists every allergy; table headers repeat on continuation pages."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from datetime import timedelta

import pypdfium2 as pdfium
import pytest
import zxingcpp

from forms.header import fit_header, ids_lines, line_width_mm, who_width_mm
from forms.jobs import PrintRequest, run_print_job
from forms.qr import QrPayload
from forms.registry import FormRegistry
from snapshots import chart
from snapshots.schema import insert_rows
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, add_patient, chart_db, lineage, sealed_snapshot

NOW = AS_OF + timedelta(minutes=38)
NAME = "VANDERBILT-MONTGOMERY-FITZWILLIAM, Alexandrina Maximiliana Philippa"
ALLERGIES = ["Penicillin G benzathine", "Sulfamethoxazole / trimethoprim", "Latex", "Peanut",
             "Iodinated contrast media", "Morphine sulfate", "Codeine", "Vancomycin",
             "Ciprofloxacin", "Shellfish", "Egg protein", "Adhesive tape", "Aspirin",
             "Ibuprofen"]


@pytest.fixture(scope="module")
def stress(tmp_path_factory):
    root = tmp_path_factory.mktemp("header")
    conn = chart_db()
    add_patient(conn, "p9", NAME, "4W-499-A", allergies=ALLERGIES, name_alert_with="p1")
    insert_rows(conn, "med_orders", [
        {"id": f"mo-p9-x{i}", "patient_id": "p9", "encounter_id": "enc-p9",
         "medication": f"Medication number {i:02d} extended-release 100 mg tablet",
         "dose": "100 mg", "route": "oral", "frequency": "TID",
         "times": "09:30,14:00,21:00", "prn": 0, "iv": 0, "status": "active",
         **lineage("MedicationRequest", f"mo-p9-x{i}")} for i in range(22)])
    insert_rows(conn, "flags", [{"id": "fl-p9-iso", "patient_id": "p9", "kind": "isolation",
                                 "text": "Contact + droplet isolation (MRSA, influenza A)",
                                 "status": "active", "since": "2026-11-22T00:00:00Z",
                                 **lineage("Flag", "fl-p9-iso")}])
    conn.commit()
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(root, keys, conn), keys.trusted, [keys.unit])
    registry = FormRegistry(root / "registry", [keys.unit.recipient])
    return root, snap, registry


def _pages(pdf) -> list[str]:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return [" ".join(p.split()) for p in text.split("\f") if p.strip()]


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_long_header_stays_on_every_page(stress, tmp_path, paper):
    _, snap, registry = stress
    out = tmp_path / "p9.pdf"
    result = run_print_job(snap, PrintRequest("packet", "4W", patient_id="p9", pdf_path=out,
                                              paper=paper), registry, now=NOW)
    pages = _pages(out)
    assert len(pages) == result.pages >= 7  # census, face sheet 2, MAR 3+, orders, note
    for i, page in enumerate(pages, 1):
        if "UNIT CENSUS" in page:
            assert "Unit 4W" in page and "Adhesive" in page and "Vancomycin" in page, i
            continue
        assert "VANDERBILT-MONTGOMERY" in page and "Maximiliana" in page, i
        assert "ALLERGIES (14):" in page, i
        assert "Adhesive tape (hives)" in page, i  # the first allergy (sorted), shown
        assert re.search(r"\+\d+ more — see face sheet", page), i  # the rest, pointed to
        assert "DOWNTIME COPY — data as of" in page and "38 min old" in page, i
    document = pdfium.PdfDocument(str(out))
    ids = {f.form_id for f in result.forms}
    for index in range(len(document)):
        codes = [c for c in zxingcpp.read_barcodes(document[index].render(scale=2).to_pil())
                 if c.format == zxingcpp.BarcodeFormat.QRCode]
        assert codes, f"{paper}: no QR code on page {index + 1}"
        assert QrPayload.parse(codes[0].text).form_id in ids


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_id_lines_are_set_to_fit_whole(stress, paper):
    """MRN, DOB, age/sex and bed/code status are never cut: the lines are set smaller until
    they fit the header's name box (pdftotext would read a clipped line whole, so this is
    measured as the layout does)."""
    _, snap, _ = stress
    header = chart.header(snap.db, "p1")
    header = replace(header, mrn="MRN0012345678", code_status="DNR/DNI, comfort care")
    fit = fit_header(header, paper)
    for line in ids_lines(header):
        assert line_width_mm(line, fit.ids_pt) <= who_width_mm(paper), line
    assert fit.bed_unit == ""  # "4W-401-A" says its unit
    if paper == "A4":
        assert fit.ids_pt < 8.0  # this one had to be set smaller


def test_face_sheet_lists_every_allergy_and_mar_repeats_its_headers(stress, tmp_path):
    _, snap, registry = stress
    for kind in ("facesheet", "mar"):
        run_print_job(snap, PrintRequest(kind, "4W", patient_id="p9",
                                         pdf_path=tmp_path / f"{kind}.pdf"), registry, now=NOW)
    face = " ".join(_pages(tmp_path / "facesheet.pdf"))
    body = face.split("Allergies (14, all listed here)")[1]
    for substance in ALLERGIES:
        assert substance in body, substance
    mar = _pages(tmp_path / "mar.pdf")
    assert len(mar) >= 2
    for n, page in enumerate(mar, 1):
        assert f"Page {n} of {len(mar)}" in page
        if "Medication number" in page:  # scheduled orders on it (the last may hold only
            assert "Scheduled medication" in page, n  # the PRN and new-order tables)
    text = " ".join(mar)
    assert "due 09:30 · 14:00 · 21:00" in text  # minutes kept
    for i in range(22):
        assert f"Medication number {i:02d}" in text


def test_labels_fit_one_page_and_show_what_was_cut(stress, tmp_path):
    _, snap, registry = stress
    for paper in ("Letter", "A4"):
        out = tmp_path / f"labels-{paper}.pdf"
        result = run_print_job(snap, PrintRequest("labels", "4W", patient_id="p9",
                                                  pdf_path=out, paper=paper), registry,
                               now=NOW)
        assert result.pages == 1, paper
        page = _pages(out)[0]
        assert page.count("MRN") >= 30
        assert re.search(r"ALG: Adhesive tape \(hives\).* …\+\d+", page)
