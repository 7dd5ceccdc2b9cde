"""What a nurse reads on paper (issue 15), from real PDFs read back with pdfium: units as
clinicians write them, blood pressure as one reading, short test names with their LOINC
code on the face sheet, severity and criticality each in its column, a continuous infusion's
rate and "continuous", and texts that stay inside their columns (the route never runs into
the frequency, the bed and MRN never touch the census's cell borders)."""

from __future__ import annotations

from datetime import timedelta

import pypdfium2 as pdfium
import pytest

from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry
from snapshots.chart import CODE_STATUS_MISSING
from snapshots.schema import insert_rows
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, iso, lineage, sealed_snapshot
from tests.tui_helpers import stable_db

NOW = AS_OF + timedelta(minutes=20)
pytestmark = pytest.mark.usefixtures("utc")


def _db():
    conn = stable_db()
    obs = [("bp-p1#0", "8480-6", "Systolic blood pressure", 135, "mm[Hg]"),
           ("bp-p1#1", "8462-4", "Diastolic blood pressure", 92, "mm[Hg]"),
           ("t-p1", "8310-5", "Body temperature", 37.4, "Cel"),
           ("s-p1", "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", 97,
            "%"),
           ("w-p1", "6690-2", "Leukocytes [#/volume] in Blood", 6.5, "10*3/uL")]
    insert_rows(conn, "observations", [
        {"id": oid, "patient_id": "p1", "category": "laboratory" if code == "6690-2" else
         "vital-signs", "code": code, "display": display, "value_num": value, "unit": unit,
         "effective_at": iso(AS_OF - timedelta(minutes=30)), "restricted": 0,
         **lineage("Observation", oid)} for oid, code, display, value, unit in obs])
    heparin = "Heparin 25,000 units in D5W 250 mL"
    insert_rows(conn, "med_orders", [
        {"id": "mo-sc", "patient_id": "p1", "encounter_id": "enc-p1",
         "medication": "Enoxaparin 40 mg/0.4 mL injection", "dose": "40 mg",
         "route": "Subcutaneous", "frequency": "QD", "times": "09:00", "prn": 0, "iv": 0,
         "status": "active", **lineage("MedicationRequest", "mo-sc")},
        {"id": "mo-ins", "patient_id": "p1", "encounter_id": "enc-p1",
         "medication": "Insulin lispro 100 units/mL", "dose": "4 U", "route": "Subcutaneous",
         "frequency": "TID", "times": "09:00,14:00,21:00", "prn": 0, "iv": 0,
         "status": "active", **lineage("MedicationRequest", "mo-ins")},
        {"id": "mo-hep", "patient_id": "p1", "encounter_id": "enc-p1", "medication": heparin,
         "rate": "75 mL/h", "route": "Intravenous", "frequency": f"{heparin} intravenous",
         "instructions": f"{heparin} intravenous", "prn": 0, "iv": 1, "status": "active",
         **lineage("MedicationRequest", "mo-hep")}])
    conn.execute("UPDATE allergies SET severity = 'mild', criticality = 'low' "
                 "WHERE patient_id = 'p1'")
    conn.commit()
    return conn


@pytest.fixture(scope="module")
def printed(tmp_path_factory):
    """kind -> the PDF's pages (pdfium documents kept open for the test's look at them)."""
    from tests.tui_helpers import use_utc

    use_utc()
    root = tmp_path_factory.mktemp("forms-display")
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(root, keys, _db()), keys.trusted, [keys.unit])
    registry = FormRegistry(root / "registry", [keys.unit.recipient])
    docs = {}
    for kind, patient in (("facesheet", "p1"), ("medlist", "p1"), ("mar", "p1"),
                          ("census", None)):
        pdf = root / f"{kind}.pdf"
        run_print_job(snap, PrintRequest(kind, "4W", patient_id=patient, pdf_path=pdf),
                      registry, now=NOW)
        docs[kind] = pdfium.PdfDocument(str(pdf))
    yield docs
    for doc in docs.values():
        doc.close()


def text(doc) -> str:
    return " ".join(" ".join(page.get_textpage().get_text_range().split()) for page in doc)


def boxes(doc, word: str) -> list[tuple[float, float, float, float]]:
    """(left, bottom, right, top) in points of every occurrence of `word` on the first page."""
    page = doc[0].get_textpage()
    found, searcher = [], page.search(word, match_case=True, match_whole_word=True)
    while (hit := searcher.get_next()) is not None:
        first, count = hit
        lefts, bottoms, rights, tops = zip(*(page.get_charbox(i) for i in
                                             range(first, first + count)), strict=True)
        found.append((min(lefts), min(bottoms), max(rights), max(tops)))
    return found


def same_line(a, b) -> bool:
    return abs(a[1] - b[1]) < 2


def test_face_sheet_units_bp_short_names_codes_and_allergy_columns(printed):
    face = text(printed["facesheet"])
    assert "BP 85354-9 135/92 mmHg" in face
    assert "Temp 8310-5 37.4 °C" in face and "SpO2 59408-5 97 %" in face
    assert "WBC 6690-2 6.5 ×10³/µL" in face
    for unwanted in ("Cel", "mm[Hg]", "10*3/uL", "Diastolic blood pressure",
                     "Oxygen saturation in Arterial"):
        assert unwanted not in face, unwanted
    assert "Severity Criticality" in face and "Penicillin hives mild low" in face
    assert f"Code status: {CODE_STATUS_MISSING}" not in face  # p1 has one: Full code
    # severity and criticality each under its own title
    (sev,), (crit,) = boxes(printed["facesheet"], "Severity"), boxes(printed["facesheet"],
                                                                       "Criticality")
    (mild,), (low,) = boxes(printed["facesheet"], "mild"), boxes(printed["facesheet"], "low")
    assert abs(mild[0] - sev[0]) < 1 and abs(low[0] - crit[0]) < 1


def test_an_infusion_says_its_rate_and_continuous_and_insulin_says_units(printed):
    for kind in ("facesheet", "medlist"):
        page = text(printed[kind])
        assert "75 mL/h Intravenous continuous" in page, kind
        assert "4 units Subcutaneous TID" in page, kind
        assert "4 U " not in page and "D5W 250 mL intravenous" not in page, kind
    assert "75 mL/h Intravenous continuous" in text(printed["mar"])


@pytest.mark.parametrize("kind", ["facesheet", "medlist"])
def test_the_route_stays_in_its_column(printed, kind):
    doc = printed[kind]
    (route_title,), (freq_title,) = boxes(doc, "Route"), boxes(doc, "Frequency")
    routes = boxes(doc, "Subcutaneous")
    assert len(routes) == 2
    for route in routes:
        assert route[0] >= route_title[0] - 0.5 and route[2] < freq_title[0] - 1.5
        after = [b for b in boxes(doc, "QD") + boxes(doc, "TID") if same_line(b, route)]
        assert after and all(b[0] - route[2] > 2 for b in after)  # a gap, never touching


def test_the_census_bed_and_mrn_keep_clear_of_the_cell_borders(printed):
    doc = printed["census"]
    titles = {t: boxes(doc, t)[0] for t in ("Bed", "Patient", "MRN", "Attending")}
    for bed in ("4W-401-A", "4W-405-A"):
        (box,) = boxes(doc, bed)
        assert titles["Patient"][0] - box[2] > 2  # the next column's text starts 1 mm in
    (mrn,) = boxes(doc, "MRN0000101")
    assert titles["Attending"][0] - mrn[2] > 2
    census = text(doc)
    assert CODE_STATUS_MISSING in census and "NOT RECORDED" not in census  # OKAFOR
