"""Loading a generated hospital into the sandbox, its cache, and the folder and network rules
it starts under."""

from __future__ import annotations

import json
import socket
import sqlite3
from datetime import UTC, datetime

import httpx
import pytest

from downtime.generator import generate
from downtime.sandbox import LoadError, SandboxError, start_sandbox
from downtime.sandbox.loader import build_database, load_into_store

AS_OF = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    folder = tmp_path_factory.mktemp("load") / "hospital"
    generate(folder, patients=4, seed=2, as_of=AS_OF)
    return folder


def _rows(db, sql):
    conn = sqlite3.connect(db)
    try:
        return sorted(conn.execute(sql).fetchall(), key=repr)
    finally:
        conn.close()


def test_the_fast_load_writes_what_sekmets_store_would(hospital, tmp_path):
    """build_database against sekmet's own Store.update on the same export: the same
    resources, versions and search index rows (times and write order aside)."""
    from sekmet.fhir.store import Store

    build_database(tmp_path / "fast.db", hospital)
    store = Store(str(tmp_path / "slow.db"))
    load_into_store(store, hospital)
    store.conn.close()

    def body(js):
        resource = json.loads(js)
        resource["meta"].pop("lastUpdated")
        return json.dumps(resource, sort_keys=True)

    for table, how in (("resources", "origin"), ("versions", "method")):
        sql = f"SELECT type, id, version, deleted, {how}, json FROM {table}"
        fast = [(*r[:5], body(r[5])) for r in _rows(tmp_path / "fast.db", sql)]
        slow = [(*r[:5], body(r[5])) for r in _rows(tmp_path / "slow.db", sql)]
        assert fast == sorted(slow, key=repr) and len(fast) > 500
    sql = "SELECT type, id, param, s, sys, code, rtype, rid, lo, hi, num FROM idx " \
          "WHERE param != '_lastUpdated'"
    assert _rows(tmp_path / "fast.db", sql) == _rows(tmp_path / "slow.db", sql)
    indexes = {r[0] for r in _rows(tmp_path / "fast.db",
                                   "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"idx_res", "idx_code", "idx_ref", "idx_s", "idx_refp", "idx_date",
            "idx_num"} <= indexes
    assert _rows(tmp_path / "fast.db", "SELECT COUNT(*) FROM sqlite_stat1")[0][0] > 0  # ANALYZE
    assert _rows(tmp_path / "slow.db", "SELECT COUNT(*) FROM sqlite_stat1")[0][0] > 0


def _export(folder, lines: dict[str, list[str]]):
    folder.mkdir()
    for name, content in lines.items():
        (folder / name).write_text("".join(line + "\n" for line in content))
    return folder


@pytest.mark.parametrize(("files", "words"), [
    (None, "no such folder"),
    ({}, "not a Bulk Data export (no .ndjson"),
    ({"Patient.ndjson": ['{"resourceType": "Patient", "id": "a"}', "{not json"]},
     "Patient.ndjson:2: not JSON"),
    ({"Patient.ndjson": ['{"resourceType": "Patient"}']}, "holds no resources"),
    ({"X.ndjson": ['{"resourceType": "Martian", "id": "a"}']}, "not an R4 resource type"),
    ({"Patient.ndjson": ['{"resourceType": "Patient", "id": "a"}'] * 2}, "appears twice"),
    ({"Patient.ndjson": []}, "holds no resources"),
])
def test_a_folder_that_is_not_an_export_is_one_line_and_loads_nothing(tmp_path, files, words):
    source = tmp_path / "src" if files is None else _export(tmp_path / "src", files)
    with pytest.raises(LoadError) as caught:
        build_database(tmp_path / "x.db", source)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "x.db").exists() and not (tmp_path / "x.db.loading").exists()


def test_a_resource_a_fhir_server_would_refuse_is_left_out_and_said(tmp_path):
    """An id that is not a FHIR id (the demo hospital has one on purpose): a real EHR never
    held it, so the sandbox leaves it out, says where and why, and loads the rest."""
    source = _export(tmp_path / "src", {"Patient.ndjson": [
        '{"resourceType": "Patient", "id": "a"}', '{"resourceType": "Patient", "id": "b c"}',
        '{"resourceType": "Patient"}']})
    result = build_database(tmp_path / "x.db", source)
    assert result.resources == {"Patient": 1}
    assert [(where.rsplit("/", 1)[-1], "not a FHIR id" in why) for where, why in
            result.left_out] == [("Patient.ndjson:2", True), ("Patient.ndjson:3", True)]


def test_a_running_sandbox_loads_more_and_a_bad_load_keeps_nothing(hospital, tmp_path):
    with start_sandbox(tmp_path / "sb") as sandbox:
        assert "Patient" not in sandbox.counts()
        result = sandbox.load(hospital)
        assert result.total == sum(sandbox.counts().get(t, 0) for t in result.resources)
        assert httpx.get(f"{sandbox.base_url}/Patient/pat-000001").status_code == 200
        bad = _export(tmp_path / "bad", {"Flag.ndjson": [
            '{"resourceType": "Flag", "id": "new-1", "status": "active"}', "[]"]})
        before = sandbox.counts()
        with pytest.raises(LoadError, match="Flag.ndjson:2: not a FHIR resource"):
            sandbox.load(bad)
        assert sandbox.counts() == before
        assert httpx.get(f"{sandbox.base_url}/Flag/new-1").status_code == 404


def test_the_cache_gives_the_same_database_back_for_the_same_bytes_only(hospital, tmp_path):
    cache = tmp_path / "cache"
    with start_sandbox(tmp_path / "one", load=hospital, cache_dir=cache) as first:
        assert first.loaded is not None and not first.loaded.cached
        counts = first.counts()
    assert len(list(cache.glob("*.db"))) == 1
    with start_sandbox(tmp_path / "two", load=hospital, cache_dir=cache) as second:
        assert second.loaded.cached and second.counts() == counts
        assert httpx.get(f"{second.base_url}/Patient/pat-000002").status_code == 200
    changed = tmp_path / "changed"
    changed.mkdir()
    for path in hospital.glob("*.ndjson"):
        (changed / path.name).write_bytes(path.read_bytes())
    with open(changed / "Flag.ndjson", "a") as f:
        f.write('{"resourceType": "Flag", "id": "one-more", "status": "active", '
                '"code": {"text": "x"}, "subject": {"reference": "Patient/pat-000001"}}\n')
    with start_sandbox(tmp_path / "three", load=changed, cache_dir=cache) as third:
        assert not third.loaded.cached
        assert third.counts()["Flag"] == counts["Flag"] + 1


def test_its_folder_is_its_own_and_one_sandbox_at_a_time(hospital, tmp_path):
    with pytest.raises(SandboxError, match="holds files the sandbox did not write"):
        start_sandbox(hospital)
    assert not (hospital / "sekmet.db").exists()
    with start_sandbox(tmp_path / "sb") as sandbox:
        info = json.loads((tmp_path / "sb" / "sandbox.json").read_text())
        assert info["base_url"] == sandbox.base_url and info["admin_url"] == sandbox.admin_url
        with pytest.raises(SandboxError, match="another sandbox is running on this folder"):
            start_sandbox(tmp_path / "sb")
    assert not (tmp_path / "sb" / "sandbox.json").exists()
    with start_sandbox(tmp_path / "sb"):  # the same folder again, once the first stopped
        pass


def test_only_loopback_and_a_port_in_use_is_one_line(tmp_path):
    for host in ("0.0.0.0", "localhost", "::1", "10.0.0.1"):
        with pytest.raises(SandboxError, match="listens on 127.0.0.1 only"):
            start_sandbox(tmp_path / "sb", host=host)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SandboxError) as caught:
            start_sandbox(tmp_path / "sb", port=port)
        assert str(caught.value) == (f"127.0.0.1:{port} is in use: choose another port, or 0 "
                                     "for a free one")
    with start_sandbox(tmp_path / "sb") as sandbox:
        listening = [c for c in (sandbox.port, sandbox.admin_port)]
        assert sandbox.base_url.startswith("http://127.0.0.1:") and len(set(listening)) == 2
