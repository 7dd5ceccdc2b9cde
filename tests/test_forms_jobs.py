"""Print jobs: a patient must be on the unit the job is for; progress covers the layout, not
just preparing the HTML."""

from __future__ import annotations

from datetime import timedelta

import pytest

from forms.delivery import PrintedNotRecorded
from forms.jobs import PrintRequest, run_print_job
from forms.registry import FormRegistry, RegistryError
from forms.render import FormError
from snapshots.sealed import open_snapshot
from tests.factory import AS_OF, Keys, sealed_snapshot, two_unit_db

NOW = AS_OF + timedelta(minutes=5)


@pytest.fixture(scope="module")
def two_units(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs")
    conn = two_unit_db()
    keys = Keys()
    snap = open_snapshot(sealed_snapshot(root, keys, conn), keys.trusted, [keys.unit])
    return root, snap, FormRegistry(root / "registry", [keys.unit.recipient])


def test_patient_must_be_on_the_unit(two_units, tmp_path):
    _, snap, registry = two_units
    out = tmp_path / "f.pdf"
    with pytest.raises(FormError, match="patient p7 is on unit 5E, not 4W; print with --unit 5E"):
        run_print_job(snap, PrintRequest("facesheet", "4W", patient_id="p7", pdf_path=out),
                      registry, now=NOW)
    assert not out.exists()
    result = run_print_job(snap, PrintRequest("facesheet", "5E", patient_id="p7",
                                              pdf_path=out), registry, now=NOW)
    assert result.pages == 1 and result.forms[0].unit == "5E"


def test_progress_runs_through_the_layout(two_units, tmp_path):
    _, snap, registry = two_units
    calls: list[tuple[int, int]] = []
    result = run_print_job(snap, PrintRequest("packet", "4W", pdf_path=tmp_path / "p.pdf"),
                           registry, progress=lambda d, t: calls.append((d, t)), now=NOW)
    forms = len(result.forms)  # census + 5 patients x 4
    assert forms == 21
    assert calls[-1] == (2 * forms, 2 * forms)  # preparing and laying out each form
    assert [d for d, _ in calls] == list(range(1, 2 * forms + 1))
    assert len({t for _, t in calls}) == 1


def test_unknown_paper_is_refused(two_units, tmp_path):
    _, snap, registry = two_units
    with pytest.raises(FormError, match="paper 'Legal'"):
        run_print_job(snap, PrintRequest("census", "4W", pdf_path=tmp_path / "c.pdf",
                                         paper="Legal"), registry, now=NOW)


def test_a_registry_that_cannot_be_written_stops_the_job_before_printing(two_units, tmp_path):
    _, snap, _ = two_units
    (tmp_path / "registry").write_text("a file where the registry folder should be")
    registry = FormRegistry(tmp_path / "registry", [Keys().unit.recipient])
    out = tmp_path / "census.pdf"
    with pytest.raises(RegistryError, match="cannot record forms in the registry"):
        run_print_job(snap, PrintRequest("census", "4W", pdf_path=out), registry, now=NOW)
    assert not out.exists()  # nothing went out that the registry does not know of


def test_paper_out_but_not_recorded_says_so(two_units, tmp_path):
    """The disk fills up between handing the job over and recording it as printed."""
    _, snap, _ = two_units

    class FillsUp(FormRegistry):
        appends = 0

        def append(self, records):
            self.appends += 1
            if self.appends > 1:
                raise RegistryError(f"{self.path}: cannot record forms in the registry "
                                    "(No space left on device)")
            super().append(records)

    out = tmp_path / "census.pdf"
    with pytest.raises(PrintedNotRecorded, match=rf"printed \({out}\), but not recorded as "
                                                 r"printed: .*No space left"):
        run_print_job(snap, PrintRequest("census", "4W", pdf_path=out),
                      FillsUp(tmp_path / "registry", [Keys().unit.recipient]), now=NOW)
    assert out.read_bytes().startswith(b"%PDF")


def test_what_came_out_is_said_with_plurals_by_count():
    from forms.delivery import PrintResult
    from forms.registry import FormRecord

    one = FormRecord(form_id="DT-X", kind="census", patient_id="", encounter_id="", unit="4W",
                     snapshot_id="s", event="issued", at="t", by="u")
    assert PrintResult(17, [one], "q job 3").summary() == "17 pages, 1 form -> q job 3"
    assert PrintResult(1, [one, one], "x.pdf").summary() == "1 page, 2 forms -> x.pdf"



def test_the_registry_records_bed_name_and_mrn_as_the_forms_print_them(two_units, tmp_path):
    import pyrage

    from forms.registry import read_registry
    from snapshots import chart

    _, snap, _ = two_units
    ident = pyrage.x25519.Identity.generate()
    registry = FormRegistry(tmp_path / "registry", [str(ident.to_public())])
    result = run_print_job(snap, PrintRequest("packet", "4W", pdf_path=tmp_path / "p.pdf"),
                           registry, now=NOW)
    records = read_registry(registry.directory, [ident])
    assert {r.form_id for r in records} == {f.form_id for f in result.forms}
    for r in records:
        if r.kind == "census":  # a unit form names no patient
            assert (r.bed, r.patient_name, r.mrn) == ("", "", "")
            continue
        header = chart.header(snap.db, r.patient_id, NOW.date())
        assert (r.bed, r.patient_name, r.mrn) == (header.bed or "", header.name, header.mrn)
        assert r.bed and r.patient_name and r.mrn
    # the registry file holds none of it in plaintext
    raw = (registry.directory / "forms.log").read_bytes()
    assert not any(r.patient_name.encode() in raw or r.mrn.encode() in raw
                   for r in records if r.mrn)
