"""A record the source had that the build could not load (oversized, an invalid id, no
subject) is named on its patient's chart, and an active order or allergy among them makes the
build report it by patient: nothing missing looks like nothing there."""

from __future__ import annotations

import json

import pytest

from snapshots import chart
from tests.fhir_source import RXNORM, SNOMED, allergy, build, inpatient, order, unit, write


def _huge(res: dict) -> dict:
    """The resource with a narrative over the 1 MiB limit for one resource."""
    return {**res, "text": {"status": "generated",
                            "div": '<div xmlns="http://www.w3.org/1999/xhtml">' + "x" * (1 << 20)
                            + "</div>"}}


def source(folder):
    resources = [*unit(), *inpatient("p1", "Lost", "Anna", "A"),
                 *inpatient("p2", "Whole", "Bert", "B"), *inpatient("p3", "Noallergy", "Cy", "C")]
    resources += [
        order("mr-ok", "p1", "Metoprolol 25 mg tablet", "866514"),
        _huge(order("mr-big", "p1", "Vancomycin 1 g IV")),  # active, oversized
        order("mr_bad_id", "p1", "Heparin 5000 units"),  # active, invalid id
        {**order("mr-nosubject", "p1", "Insulin lispro"), "subject": None},  # encounter only
        order("mr-old", "p1", "Cefazolin 1 g IV", status="stopped", id="bad id!"),
        order("mr-fine", "p2", "Amlodipine 5 mg tablet", "197361"),
        allergy("al-nka", "p2", (SNOMED, "716186003", "No known allergy")),
        _huge(allergy("al-big", "p2", (RXNORM, "7980", "Penicillin G"))),
        _huge(allergy("al-big2", "p3", (RXNORM, "2670", "Codeine"))),
        allergy("al-inactive", "p3", {"text": "Latex"}, id="bad id!",
                clinicalStatus={"coding": [{"code": "resolved"}]}),
        # an outpatient's broken order concerns no chart in the snapshot
        {**order("mr-out", "out-1", "Aspirin"), "id": "bad id!!"},
    ]
    for res in resources:
        if res.get("resourceType") == "MedicationRequest" and res["id"] == "mr-nosubject":
            del res["subject"]
    return write(folder, resources)


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return build(source(tmp_path_factory.mktemp("lost")))


def test_the_chart_names_what_did_not_load(result):
    header = chart.header(result.conn, "p1")
    assert header.not_loaded_lines == (
        "4 medication orders (3 active) could not be loaded: see the source",)
    assert [m.medication for m in chart.medications(result.conn, "p1")] == [
        "Metoprolol 25 mg tablet"]
    assert chart.header(result.conn, "p2").not_loaded_lines == (
        "1 allergy record (active) could not be loaded: see the source",)


def test_an_allergy_that_did_not_load_is_in_the_allergy_banner(result):
    nka = chart.header(result.conn, "p2").allergy
    # "no known allergies" is recorded, but a penicillin allergy did not load: the banner
    # must not say NKA alone
    assert nka.kind == "nka" and nka.not_loaded == 1
    assert nka.summary.endswith("1 allergy record could not be loaded: see the source")
    assert nka.marker == "NKA!"
    unknown = chart.header(result.conn, "p3").allergy
    assert unknown.kind == "unknown" and unknown.not_loaded == 2 and unknown.marker == "???!"
    rows = {r.patient_id: r for r in chart.census(result.conn)}
    assert rows["p3"].allergy.not_loaded == 2 and rows["p1"].allergy.not_loaded == 0


def test_the_build_report_lists_active_records_not_loaded_by_patient(result):
    lost = result.report["records_not_loaded"]
    found = {(r["patient_id"], r["resource_id"]) for r in lost}
    assert found == {("p1", "mr-big"), ("p1", "mr_bad_id"), ("p1", "mr-nosubject"),
                     ("p2", "al-big"), ("p3", "al-big2")}
    reasons = {r["resource_id"]: r["reason"] for r in lost}
    assert reasons["mr-big"] == "error:oversized" and reasons["mr_bad_id"] == "error:invalid-id"
    assert reasons["mr-nosubject"] == "error:missing-required"
    # a stopped order and a resolved allergy that did not load do not alert, an outpatient's
    # broken order concerns no chart: all three are still in the gap register
    ids = {r[0] for r in result.conn.execute("SELECT resource_id FROM gaps WHERE reason LIKE "
                                             "'error:%'")}
    assert {"bad id!", "bad id!!"} <= ids


def test_build_exits_2_naming_patient_and_record(tmp_path, keys):
    from click.testing import CliRunner

    from downtime.cli import cli
    from tests.factory import write_site_config

    config = write_site_config(tmp_path, keys, source(tmp_path / "source"))
    env = {"DOWNTIME_PASSPHRASE": "test"}
    result = CliRunner().invoke(cli, ["--config", str(config), "snapshot", "build"], env=env)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "active records NOT loaded: 5 active medication order(s)" in result.output
    assert "patient p1: active MedicationRequest mr-big: oversized" in result.output
    assert "patient p2: active AllergyIntolerance al-big: oversized" in result.output
    data = json.loads(CliRunner().invoke(cli, ["--config", str(config), "snapshot", "build",
                                               "--json"], env=env).output)
    assert data["exit_status"] == 2 and data["records_not_loaded"] == 5
    assert data["census_complete"]  # every inpatient is there: it is their records that are not


def test_a_refresh_carries_and_adds_records_not_loaded(tmp_path, keys):
    """An incremental build keeps the previous build's lost records (still not in the
    snapshot) and adds the delta's; one the delta brings again, now valid, is no longer lost."""
    from snapshots.incremental import refresh_database
    from snapshots.publish import Recipients, publish
    from snapshots.settings import BuildSettings
    from tests.fhir_source import AS_OF, iso

    first = build(source(tmp_path / "full"))
    (house, _), = publish(first.conn, tmp_path / "store", recipients=Recipients(
        builder=[keys.unit.recipient]), signing_key=keys.signing, as_of=iso(AS_OF),
        source="test")
    delta = write(tmp_path / "delta", [
        _huge(order("mr-new", "p2", "Ceftriaxone 1 g IV")),  # lost in this refresh
        order("mr-nosubject", "p1", "Insulin lispro"),  # brought again, whole this time
    ])
    result, _ = refresh_database(house, delta, BuildSettings(as_of=AS_OF), keys.unit,
                                 keys.trusted)
    found = {(r["patient_id"], r["resource_id"]) for r in result.report["records_not_loaded"]}
    assert ("p2", "mr-new") in found and ("p1", "mr-big") in found
    assert ("p1", "mr-nosubject") not in found
    assert chart.header(result.conn, "p2").not_loaded_lines[-1] == \
        "1 medication order (active) could not be loaded: see the source"
