"""Every mess of the demo hospital is handled, case by case, by the build."""

from __future__ import annotations

import gzip
import shutil
from datetime import UTC, datetime

import pytest

from downtime.generator import generate
from snapshots import chart
from snapshots.pipeline import build_database
from snapshots.settings import BuildSettings

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    src = tmp_path_factory.mktemp("hospital")
    summary = generate(src, patients=60, seed=2, as_of=AS_OF)
    return summary, build_database(src, BuildSettings(as_of=AS_OF)), src


def gaps(result, reason):
    return [g for g in result.gaps.gaps if g.reason == reason]


def test_every_active_inpatient_is_in_the_census(built):
    summary, result, _ = built
    census = result.report["census"]
    assert census["in_snapshot"] == summary.inpatients == 60 and census["complete"]
    assert not census["excluded"]
    assert result.report["types"]["Encounter"]["not-in-census"] > 0  # finished, ED, planned


def test_merged_chart_folds_into_the_survivor(built):
    summary, result, _ = built
    db = result.conn
    old, survivor = "pat-merged-old", "pat-000003"
    assert db.execute("SELECT count(*) FROM patients WHERE id = ?", (old,)).fetchone()[0] == 0
    assert db.execute("SELECT merged_from FROM patients WHERE id = ?", (survivor,)
                      ).fetchone()[0] == old
    assert db.execute("SELECT patient_id FROM allergies WHERE id = 'al-merged'"
                      ).fetchone()[0] == survivor
    assert chart.search_patient_ids(db, "MRN9999999") == [survivor]  # the old chart's MRN


def test_multiple_mrns_are_all_searchable(built):
    summary, result, _ = built
    pid = summary.messes["multiple_mrns"][0]
    values = [v for (v,) in result.conn.execute(
        "SELECT value FROM identifiers WHERE patient_id = ?", (pid,))]
    assert len(values) >= 2
    for value in values:
        assert pid in chart.search_patient_ids(result.conn, value)
    assert chart.header(result.conn, pid).other_mrns


def test_deceased_with_open_encounter_is_flagged_not_dropped(built):
    _, result, _ = built
    assert chart.header(result.conn, "pat-000005").deceased
    assert any(g.patient_id == "pat-000005" for g in gaps(result, "deceased-open-encounter"))


def test_transfer_places_the_patient_in_the_current_unit(built):
    _, result, _ = built
    unit, previous = result.conn.execute(
        "SELECT unit_code, previous_units FROM encounters WHERE id = 'enc-000007'").fetchone()
    assert previous and previous != unit


def test_alike_names_raise_a_name_alert(built):
    _, result, _ = built
    a, b = (chart.header(result.conn, p) for p in ("pat-000010", "pat-000011"))
    assert a.name_alert and b.name_alert and a.unit == b.unit == "4W"
    assert b.name in a.name_alert_with


def test_allergy_states(built):
    summary, result, _ = built
    db = result.conn
    merged = set(summary.messes["merged_chart"])
    for pid in summary.messes["nka_recorded"]:
        if pid not in merged:
            assert chart.allergy_status(db, pid).kind == "nka"
    if "pat-000003" in summary.messes["nka_recorded"]:
        # NKA on the survivor, an allergy on the merged-in chart: the allergy wins
        status = chart.allergy_status(db, "pat-000003")
        assert status.kind == "allergies" and status.summary
        assert any(g.patient_id == "pat-000003" for g in gaps(built[1], "allergy-conflict"))
    for pid in summary.messes["no_allergy_record"]:
        assert chart.allergy_status(db, pid).kind == "unknown"
    free = summary.messes["free_text_allergy"][0]
    row = db.execute("SELECT coded, substance FROM allergies WHERE id = ?", (free,)).fetchone()
    assert row[0] == 0 and row[1]


def test_legacy_held_status_means_on_hold(built):
    summary, result, _ = built
    for mid in summary.messes["legacy_hold_status"]:
        status, note = result.conn.execute(
            "SELECT status, status_note FROM med_orders WHERE id = ?", (mid,)).fetchone()
        assert status == "on-hold" and "HELD" in note


def test_restricted_rows_are_marked(built):
    summary, result, _ = built
    db = result.conn
    notes = [m for m in summary.messes["restricted"] if m.startswith("doc-")]
    marked = db.execute(f"SELECT count(*) FROM notes WHERE restricted = 1 AND id IN "
                        f"({','.join('?' * len(notes))})", notes).fetchone()[0]
    kept = db.execute(f"SELECT count(*) FROM notes WHERE id IN ({','.join('?' * len(notes))})",
                      notes).fetchone()[0]
    assert kept and marked == kept


def test_missing_required_and_unknown_systems_go_to_the_gap_register(built):
    summary, result, _ = built
    missing = {g.resource_id for g in gaps(result, "missing-required")}
    assert set(summary.messes["missing_required"]) <= missing
    unknown = gaps(result, "unknown-code-system")
    assert any("local.legacy-lab" in g.detail for g in unknown)
    assert result.report["required_fields_missing"]


def test_absolute_references_resolve(built):
    summary, result, _ = built
    absolute = [r for r in summary.messes["reference_forms"] if r.startswith("Patient/")]
    assert absolute
    assert not gaps(result, "unresolved-subject")


def test_timestamp_issues_are_reported(built):
    _, result, _ = built
    kinds = result.report["timestamps"]
    assert kinds.get("future") and kinds.get("admit-after-discharge") and \
        kinds.get("before-birth")
    future = gaps(result, "timestamp-future")[0].detail
    assert "the build's as-of" in future and "min tolerance" in future, future


def test_no_code_status_is_shown_as_missing(built):
    summary, result, _ = built
    pid = summary.messes["no_code_status"][0]
    assert chart.header(result.conn, pid).code_status is None


def test_gzipped_ndjson_builds_the_same(built, tmp_path):
    _, result, src = built
    for path in src.glob("*.ndjson"):
        with open(path, "rb") as f, gzip.open(tmp_path / (path.name + ".gz"), "wb") as g:
            shutil.copyfileobj(f, g)
    again = build_database(tmp_path, BuildSettings(as_of=AS_OF))
    assert again.report["tables"] == result.report["tables"]


def test_restricted_medication_orders_are_marked(built):
    summary, result, _ = built
    db = result.conn
    orders = [m for m in summary.messes["restricted"] if m.startswith("mr-")]
    assert orders
    rows = db.execute(f"SELECT id, patient_id, restricted FROM med_orders WHERE id IN "
                      f"({','.join('?' * len(orders))})", orders).fetchall()
    assert rows and all(r[2] == 1 for r in rows)
    assert db.execute("SELECT count(*) FROM med_orders WHERE restricted = 1").fetchone()[0] \
        == len(rows)
    pid = rows[0][1]
    meds = chart.medications(db, pid, include_inactive=True)
    assert {m.id for m in meds if m.restricted} == {r[0] for r in rows if r[1] == pid}


def test_prn_and_iv_orders_have_a_last_given(built):
    """The MAR's "last given" matters most for PRN doses: the demo hospital gives some."""
    _, result, _ = built
    db = result.conn
    for flag in ("prn", "iv"):
        given = db.execute(f"SELECT count(DISTINCT o.id) FROM med_orders o JOIN administrations a "
                           f"ON a.order_id = o.id WHERE o.{flag} = 1 AND o.status = 'active'"
                           ).fetchone()[0]
        assert given > 0, flag
    pid, oid = db.execute("SELECT o.patient_id, o.id FROM med_orders o JOIN administrations a "
                          "ON a.order_id = o.id WHERE o.prn = 1 AND a.status = 'completed' "
                          "LIMIT 1").fetchone()
    meds = {m.id: m for m in chart.medications(db, pid, now=AS_OF)}
    assert meds[oid].prn and meds[oid].last_given
