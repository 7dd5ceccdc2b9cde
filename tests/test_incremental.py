"""Incremental refresh: a delta (changed resources + DELETE bundles) on top of the previous
house snapshot gives the same census a full build of the changed source would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from snapshots import chart
from snapshots.incremental import refresh_database
from snapshots.pipeline import build_database
from snapshots.publish import Recipients, publish
from snapshots.sealed import SnapshotError
from snapshots.settings import BuildSettings
from tests.factory import Keys, published_hospital

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
LATER = AS_OF + timedelta(minutes=15)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("inc")
    keys = Keys()
    _, house = published_hospital(root, keys, patients=30, seed=5, as_of=AS_OF)
    return root, keys, house


def lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def write_delta(folder, items):
    folder.mkdir(parents=True, exist_ok=True)
    by_type = {}
    for item in items:
        by_type.setdefault(item["resourceType"], []).append(item)
    for rtype, resources in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in resources))


def test_refresh_discharges_updates_deletes_and_reuses(base, tmp_path):
    root, keys, house = base
    encounters = {e["id"]: e for e in lines(root / "src" / "Encounter.ndjson")}
    discharged = encounters["enc-000012"]
    discharged.update(status="finished")
    discharged["period"]["end"] = "2026-11-25T14:10:00Z"
    allergy = next(a for a in lines(root / "src" / "AllergyIntolerance.ndjson")
                   if a["patient"]["reference"].endswith("pat-000000"))
    allergy["code"] = {"text": "Shellfish"}
    allergy["meta"]["versionId"] = "9"
    orders = [o for o in lines(root / "src" / "MedicationRequest.ndjson")
              if o.get("subject", {}).get("reference", "").endswith("pat-000001")]
    deleted = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": f"MedicationRequest/{orders[0]['id']}"}}]}
    unchanged = lines(root / "src" / "Flag.ndjson")[:5]
    write_delta(tmp_path / "delta", [discharged, allergy, deleted, *unchanged])

    result, previous_id = refresh_database(house, tmp_path / "delta",
                                           BuildSettings(as_of=LATER), keys.unit, keys.trusted)
    db = result.conn
    census = {r.patient_id for r in chart.census(db)}
    assert "pat-000012" not in census and len(census) == 29
    assert db.execute("SELECT count(*) FROM observations WHERE patient_id = 'pat-000012'"
                      ).fetchone()[0] == 0
    assert db.execute("SELECT substance FROM allergies WHERE id = ?", (allergy["id"],)
                      ).fetchone()[0] == "Shellfish"
    assert db.execute("SELECT count(*) FROM med_orders WHERE id = ?", (orders[0]["id"],)
                      ).fetchone()[0] == 0
    assert result.stats.counts["Flag"]["unchanged"] == 5
    assert previous_id


def test_refresh_needs_an_identity_that_opens_the_previous(base, tmp_path):
    root, keys, house = base
    write_delta(tmp_path / "d", [lines(root / "src" / "Flag.ndjson")[0]])
    with pytest.raises(SnapshotError) as err:
        refresh_database(house, tmp_path / "d", BuildSettings(as_of=LATER), keys.pharmacy,
                         keys.trusted)
    assert err.value.reason == "not-a-recipient"


def _final_source(src, folder, changed, deleted):
    """The source as it stands after the delta: what a full build would read."""
    folder.mkdir(parents=True, exist_ok=True)
    by_key = {(r["resourceType"], r["id"]): r for r in changed}
    for path in src.glob("*.ndjson"):
        out = []
        for r in lines(path):
            key = (r["resourceType"], r["id"])
            if key in deleted:
                continue
            out.append(by_key.pop(key, r))
        rtype = path.name.split(".")[0]
        out += [r for k, r in list(by_key.items()) if k[0] == rtype]
        for k in [k for k in by_key if k[0] == rtype]:
            del by_key[k]
        (folder / path.name).write_text("".join(json.dumps(r) + "\n" for r in out))
    assert not by_key


def _rows(db, table):
    return sorted(tuple(r) for r in db.execute(f"SELECT * FROM {table}"))


def test_incremental_gives_what_a_full_build_of_the_final_data_gives(base, tmp_path):
    root, keys, house = base
    src = root / "src"
    encounters = {e["id"]: e for e in lines(src / "Encounter.ndjson")}
    patients = {p["id"]: p for p in lines(src / "Patient.ndjson")}
    discharged = encounters["enc-000012"]
    discharged.update(status="finished")
    discharged["period"]["end"] = "2026-11-25T14:10:00Z"
    # a readmission of a census patient: the old stay ends, a new one starts; the Patient
    # resource is unchanged, so not in the delta
    ended = encounters["enc-000020"]
    ended.update(status="finished")
    ended["period"]["end"] = "2026-11-25T14:05:00Z"
    readmit = json.loads(json.dumps(ended))
    readmit.update(id="enc-readmit", status="in-progress")
    readmit["period"] = {"start": "2026-11-25T14:06:00Z"}
    # a new admission whose Patient is in the delta (changed: a new address)
    newcomer = patients["out-000001"]
    newcomer["meta"]["versionId"] = "7"
    admit = json.loads(json.dumps(encounters["enc-000021"]))
    admit.update(id="enc-new", subject={"reference": "Patient/out-000001"})
    admit["period"] = {"start": "2026-11-25T14:07:00Z"}
    admit["location"] = [admit["location"][-1]]
    encounters["enc-000021"]["location"][-1]["status"] = "completed"
    allergy = next(a for a in lines(src / "AllergyIntolerance.ndjson")
                   if a.get("patient", {}).get("reference", "").endswith("pat-000000"))
    allergy["code"] = {"text": "Shellfish"}
    orders = [o for o in lines(src / "MedicationRequest.ndjson")
              if o.get("subject", {}).get("reference", "").endswith("pat-000001")]
    stopped = orders[1]
    stopped["status"] = "stopped"
    changed = [discharged, ended, readmit, newcomer, admit, encounters["enc-000021"], allergy,
               stopped]
    delete = {("MedicationRequest", orders[0]["id"])}
    write_delta(tmp_path / "delta", changed + [{"resourceType": "Bundle", "type":
                                                "transaction", "entry": [
        {"request": {"method": "DELETE", "url": f"MedicationRequest/{orders[0]['id']}"}}]}])
    _final_source(src, tmp_path / "final", changed, delete)

    settings = BuildSettings(as_of=LATER)
    full = build_database(tmp_path / "final", settings)
    inc, _ = refresh_database(house, tmp_path / "delta", settings, keys.unit, keys.trusted)
    assert inc.report["census"] == full.report["census"]
    assert inc.report["census"]["complete"]
    assert inc.report["census"]["source_active_inpatient_encounters"] == 30
    census = {(r.patient_id, r.encounter_id) for r in chart.census(inc.conn)}
    assert ("pat-000020", "enc-readmit") in census and ("out-000001", "enc-new") in census
    for table in ("patients", "identifiers", "encounters", "allergies", "med_orders",
                  "locations", "units", "observations", "administrations", "notes",
                  "procedures", "flags", "practitioners", "downtime_ids", "census_exclusions"):
        assert _rows(inc.conn, table) == _rows(full.conn, table), table
    # A patient new to the census has only what the delta carried (their unchanged problem
    # list comes with the next full build), and the gap register says so.
    newcomer_only = "patient_id != 'out-000001'"
    assert sorted(inc.conn.execute(f"SELECT * FROM problems WHERE {newcomer_only}")) == \
        sorted(full.conn.execute(f"SELECT * FROM problems WHERE {newcomer_only}"))
    assert any(g.reason == "admitted-since-previous" and g.patient_id == "out-000001"
               for g in inc.gaps.gaps)
    # the readmitted patient keeps the allergies the delta did not repeat
    assert inc.conn.execute("SELECT count(*) FROM allergies WHERE patient_id = 'pat-000020'"
                            ).fetchone()[0] == full.conn.execute(
        "SELECT count(*) FROM allergies WHERE patient_id = 'pat-000020'").fetchone()[0]


def test_returning_patient_not_in_delta_is_excluded_with_the_reason(base, tmp_path):
    root, keys, house = base
    encounter = next(e for e in lines(root / "src" / "Encounter.ndjson")
                     if e["id"] == "enc-000003")
    returning = json.loads(json.dumps(encounter))
    returning.update(id="enc-return", subject={"reference": "Patient/out-000002"})
    returning["period"] = {"start": "2026-11-25T14:07:00Z"}
    write_delta(tmp_path / "delta", [returning])
    result, _ = refresh_database(house, tmp_path / "delta", BuildSettings(as_of=LATER),
                                 keys.unit, keys.trusted)
    census = result.report["census"]
    assert not census["complete"] and census["in_snapshot"] == 30
    assert census["source_active_inpatient_encounters"] == 31
    (excluded,) = census["excluded"]
    assert excluded["encounter_id"] == "enc-return"
    assert "not in delta or previous snapshot: run a full build" in excluded["reason"]


def test_refresh_sequence_follows_the_previous_one(base, tmp_path):
    root, keys, house = base
    write_delta(tmp_path / "delta", [lines(root / "src" / "Flag.ndjson")[0]])
    result, previous_id = refresh_database(house, tmp_path / "delta",
                                           BuildSettings(as_of=LATER), keys.unit, keys.trusted)
    # an empty folder: the store's own sequence would be 1; the previous snapshot's was 1
    written = publish(result.conn, tmp_path / "elsewhere", recipients=Recipients(
        escrow=[keys.escrow.recipient]), signing_key=keys.signing, as_of="x", source="t",
        previous_id=previous_id)
    assert written[0][1].sequence == 2
    assert "of 0" not in json.dumps(result.report["census"])
    assert result.report["census"]["source_active_inpatient_encounters"] == 30


def test_previous_snapshot_of_an_older_schema_needs_a_full_build(base, tmp_path):
    """A snapshot from before a schema change is refused in one line, not half refreshed."""
    import sqlite3

    from snapshots.schema import create_schema

    root, keys, _ = base
    old = sqlite3.connect(":memory:")
    create_schema(old)
    old.execute("ALTER TABLE med_orders DROP COLUMN restricted")  # as before the column
    written = publish(old, tmp_path / "old", recipients=Recipients(
        builder=[keys.unit.recipient]), signing_key=keys.signing, as_of="x", source="t")
    write_delta(tmp_path / "delta", [lines(root / "src" / "Flag.ndjson")[0]])
    with pytest.raises(SnapshotError) as err:
        refresh_database(written[0][0], tmp_path / "delta", BuildSettings(as_of=LATER),
                         keys.unit, keys.trusted)
    assert err.value.reason == "schema-changed" and "full build" in str(err.value)


def test_refresh_report_counts_the_gaps_it_carries(base, tmp_path):
    """The report of a refresh counts the gaps the snapshot holds: those carried from the
    previous build as well as the delta's own, so that --strict sees a carried error."""
    root, keys, house = base
    write_delta(tmp_path / "delta", lines(root / "src" / "Flag.ndjson")[:3])
    result, _ = refresh_database(house, tmp_path / "delta", BuildSettings(as_of=LATER),
                                 keys.unit, keys.trusted)
    held = dict(result.conn.execute(
        "SELECT substr(reason, 1, instr(reason, ':') - 1), count(*) FROM gaps GROUP BY 1"))
    assert held.get("error", 0) > 0, "the generated hospital carries records in error"
    assert result.report["gaps"]["errors"] == held["error"]
    assert result.report["gaps"]["warnings"] == held.get("warning", 0)
    assert sum(result.report["gaps"]["by_reason"].values()) == sum(held.values())


def test_a_refresh_report_says_what_was_carried_deleted_and_read(base, tmp_path):
    """A DELETE is a "deleted" count, not an empty row; the census patients the delta did not
    bring are "carried over", not "kept" beside "read 1"."""
    from rich.console import Console

    from snapshots.report import render

    root, keys, house = base
    patient = next(p for p in lines(root / "src" / "Patient.ndjson") if p["id"] == "pat-000003")
    patient["meta"]["versionId"] = "7"
    patient["name"][0]["given"] = ["Renamed"]
    flag = lines(root / "src" / "Flag.ndjson")[0]
    deleted = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": f"Flag/{flag['id']}"}}]}
    write_delta(tmp_path / "delta", [patient, deleted])
    result, _ = refresh_database(house, tmp_path / "delta", BuildSettings(as_of=LATER),
                                 keys.unit, keys.trusted)
    types = result.report["types"]
    assert {k: types["Patient"][k] for k in ("read", "kept", "carried")} == \
        {"read": 1, "kept": 1, "carried": 29}
    assert types["Flag"]["deleted"] == 1 and "(previous snapshot)" not in types
    console = Console(width=120, record=True)
    render(result.report, console)
    table = console.export_text()
    assert "carried" in table and "deleted" in table
    flag_row = next(line for line in table.splitlines() if line.startswith("Flag"))
    assert flag_row.split() == ["Flag", "1"]  # the one count under "deleted"


def test_a_warning_found_while_mapping_stays_when_its_record_is_unchanged(base, tmp_path):
    """The previous build's admit-after-discharge warning (found while mapping the encounter)
    is still in the register after a refresh that did not bring that encounter again."""
    root, keys, house = base
    write_delta(tmp_path / "delta", [lines(root / "src" / "Flag.ndjson")[0]])
    result, _ = refresh_database(house, tmp_path / "delta", BuildSettings(as_of=LATER),
                                 keys.unit, keys.trusted)
    reasons = {(r[0], r[1]) for r in result.conn.execute(
        "SELECT reason, resource_id FROM gaps")}
    assert ("warning:timestamp-admit-after-discharge", "enc-000009-p0") in reasons
