"""The sealed snapshot file: round trip, and every tamper refused with its reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pyrage
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snapshots import chart, sealed
from snapshots.keys import Identity
from tests.factory import Keys, chart_db, sealed_snapshot


@pytest.fixture
def snap(tmp_path, keys):
    return sealed_snapshot(tmp_path, keys)


def refused(path, keys, reason, identities=None, newer_than=None, trusted=None):
    with pytest.raises(sealed.SnapshotError) as err:
        sealed.open_snapshot(path, trusted or keys.trusted,
                             identities if identities is not None else [keys.unit],
                             newer_than=newer_than)
    assert err.value.reason == reason, str(err.value)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_round_trip_opens_read_only_in_memory(snap, keys):
    opened = sealed.open_snapshot(snap, keys.trusted, [keys.unit])
    assert opened.manifest.scope == "unit:4W"
    assert [r.name for r in chart.census(opened.db)][:2] == ["SMITH, John", "SMITH, Jon"]
    with pytest.raises(Exception, match="readonly"):
        opened.db.execute("DELETE FROM patients")
    name = opened.db.execute("PRAGMA database_list").fetchone()[2]
    assert not os.path.isabs(name) and not os.path.exists(name)  # memdb: no file behind it


@pytest.mark.parametrize("who", ["unit", "pharmacy", "escrow"])
def test_every_recipient_opens_it(snap, keys, who):
    assert sealed.open_snapshot(snap, keys.trusted, [getattr(keys, who)]).manifest.sequence == 1


def test_stranger_cannot_decrypt(snap, keys):
    stranger = Identity("stranger", pyrage.x25519.Identity.generate())
    assert "not encrypted to stranger" in refused(snap, keys, "not-a-recipient", [stranger])


def test_bit_flip_in_manifest_is_bad_signature(snap, keys):
    data = bytearray(snap.read_bytes())
    at = data.index(b'"sequence":1') + len('"sequence":')
    data[at] = ord("7")
    snap.write_bytes(bytes(data))
    refused(snap, keys, "bad-signature")


@pytest.mark.parametrize("offset", [40, 200, -30])
def test_bit_flip_in_payload_is_tampered(snap, keys, offset):
    data = bytearray(snap.read_bytes())
    head = data.index(b"\n") + 1
    data[head + offset if offset > 0 else len(data) + offset] ^= 0x01
    snap.write_bytes(bytes(data))
    refused(snap, keys, "tampered")


def test_truncated_file(snap, keys):
    data = snap.read_bytes()
    snap.write_bytes(data[: len(data) - 100])
    refused(snap, keys, "truncated")


@pytest.mark.parametrize("keep", [12, 200, -1])
def test_file_cut_inside_the_manifest_line_is_truncated(snap, keys, keep):
    """A copy that stopped before the payload began is a truncated snapshot, and says so."""
    data = snap.read_bytes()
    head = data.index(b"\n")
    snap.write_bytes(data[: head + keep if keep < 0 else keep])
    refused(snap, keys, "truncated")
    with pytest.raises(sealed.SnapshotError) as err:
        sealed.read_manifest(snap)
    assert err.value.reason == "truncated" and "manifest line" in str(err.value)


def test_other_json_is_not_a_snapshot(snap, keys):
    snap.write_bytes(b'{"resourceType": "Bundle", "type": "collection"')
    refused(snap, keys, "not-a-snapshot")


def test_swapped_payload(tmp_path, keys):
    a = sealed_snapshot(tmp_path, keys, sequence=1)
    b = sealed_snapshot(tmp_path, keys, sequence=2)
    head_a = a.read_bytes().split(b"\n", 1)[0]
    payload_b = b.read_bytes().split(b"\n", 1)[1]
    a.write_bytes(head_a + b"\n" + payload_b)
    # age adds random "grease" stanzas, so the other payload may be a little shorter
    # (seen as truncated) or as long or longer (tampered): refused either way.
    with pytest.raises(sealed.SnapshotError) as err:
        sealed.open_snapshot(a, keys.trusted, [keys.unit])
    assert err.value.reason in ("tampered", "truncated")


def test_other_signer(tmp_path, keys):
    rogue = Keys(signing=Ed25519PrivateKey.generate(), unit=keys.unit, pharmacy=keys.pharmacy,
                 escrow=keys.escrow)
    path = sealed_snapshot(tmp_path, rogue)
    assert "unknown key" in refused(path, keys, "unknown-signer")


def test_signature_copied_onto_other_manifest(tmp_path, keys):
    path = sealed_snapshot(tmp_path, keys)
    envelope = json.loads(path.read_bytes().split(b"\n", 1)[0])
    envelope["manifest"]["scope"] = "unit:ICU"
    rest = path.read_bytes().split(b"\n", 1)[1]
    path.write_bytes(json.dumps(envelope).encode() + b"\n" + rest)
    refused(path, keys, "bad-signature")


def test_replayed_older_sequence(tmp_path, keys):
    old = sealed_snapshot(tmp_path, keys, sequence=3)
    refused(old, keys, "replayed", newer_than=3)
    refused(old, keys, "replayed", newer_than=5)
    assert sealed.open_snapshot(old, keys.trusted, [keys.unit], newer_than=2)


@pytest.mark.parametrize("content", [b"", b"hello\n", b"{not json\n" + b"x" * 10,
                                     b'{"format":"other/1"}\n', b"\x00" * 64])
def test_not_a_snapshot(tmp_path, keys, content):
    path = tmp_path / "x.dtsnap"
    path.write_bytes(content)
    refused(path, keys, "not-a-snapshot")


def test_unit_file_holds_only_its_unit(tmp_path, keys):
    from snapshots.publish import unit_database
    from tests.factory import add_patient

    house = chart_db()
    add_patient(house, "icu1", "ZED, Zora", "ICU-1-A", unit="ICU", allergies=["Iodine"])
    unit = unit_database(house, "4W")
    assert {r[0] for r in unit.execute("SELECT id FROM patients")} == {"p1", "p2", "p3", "p4",
                                                                     "p5"}
    image = unit.serialize()
    assert b"Zora" not in image and b"Iodine" not in image


def test_standard_age_tool_recovers_the_database(tmp_path, snap, keys):
    """IT's recovery path: the payload is a plain age file; age + escrow key open it."""
    assert shutil.which("age"), "the age tool is missing: `make test` installs it"
    payload = snap.read_bytes().split(b"\n", 1)[1]
    (tmp_path / "payload.age").write_bytes(payload)
    (tmp_path / "escrow.txt").write_text(str(keys.escrow.secret) + "\n")
    out = tmp_path / "snapshot.sqlite"
    subprocess.run(["age", "-d", "-i", tmp_path / "escrow.txt", "-o", out,
                    tmp_path / "payload.age"], check=True)
    rows = subprocess.run(["python3", "-c", "import sqlite3,sys; print(sqlite3.connect("
                           "sys.argv[1]).execute('select count(*) from patients').fetchone()[0])",
                           out], capture_output=True, text=True, check=True).stdout
    assert rows.strip() == "5"


def _rewrite_manifest(path, **changes):
    head, rest = path.read_bytes().split(b"\n", 1)
    envelope = json.loads(head)
    envelope["manifest"].update(changes)
    path.write_bytes(json.dumps(envelope).encode() + b"\n" + rest)


@pytest.mark.parametrize("changes", [{"counts": []}, {"units": 5}, {"sequence": "1"},
                                     {"sequence": -3}, {"recipients": [1]}, {"scope": None},
                                     {"counts": {"patients": "5"}}, {"extra": 1}])
def test_manifest_of_wrong_types_is_not_a_snapshot(tmp_path, keys, changes):
    path = sealed_snapshot(tmp_path, keys)
    _rewrite_manifest(path, **changes)
    with pytest.raises(sealed.SnapshotError) as err:
        sealed.read_manifest(path)
    assert err.value.reason == "not-a-snapshot" and "malformed manifest" in str(err.value)
    refused(path, keys, "not-a-snapshot")


def test_store_listing_survives_a_bad_file_and_sequence_counts_only_signed(tmp_path, keys):
    from snapshots.publish import next_sequence
    from snapshots.store import highest_sequence, list_snapshots

    sealed_snapshot(tmp_path, keys, sequence=3)
    bad = sealed_snapshot(tmp_path, keys, scope="unit:ICU", sequence=4)
    _rewrite_manifest(bad, sequence="1")
    forged = sealed_snapshot(tmp_path, Keys(signing=Ed25519PrivateKey.generate(),
                                            unit=keys.unit, pharmacy=keys.pharmacy,
                                            escrow=keys.escrow), scope="house", sequence=10**9)
    unsigned = sealed_snapshot(tmp_path, keys, scope="unit:CCU", sequence=5)
    _rewrite_manifest(unsigned, sequence=10**8)  # signature no longer matches
    found, unreadable = list_snapshots(tmp_path)
    assert [u[0] for u in unreadable] == [bad]
    assert {s.path for s in found} >= {forged, unsigned}
    assert highest_sequence(tmp_path) == 10**9  # unverified: what a listing shows
    assert highest_sequence(tmp_path, keys.trusted) == 3
    assert next_sequence(tmp_path, keys.trusted) == 4
    (tmp_path / ".sequence").write_text("999999\n")  # unsigned: not believed
    assert next_sequence(tmp_path, keys.trusted) == 4


def test_publish_remembers_a_signed_sequence(tmp_path, keys):
    from snapshots.publish import Recipients, next_sequence, publish

    written = publish(chart_db(), tmp_path, recipients=Recipients(escrow=[keys.escrow.recipient]),
                      signing_key=keys.signing, as_of="2026-11-24T14:05:00Z", source="t")
    written[0][0].unlink()  # pruned: the signed .sequence still remembers it
    assert next_sequence(tmp_path, keys.trusted) == 2
    other = Ed25519PrivateKey.generate().public_key()
    assert next_sequence(tmp_path, other) == 1


def test_unit_file_report_names_no_patient_outside_the_unit(keys):
    from snapshots.publish import unit_database
    from snapshots.schema import insert_rows
    from tests.factory import add_patient

    house = chart_db()
    add_patient(house, "icu1", "ZED, Zora", "ICU-1-A", unit="ICU")
    report = {"census": {"source_active_inpatient_encounters": 7, "in_snapshot": 6,
                         "excluded": [{"encounter_id": "enc-icu-9", "patient_id": "pat-icu-9",
                                       "reason": "rejected"}], "unaccounted": [],
                         "complete": False},
              "units": {"4W": 5, "ICU": 1}, "gaps": {"errors": 1}}
    house.execute("DELETE FROM meta WHERE key = 'build_report'")
    insert_rows(house, "meta", [{"key": "build_report", "value": json.dumps(report)}])
    unit = unit_database(house, "4W")
    stored = unit.execute("SELECT value FROM meta WHERE key = 'build_report'").fetchone()[0]
    for other in ("icu1", "pat-icu-9", "enc-icu-9", '"ICU"'):
        assert other not in stored
    census = json.loads(stored)["census"]
    assert census["in_snapshot"] == 5 and census["excluded_elsewhere"] == 1
    assert not census["complete"]  # the house census is incomplete: the unit file says so
    assert b"pat-icu-9" not in unit.serialize()


def test_every_database_the_build_makes_keeps_temp_in_memory():
    from snapshots.build import Builder
    from snapshots.publish import unit_database
    from snapshots.settings import BuildSettings

    memory = 2  # PRAGMA temp_store: 0 default, 1 file, 2 memory
    assert Builder(BuildSettings()).conn.execute("PRAGMA temp_store").fetchone()[0] == memory
    assert unit_database(chart_db(), "4W").execute("PRAGMA temp_store").fetchone()[0] == memory


def test_sealed_the_same_without_copy_file_range(tmp_path, keys, monkeypatch):
    """Where the kernel cannot copy between the two files, the payload is copied through a
    buffer: the file opens all the same."""
    def unsupported(*args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", unsupported)
    snap = sealed_snapshot(tmp_path, keys)
    assert sealed.open_snapshot(snap, keys.trusted, [keys.unit]).manifest.sequence == 1
