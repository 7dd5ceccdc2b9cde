"""A refresh finds a resource's rows by primary key (the snapshot carries no src_id index): that
holds only while every row's id is its resource id, or `<id>#<n>` for an observation's
components. Both the invariant and the lookups it serves are checked here."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from snapshots.incremental import refresh_database
from snapshots.schema import INDEXES, TABLES
from snapshots.settings import BuildSettings
from tests.factory import Keys, published_hospital

AS_OF = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
LATER = AS_OF + timedelta(minutes=15)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("refresh")
    keys = Keys()
    result, house = published_hospital(root, keys, patients=12, seed=11, as_of=AS_OF)
    return root, keys, house, result.conn


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def _write(folder, items):
    folder.mkdir(parents=True, exist_ok=True)
    by_type: dict[str, list] = {}
    for item in items:
        by_type.setdefault(item["resourceType"], []).append(item)
    for rtype, resources in by_type.items():
        (folder / f"{rtype}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in resources))


def test_every_row_id_is_its_source_id_or_a_component_of_it(base):
    conn = base[3]
    checked = 0
    for table, columns in TABLES.items():
        if "src_id" not in columns or "id" not in columns:
            continue  # identifiers: keyed by value, found through their patient
        for rid, src in conn.execute(f"SELECT id, src_id FROM {table}"):
            assert rid == src or re.fullmatch(re.escape(src) + r"#\d+", rid), (table, rid, src)
            checked += 1
    assert checked > 1000


def test_no_src_id_index_is_stored(base):
    assert not [t for t, cols in INDEXES if "src_id" in cols]


def _bp_panel(root):
    return next(o for o in _lines(root / "src" / "Observation.ndjson")
                if o.get("component") and o["effectiveDateTime"] > "2026-11-25T06")


def test_unchanged_panel_is_reused_and_deleted_panel_loses_every_component(base, tmp_path):
    root, keys, house, before = base
    panel = _bp_panel(root)
    other = next(o for o in _lines(root / "src" / "Observation.ndjson")
                 if o.get("component") and o["id"] != panel["id"]
                 and o["effectiveDateTime"] > "2026-11-25T06")
    rows = before.execute("SELECT count(*) FROM observations WHERE src_id = ?",
                          (other["id"],)).fetchone()[0]
    assert rows >= 2
    deleted = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": f"Observation/{other['id']}"}}]}
    _write(tmp_path / "d", [panel, deleted])
    result, _ = refresh_database(house, tmp_path / "d", BuildSettings(as_of=LATER), keys.unit,
                                 keys.trusted)
    db = result.conn
    assert result.stats.counts["Observation"]["unchanged"] == 1
    assert db.execute("SELECT count(*) FROM observations WHERE src_id = ?",
                      (other["id"],)).fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM observations WHERE src_id = ?",
                      (panel["id"],)).fetchone()[0] >= 2


def test_panel_moved_out_of_the_window_takes_its_components_along(base, tmp_path):
    root, keys, house, _ = base
    panel = _bp_panel(root)
    panel["effectiveDateTime"] = "2026-10-01T00:00:00Z"
    panel["meta"]["versionId"] = "7"
    _write(tmp_path / "d", [panel])
    result, _ = refresh_database(house, tmp_path / "d", BuildSettings(as_of=LATER), keys.unit,
                                 keys.trusted)
    assert result.conn.execute("SELECT count(*) FROM observations WHERE src_id = ?",
                               (panel["id"],)).fetchone()[0] == 0


def test_deleting_a_location_is_understood(base, tmp_path):
    root, keys, house, _ = base
    bed = next(loc for loc in _lines(root / "src" / "Location.ndjson")
               if loc.get("physicalType", {}).get("coding", [{}])[0].get("code") == "bd")
    _write(tmp_path / "d", [{"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "DELETE", "url": f"Location/{bed['id']}"}}]}])
    result, _ = refresh_database(house, tmp_path / "d", BuildSettings(as_of=LATER), keys.unit,
                                 keys.trusted)
    assert result.stats.counts["Location"]["deleted"] == 1
