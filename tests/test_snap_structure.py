"""Structurally wrong resources (a list where a string belongs, an object where a list
belongs, keys missing) never stop a build: each is mapped or in the gap register, and the
census accounting still adds up."""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from downtime.generator import generate
from snapshots import build as build_module
from snapshots.incremental import TABLE_OF
from snapshots.map_core import is_census_encounter
from snapshots.pipeline import build_database
from snapshots.settings import BuildSettings

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
SETTINGS = BuildSettings(as_of=AS_OF)
# Outcomes that mean "left out on purpose and counted", not lost.
ON_PURPOSE = {"not-in-census", "outside-window", "ignored"}
WEIRD = st.sampled_from([None, 0, -1.5, 10**30, True, "", "not a code", [], [None], ["active"], [5],
                         {}, {"a": 1}, [{}], {"reference": ["Patient/x"]}])


@pytest.fixture(scope="module")
def hospital(tmp_path_factory) -> dict[str, list[dict]]:
    folder = tmp_path_factory.mktemp("small")
    generate(folder, patients=4, seed=11, as_of=AS_OF)
    return {p.name: [json.loads(x) for x in p.read_text().splitlines()]
            for p in sorted(folder.glob("*.ndjson"))}


def _mutate(data: st.DataObject, node: object, depth: int = 0) -> None:
    """Replace one value somewhere inside `node` with a wrongly shaped one, or drop a key."""
    if isinstance(node, dict) and node:
        key = data.draw(st.sampled_from(sorted(node)))
        child = node[key]
        if isinstance(child, dict | list) and child and depth < 4 and data.draw(st.booleans()):
            _mutate(data, child, depth + 1)
        elif key != "resourceType" and data.draw(st.integers(0, 4)) == 0:
            del node[key]
        else:  # a copy: a later mutation inside it must not change what WEIRD draws next
            node[key] = copy.deepcopy(data.draw(WEIRD))
    elif isinstance(node, list) and node:
        i = data.draw(st.integers(0, len(node) - 1))
        if isinstance(node[i], dict | list) and node[i] and data.draw(st.booleans()):
            _mutate(data, node[i], depth + 1)
        else:
            node[i] = copy.deepcopy(data.draw(WEIRD))


# No shrinking (each example is a whole build; the failing one is printed as found) and no
# example database: saved examples would replay against another generator's output.
@settings(max_examples=40, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_structural_mutations_never_stop_a_build(hospital, data):
    files = copy.deepcopy(hospital)
    names = sorted(files)
    mutated: list[tuple[str, int, dict]] = []  # (file, line, resource as mutated)
    for _ in range(data.draw(st.integers(1, 8))):
        name = data.draw(st.sampled_from(names))
        line = data.draw(st.integers(0, len(files[name]) - 1))
        for _ in range(data.draw(st.integers(1, 3))):
            _mutate(data, files[name][line])
        mutated.append((name, line + 1, files[name][line]))
    outcomes: dict[str, str] = {}
    original = build_module.Builder._clinical

    def recording(self, rtype, rec):
        outcome = original(self, rtype, rec)
        outcomes[rec.where] = outcome
        return outcome

    build_module.Builder._clinical = recording
    try:
        with tempfile.TemporaryDirectory(prefix="snap-structure-") as tmp:
            for name, resources in files.items():
                Path(tmp, name).write_text("".join(json.dumps(r) + "\n" for r in resources))
            result = build_database(Path(tmp), SETTINGS)  # must not raise
    finally:
        build_module.Builder._clinical = original
    db = result.conn
    gap_where = {g.where for g in result.gaps.gaps}
    census = result.report["census"]
    excluded = {e["encounter_id"] for e in census["excluded"]}
    in_db = {r[0] for r in db.execute("SELECT id FROM encounters")}
    for name, line, res in mutated:
        where = f"{name}:{line}"
        rtype, rid = res.get("resourceType"), res.get("id")
        table = TABLE_OF.get(rtype) if isinstance(rtype, str) else None
        mapped = bool(table and isinstance(rid, str) and db.execute(
            f"SELECT 1 FROM {table} WHERE {'src_id' if table != 'locations' else 'id'} = ?",
            (rid,)).fetchone())
        if mapped or where in gap_where or outcomes.get(where) in ON_PURPOSE:
            continue
        if rtype == "Encounter" and not is_census_encounter(res, SETTINGS.encounter_status,
                                                            SETTINGS.encounter_class):
            continue  # no longer an active inpatient: counted as not-in-census
        if rtype == "Patient" and rid not in {r[0] for r in db.execute(
                "SELECT patient_id FROM encounters")}:
            continue  # its encounter left the census (or was excluded, with the reason)
        if rtype in ("Medication", "Practitioner") or outcomes.get(where) == "unchanged":
            continue
        pytest.fail(f"{where} ({rtype}/{rid}) neither mapped nor in the gap register: "
                    f"outcome {outcomes.get(where)!r}")
    # Census accounting: every active inpatient encounter is in the snapshot or listed.
    assert census["in_snapshot"] == len(in_db)
    assert census["in_snapshot"] + len(excluded) == census["source_active_inpatient_encounters"]
    patients = {r[0] for r in db.execute("SELECT id FROM patients")}
    assert not census["unaccounted"]
    assert census["complete"] == all(e["patient_id"] in patients for e in census["excluded"])
    for rtype, counts in result.report["types"].items():
        if rtype in ("Patient", "Encounter", "(previous snapshot)"):
            continue
        taken = sum(v for k, v in counts.items() if k != "read")
        assert taken == counts.get("read", 0), (rtype, counts)


def _encounter(eid: object, subject: object = "Patient/p1") -> dict:
    res = {"resourceType": "Encounter", "id": eid, "status": "in-progress",
           "class": {"code": "IMP"}, "period": {"start": "2026-11-24T10:00:00Z"}}
    if subject is not None:
        res["subject"] = {"reference": subject}
    return res


def test_rejected_active_encounters_count_in_the_census(tmp_path):
    """An active inpatient encounter that fails the checks is still in the source census,
    listed as excluded with the reason: the report never calls such a census complete."""
    patients = [{"resourceType": "Patient", "id": "p1", "name": [{"family": "Ames"}]},
                {"resourceType": "Patient", "id": "p2", "name": [{"family": "Bo"}]}]
    encounters = [_encounter("e1"), _encounter("bad id!", "Patient/p2"),
                  _encounter("e3", None), {**_encounter("e4", "Patient/p2"),
                                           "status": "in-progress", "period": ["x"],
                                           "location": {"location": 5}}]
    encounters[3]["class"] = {"code": "IMP"}
    encounters[3]["reasonCode"] = {"text": ["not", "text"]}
    encounters.append({**_encounter("e5", "Patient/p2"), "priority": {"coding": [5]},
                       "serviceType": ["x"]})
    encounters[4]["id"] = ["e5"]
    (tmp_path / "Patient.ndjson").write_text("".join(json.dumps(p) + "\n" for p in patients))
    (tmp_path / "Encounter.ndjson").write_text("".join(json.dumps(e) + "\n"
                                                       for e in encounters))
    result = build_database(tmp_path, SETTINGS)
    census = result.report["census"]
    assert census["in_snapshot"] == 2 and not census["complete"]
    assert census["source_active_inpatient_encounters"] == 5
    reasons = {e["encounter_id"]: e["reason"] for e in census["excluded"]}
    assert "invalid-id" in reasons["bad id!"]
    assert "no subject" in reasons["e3"]
    assert any(k.startswith("(no id: Encounter.ndjson:5") for k in reasons)
    assert result.conn.execute("SELECT count(*) FROM census_exclusions").fetchone()[0] == 3


@pytest.fixture(scope="module")
def previous(tmp_path_factory, hospital):
    from snapshots.publish import Recipients, publish
    from tests.factory import Keys

    root = tmp_path_factory.mktemp("prev")
    for name, resources in hospital.items():
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in resources))
    keys = Keys()
    result = build_database(root, SETTINGS)
    written = publish(result.conn, root / "store", recipients=Recipients(
        builder=[keys.unit.recipient]), signing_key=keys.signing, as_of="x", source="t")
    return written[0][0], keys


@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_structural_mutations_in_a_delta_never_stop_a_refresh(hospital, previous, data):
    from snapshots.incremental import refresh_database

    house, keys = previous
    names = sorted(hospital)
    delta: dict[str, list[dict]] = {}
    for _ in range(data.draw(st.integers(1, 6))):
        name = data.draw(st.sampled_from(names))
        res = copy.deepcopy(hospital[name][data.draw(st.integers(0, len(hospital[name]) - 1))])
        for _ in range(data.draw(st.integers(0, 3))):
            _mutate(data, res)
        delta.setdefault(name, []).append(res)
    with tempfile.TemporaryDirectory(prefix="snap-delta-") as tmp:
        for name, resources in delta.items():
            Path(tmp, name).write_text("".join(json.dumps(r) + "\n" for r in resources))
        result, _ = refresh_database(house, Path(tmp), SETTINGS, keys.unit, keys.trusted)
    census = result.report["census"]
    in_db = result.conn.execute("SELECT count(*) FROM encounters").fetchone()[0]
    assert census["in_snapshot"] == in_db and not census["unaccounted"]
    assert census["in_snapshot"] + len(census["excluded"]) == \
        census["source_active_inpatient_encounters"]


def test_a_row_sqlite_cannot_store_goes_to_the_gap_register(hospital, tmp_path):
    """A value the mapper passed through (a list as dosage text) fails only at insert: that
    row alone goes to the gap register, with file:line, and its batch is still stored."""
    files = copy.deepcopy(hospital)
    orders = files["MedicationRequest.ndjson"]
    line, bad = next((n, o) for n, o in enumerate(orders, 1)
                     if o["status"] == "active" and "subject" in o)
    bad["dosageInstruction"][0]["text"] = ["take", "with food"]
    for name, resources in files.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in resources))
    result = build_database(tmp_path, SETTINGS)
    (gap,) = [g for g in result.gaps.gaps if g.reason == "unmappable"]
    assert gap.where == f"MedicationRequest.ndjson:{line}" and gap.resource_id == bad["id"]
    assert "med_orders.instructions" in gap.detail
    db = result.conn
    assert not db.execute("SELECT 1 FROM med_orders WHERE id = ?", (bad["id"],)).fetchone()
    kept = result.report["types"]["MedicationRequest"]
    assert db.execute("SELECT count(*) FROM med_orders").fetchone()[0] == kept["kept"]
    assert kept["rejected"] >= 1


def test_high_volume_types_do_not_lose_values_silently(hospital, tmp_path):
    """Observations skip the deep checks (they are most of an export), so the mapper itself
    says when a category or value is of the wrong shape."""
    files = copy.deepcopy(hospital)
    vitals = [o for o in files["Observation.ndjson"]
              if o.get("category", [{}])[0].get("coding", [{}])[0].get("code") == "vital-signs"
              and "valueQuantity" in o and o["effectiveDateTime"] > "2026-11-24"]
    broken_category, broken_value = vitals[0], vitals[1]
    broken_category["category"] = "vital-signs"
    broken_value["valueQuantity"] = [broken_value["valueQuantity"]]
    for name, resources in files.items():
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in resources))
    result = build_database(tmp_path, SETTINGS)
    by_id = {g.resource_id: g for g in result.gaps.gaps}
    assert by_id[broken_category["id"]].reason == "unmappable"
    assert by_id[broken_category["id"]].severity == "error"
    assert "category" in by_id[broken_category["id"]].detail
    assert by_id[broken_value["id"]].reason == "unreadable-value"
    assert result.conn.execute("SELECT value_num FROM observations WHERE id = ?",
                               (broken_value["id"],)).fetchone() == (None,)


def test_an_unreadable_active_encounter_makes_the_census_incomplete(tmp_path):
    """A corrupt line that names an in-progress Encounter may be an inpatient the build cannot
    see: counted as missing, not left out of the count."""
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Ames"}]}
    good = json.dumps(_encounter("e1"))
    active = json.dumps(_encounter("e2"))[:-20]  # cut short: not JSON any more
    finished = json.dumps({**_encounter("e3"), "status": "finished"})[:-20]
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n")
    (tmp_path / "Encounter.ndjson").write_text(f"{good}\n{active}\n{finished}\n")
    result = build_database(tmp_path, SETTINGS)
    census = result.report["census"]
    assert census["in_snapshot"] == 1 and not census["complete"]
    assert [e["encounter_id"] for e in census["excluded"]] == ["(unreadable: Encounter.ndjson:2)"]
    reasons = {g.where: g.reason for g in result.gaps.gaps}
    assert reasons["Encounter.ndjson:2"] == "malformed-active-encounter"
    assert reasons["Encounter.ndjson:3"] == "malformed-json"


def test_an_encounter_whose_patient_was_rejected_names_the_reason(tmp_path):
    """A patient dropped for a malformed field (gender a list): its active encounter is
    excluded with that reason, not "not in the source (or was rejected: see gaps)"."""
    patient = {"resourceType": "Patient", "id": "p1", "gender": ["male", "female"],
               "name": [{"family": "DOE", "given": ["Jo"]}]}
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n")
    (tmp_path / "Encounter.ndjson").write_text(json.dumps(_encounter("e1")) + "\n")
    result = build_database(tmp_path, SETTINGS)
    (excluded,) = result.report["census"]["excluded"]
    assert excluded["reason"].startswith("patient p1 was rejected: ")
    assert "gender" in excluded["reason"] and "see gaps" not in excluded["reason"]
    assert not result.report["census"]["complete"]
