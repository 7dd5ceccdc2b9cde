"""Incremental refresh: a delta (changed resources + DELETE bundles) on top of the previous
house snapshot gives the same census a full build of the changed source would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from downtime.generator import generate
from snapshots import chart
from snapshots.build import build_database
from snapshots.incremental import refresh_database
from snapshots.publish import Recipients, publish
from snapshots.sealed import SnapshotError
from snapshots.settings import BuildSettings
from tests.factory import Keys

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
LATER = AS_OF + timedelta(minutes=15)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("inc")
    generate(root / "src", patients=30, seed=5, as_of=AS_OF)
    keys = Keys()
    result = build_database(root / "src", BuildSettings(as_of=AS_OF))
    written = publish(result.conn, root / "store", recipients=Recipients(
        escrow=[keys.escrow.recipient], builder=[keys.unit.recipient]),
        signing_key=keys.signing, as_of="2026-11-25T14:00:00Z", source="test")
    return root, keys, written[0][0]


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
