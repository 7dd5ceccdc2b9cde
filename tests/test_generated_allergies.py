"""The demo hospital's allergy and order messes, generated and built for real: each one is
where docs/demo-hospital.md says and comes out of the build as the chart should show it."""

from __future__ import annotations

import pytest

from downtime.generator import generate
from snapshots import chart
from tests.fhir_source import AS_OF, build


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-allergies")
    summary = generate(out, patients=40, seed=3, as_of=AS_OF)
    return summary, build(out)


def test_nkda_and_nka_are_told_apart(hospital):
    summary, result = hospital
    nkda = set(summary.messes["nkda_recorded"])
    assert nkda and nkda < set(summary.messes["nka_recorded"])
    for pid in summary.messes["nka_recorded"]:
        status = chart.header(result.conn, pid).allergy
        if pid == "pat-000003":  # the merged chart brings an allergy: that is shown
            assert status.kind == "allergies"
            continue
        assert status.marker == ("NKDA" if pid in nkda else "NKA"), pid
    (pid,) = summary.messes["nkda_with_food_allergy"]
    status = chart.header(result.conn, pid).allergy
    assert [a.substance for a in status.allergies] == ["Peanut"]
    assert status.no_known_text == "No known drug allergies"


def test_the_cross_reaction_is_flagged(hospital):
    summary, result = hospital
    (pid,) = summary.messes["allergy_order_cross_reaction"]
    conflicts = chart.allergy_check(result.conn, pid, AS_OF).conflicts
    zosyn = [c for c in conflicts if c.order_id == "mr-13-zosyn"]
    assert zosyn and zosyn[0].basis == "class" and zosyn[0].substance == "Penicillin G"


def test_the_malformed_allergy_keeps_its_text(hospital):
    summary, result = hospital
    (aid,) = summary.messes["malformed_allergy"]
    pid = result.conn.execute("SELECT patient_id FROM allergies WHERE id = ?",
                              (aid,)).fetchone()[0]
    item = next(a for a in chart.header(result.conn, pid).allergy.items if a.id == aid)
    assert item.substance == "Sulfa drugs" and "criticality '3'" in item.warning


def test_the_order_that_did_not_load_is_said_and_alerts(hospital):
    summary, result = hospital
    (mid,) = summary.messes["order_not_loaded"]
    lost = {r["resource_id"]: r for r in result.report["records_not_loaded"]}
    assert lost[mid]["patient_id"] == "pat-000015" and lost[mid]["reason"] == "error:invalid-id"
    # the demo's other active records that did not load: one by its encounter, one of nobody
    assert lost["mr-6-x"]["patient_id"] == "pat-000006"
    assert lost["al-orphan"]["patient_id"] == ""
    header = chart.header(result.conn, "pat-000015")
    assert "1 medication order (active) could not be loaded: see the source" in \
        header.not_loaded_lines


def test_the_normalised_lab_is_latest_with_its_trend(hospital):
    summary, result = hospital
    (oid,) = summary.messes["normalised_lab"]
    pid = result.conn.execute("SELECT patient_id FROM observations WHERE id = ?",
                              (oid,)).fetchone()[0]
    results = chart.latest_results(chart.observations(result.conn, pid, "laboratory"))
    potassium = next(r for r in results if r.latest.code == "2823-3")
    assert potassium.latest.value_num == 4.0 and not potassium.abnormal
    assert potassium.changed_from is not None and potassium.changed_from.value_num == 3.3
