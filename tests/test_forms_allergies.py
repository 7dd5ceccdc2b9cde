"""The allergy and order findings on paper, from a real build: real PDFs read back with
pdftotext. NKDA printed as NKDA, never as "no known allergies"; the allergy-order check on the
face sheet, the MAR and the medication list, said to be a reminder; what did not load on every
page of that patient's forms; a name alert on the unit's medication list; the latest lab."""

from __future__ import annotations

from datetime import timedelta

import pypdfium2 as pdfium
import pytest

from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry
from snapshots.sealed import open_snapshot
from tests.factory import Keys, sealed_snapshot
from tests.fhir_source import AS_OF, allergy_ward, build

NOW = AS_OF + timedelta(minutes=20)
pytestmark = pytest.mark.usefixtures("utc")


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """Every form the findings concern, printed to PDF; kind (and patient) -> pages' text."""
    root = tmp_path_factory.mktemp("forms-allergies")
    from tests.tui_helpers import use_utc

    use_utc()
    keys = Keys()
    conn = build(allergy_ward(root / "source")).conn
    snap = open_snapshot(sealed_snapshot(root, keys, conn, scope="house", as_of=AS_OF),
                         keys.trusted, [keys.unit])
    registry = FormRegistry(root / "registry", [keys.unit.recipient])
    jobs = {"census": PrintRequest("census", "4W"), "medlist": PrintRequest("medlist", "4W")}
    for pid in ("a1", "a3", "a4", "a5", "a8"):
        for kind in ("facesheet", "mar", "medlist", "orders", "labels"):
            jobs[f"{kind}:{pid}"] = PrintRequest(kind, "4W", patient_id=pid)
    pages = {}
    for name, request in jobs.items():
        pdf = root / f"{name.replace(':', '-')}.pdf"
        request.pdf_path = pdf
        run_print_job(snap, request, registry, now=NOW)
        document = pdfium.PdfDocument(str(pdf))
        # pdfium gives a table cell's lines one after the other (pdftotext interleaves the
        # lines of cells side by side)
        pages[name] = [" ".join(page.get_textpage().get_text_range().split())
                       for page in document]
        document.close()
    return pages


def test_nkda_is_printed_as_nkda_on_every_page(printed):
    for kind in ("facesheet", "mar", "medlist", "orders"):
        for page in printed[f"{kind}:a1"]:
            assert "NO KNOWN DRUG ALLERGIES (recorded)" in page, kind
            assert "NO KNOWN ALLERGIES" not in page, kind
    assert "nothing recorded about food" in " ".join(printed["facesheet:a1"])
    census = " ".join(printed["census"])
    assert census.count("No known drug allergies (food, environmental: not recorded)") == 2
    assert "No known allergies" in census  # a2's NKA, as recorded
    assert any("NKDA" in page for page in printed["labels:a1"])


def test_allergy_order_conflict_on_face_sheet_mar_and_medlist(printed):
    for name in ("facesheet:a3", "mar:a3", "medlist:a3", "medlist"):
        text = " ".join(printed[name])
        assert "ALLERGY–ORDER CHECK" in text, name
        assert "Piperacillin-tazobactam 3.375 g IV — allergy: Penicillin G: piperacillin is a " \
               "penicillin, as is penicillin G (same class)" in text, name
        assert "cefazolin is a cephalosporin" in text, name  # held, checked all the same
        assert "a reminder, not a pharmacy system" in text, name
        assert "⚠ ALLERGY" in text, name  # on the order's own row
    mar = " ".join(printed["mar:a3"])
    # on the two conflicting orders' rows, not on metoprolol's
    assert "Metoprolol tartrate" in mar and mar.count("⚠ ALLERGY: see above") == 2
    # no conflict: said, with what could not be checked (a7: NKDA and a metformin order)
    assert "Allergy check: nothing to match (only 'no known' statements recorded)." in \
        " ".join(printed["medlist"])
    assert "Allergy check: no active orders." in " ".join(printed["mar:a1"])


def test_a_broken_allergy_is_printed_with_its_text_and_a_warning(printed):
    face = " ".join(printed["facesheet:a4"])
    assert "Sulfa drugs" in face and "criticality '3' is not a code" in face
    assert "code is plain text" in face
    assert all("Sulfa drugs (Rash) ⚠" in page for page in printed["mar:a4"])
    # and it is still checked: sulfa allergy, sulfamethoxazole order
    assert "sulfamethoxazole is a sulfonamide antibiotic" in " ".join(printed["mar:a4"])


def test_what_did_not_load_is_on_every_page_of_the_patient(printed):
    for kind in ("facesheet", "mar", "medlist", "orders", "labels"):
        for page in printed[f"{kind}:a5"]:
            assert "NOT IN THIS COPY" in page, kind
            assert "1 allergy record (active), 1 medication order (active)" in page or \
                "1 allergy record" in page, kind
    face = " ".join(printed["facesheet:a5"])
    assert "1 medication order (active) could not be loaded: see the source" in face
    assert "1 allergy record could not be loaded: see the source" in face
    assert "LOST, Eve" in " ".join(printed["census"]) and \
        "1 allergy record could not be loaded" in " ".join(printed["census"])


def test_the_unit_medication_list_carries_the_name_alert(printed):
    medlist = " ".join(printed["medlist"])
    assert medlist.count("NAME ALERT: alike SMITH, J") == 2
    assert "NAME ALERT" in " ".join(printed["census"])


def test_the_face_sheet_shows_the_latest_lab_with_the_earlier_as_trend(printed):
    face = " ".join(printed["facesheet:a8"])
    assert "4 mmol/L earlier 3.3 mmol/L [L] 24 Nov 06:00 06:00 3.5–5.1" in face
    assert face.count("3.3 mmol/L") == 1  # trend beside the latest, not a finding of its own
