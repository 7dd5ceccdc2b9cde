"""The audit writer's signatures and anchors (snapshots.audit): the rewrite-and-rehash attack
is caught given the public key, a rewrite even with the key is caught below an anchor, and
`verify` says which guarantee holds (anchored, keyed, plain chain only) and why not more."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from snapshots.audit import (
    AuditItem,
    AuditKeyError,
    AuditLog,
    AuditSigner,
    entry_hash,
    export_fhir,
    folder_for,
    head_path,
    load_audit_public_key,
    load_or_create_key,
    public_key_path,
    read_anchors,
    verify,
    write_anchor,
)
from tests.shared import SHARED

WHEN = "2026-11-24T14:07:02.123456Z"


def _signer() -> AuditSigner:
    return AuditSigner(Ed25519PrivateKey.generate())


def _signed(tmp_path: Path, signer: AuditSigner, n: int = 5, name: str = "audit.log") -> AuditLog:
    """A writer's log: unlock, chart-open, break-glass (seq 3), then chart-opens."""
    log = AuditLog(tmp_path / name, host="ws-4W-1", signer=signer, writer="downtime")
    log.append_many("unlock", "badge 4411", [AuditItem(snapshot_id="snap-1")], os_user="rn")
    log.append_many("chart-open", "badge 4411", [AuditItem("p1", "snap-1")], os_user="rn")
    log.append_many("break-glass", "badge 4411",
                    [AuditItem("p1", "snap-1", "Patient in crisis, need psych history")],
                    os_user="rn")
    for i in range(n - 3):
        log.append_many("chart-open", "badge 4411", [AuditItem(f"p{i + 2}", "snap-1")],
                        os_user="rn")
    return log


def _entries(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _rewrite(path: Path, entries: list[dict], signer: AuditSigner | None = None,
             keep_signatures: bool = True) -> None:
    """What the attacker of the issue does: renumber, re-chain and re-hash every entry and
    the head; with `signer` (the key stolen, or the attacker's own), sign them again; else
    keep the old signatures or strip them."""
    prev, lines = "0" * 64, []
    for seq, old in enumerate(entries, start=1):
        entry = {k: v for k, v in old.items() if k not in ("hash", "sig")}
        entry.update(seq=seq, prev=prev)
        if signer is not None:
            entry["key"] = signer.id
        elif not keep_signatures:
            entry.pop("key", None)
        entry["hash"] = prev = entry_hash(entry)
        if signer is not None:
            entry["sig"] = signer.sign_entry(entry["hash"])
        elif keep_signatures and "sig" in old:
            entry["sig"] = old["sig"]
        lines.append(json.dumps(entry) + "\n")
    path.write_text("".join(lines))
    head = {"seq": len(entries), "hash": prev}
    if signer is not None:
        head.update(key=signer.id, host="ws-4W-1", writer="downtime", time=WHEN)
        head["sig"] = signer.sign_head(head)
    head_path(path).write_text(json.dumps(head) + "\n")


def _without_break_glass(path: Path) -> list[dict]:
    return [e for e in _entries(path) if e["action"] != "break-glass"]


def test_a_signed_log_checked_with_its_public_key_is_keyed(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer)
    entries = _entries(log.path)
    assert all(e["key"] == signer.id and len(e["sig"]) == 88 for e in entries)
    assert entries[0]["os_user"] == "rn" and "os_user" in json.dumps(entries[2])
    result = verify(log.path, signer.public, key_source="--key audit-key.pub")
    assert result.ok and result.guarantee == "keyed", str(result)
    assert result.summary() == (f"audit log keyed: 5 entries, hash chain and head match; every "
                                f"entry signed by audit key {signer.id} (--key audit-key.pub); "
                                "not anchored")
    head = json.loads(head_path(log.path).read_text())
    assert head["seq"] == 5 and head["key"] == signer.id and head["writer"] == "downtime"


def test_without_the_public_key_a_signed_log_is_plain_chain_only(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer)
    result = verify(log.path)
    assert result.ok and result.guarantee == "plain"
    assert "plain chain only" in result.summary() and "not checked: no public key" in \
        result.summary() and signer.id in result.summary()


def test_the_rewrite_and_rehash_attack_on_a_plain_log_is_not_caught_and_verify_says_so(tmp_path):
    """The issue's attack on a log browse wrote itself: no check can catch it, so verify
    must not call such a log more than a plain chain."""
    log = AuditLog(tmp_path / "audit.log", host="ws-4W-1")
    for action in ("unlock", "chart-open", "break-glass", "lock"):
        log.append(action, "badge 4411", patient_id="p1", detail="reason")
    _rewrite(log.path, _without_break_glass(log.path))
    result = verify(log.path)
    assert result.ok and result.entries == 3 and result.guarantee == "plain"
    assert "whoever can write the file could have rewritten it unseen" in result.summary()


def test_the_rewrite_and_rehash_attack_is_caught_by_the_signatures(tmp_path):
    """The break-glass entry deleted, the chain and the head recomputed: the entries after
    it now have hashes their signatures were not made for."""
    signer = _signer()
    log = _signed(tmp_path, signer)
    _rewrite(log.path, _without_break_glass(log.path))
    result = verify(log.path, signer.public)
    assert not result.ok and result.where == "line 3 (seq 3)"
    assert result.why == "signature does not verify (forged, or damaged)"


def test_the_attack_with_the_signatures_stripped_is_caught(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer)
    entries = _without_break_glass(log.path)
    for entry in entries[2:]:  # only where the hashes had to change
        entry.pop("sig")
        entry.pop("key")
    _rewrite(log.path, entries)
    result = verify(log.path, signer.public)
    assert not result.ok and result.where == "line 3 (seq 3)"
    assert "not signed, though the entries before it are" in result.why


def test_a_log_stripped_of_every_signature_is_plain_and_its_anchors_betray_it(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    write_anchor(anchors, log.last_head, signer.public_pem())
    _rewrite(log.path, _without_break_glass(log.path), keep_signatures=False)
    alone = verify(log.path, signer.public)
    assert alone.ok and alone.guarantee == "plain"
    assert "no entry is signed" in str(alone)
    anchored = verify(log.path, signer.public, anchors=anchors)
    assert not anchored.ok and "signatures were stripped" in anchored.why


def test_a_log_signed_again_by_another_key_is_of_an_unknown_key(tmp_path):
    signer, attacker = _signer(), _signer()
    log = _signed(tmp_path, signer)
    _rewrite(log.path, _without_break_glass(log.path), signer=attacker)
    assert verify(log.path, attacker.public).ok  # in itself consistent: hence a pinned key
    result = verify(log.path, signer.public)
    assert not result.ok and result.where == "line 1 (seq 1)"
    assert f"signed by audit key {attacker.id}, not by the key given ({signer.id})" in result.why


def test_a_damaged_signature_is_caught(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer)
    entries = _entries(log.path)
    sig = entries[1]["sig"]
    entries[1]["sig"] = ("B" if sig[0] == "A" else "A") + sig[1:]  # still 64 bytes of base64
    log.path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    result = verify(log.path, signer.public)
    assert not result.ok and result.where == "line 2 (seq 2)" and "does not verify" in result.why
    entries[1]["sig"] = "not-a-signature"
    log.path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    result = verify(log.path, signer.public)
    assert not result.ok and "sig is not an Ed25519 signature" in result.why


def test_a_damaged_or_replaced_head_is_caught(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer)
    head = json.loads(head_path(log.path).read_text())
    head["time"] = "2027-01-01T00:00:00.000000Z"  # the signature no longer matches
    head_path(log.path).write_text(json.dumps(head))
    result = verify(log.path, signer.public)
    assert not result.ok and "head witness's signature does not verify" in result.why
    head_path(log.path).write_text(json.dumps({"seq": 5, "hash": head["hash"]}))
    result = verify(log.path, signer.public)
    assert not result.ok and "head witness is not signed, though the entries are" in result.why


def test_a_field_no_hash_covers_is_refused(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer, n=3)
    entries = _entries(log.path)
    entries[1]["note"] = "added later"
    log.path.write_text("".join(json.dumps(e) + "\n" for e in entries))
    result = verify(log.path, signer.public)
    assert not result.ok and "field 'note' is not one an entry has" in result.why


def test_a_plain_log_taken_over_by_the_writer_is_keyed_from_there_and_not_back(tmp_path):
    signer = _signer()
    path = tmp_path / "audit.log"
    AuditLog(path).append("unlock", "badge 4411")
    AuditLog(path).append("lock", "badge 4411")
    AuditLog(path, signer=signer, writer="downtime").append("unlock", "badge 4411")
    result = verify(path, signer.public, key_source="pinned")
    assert result.ok and result.guarantee == "keyed"
    assert "entries 3..3 signed" in result.summary()
    assert "entries 1..2 were written before the audit writer took the log over" in str(result)
    AuditLog(path).append("chart-open", "badge 4411", patient_id="p1")  # around the writer
    result = verify(path, signer.public)
    assert not result.ok and result.where == "line 4 (seq 4)"
    assert "not signed, though the entries before it are" in result.why


def test_anchored_up_to_the_last_anchor_keyed_after_it(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer, n=3)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    written = write_anchor(anchors, log.last_head, signer.public_pem())
    assert written == folder_for(anchors, "ws-4W-1", signer.id) / "seq-000000003.anchor"
    assert write_anchor(anchors, log.last_head, signer.public_pem()) is None  # once per seq
    assert load_audit_public_key(written.parent / "audit-key.pub").public_bytes_raw() == \
        signer.public.public_bytes_raw()
    log.append_many("lock", "badge 4411", [AuditItem(detail="idle 6 min")], os_user="rn")
    for where in (anchors, written.parent, written):  # all of them, the log's, the one file
        result = verify(log.path, signer.public, key_source="--key", anchors=where)
        assert result.ok and result.guarantee == "anchored", str(result)
        assert result.summary().startswith("audit log anchored up to seq 3 and keyed: 4 entries")
        assert "entries 4..4 are after the last anchor: keyed only" in str(result)
    assert verify(log.path, signer.public, anchors=anchors).as_dict()["anchored_to"] == 3


def test_a_rewrite_with_the_key_itself_is_caught_below_an_anchored_seq(tmp_path):
    """Someone who has the writer's key (root on the workstation) deletes the break-glass
    entry and signs everything again: only an anchor off the workstation can tell."""
    signer = _signer()
    log = _signed(tmp_path, signer, n=6)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    write_anchor(anchors, log.last_head, signer.public_pem())
    _rewrite(log.path, _without_break_glass(log.path), signer=signer)
    assert verify(log.path, signer.public).ok  # signed by the right key, every entry
    result = verify(log.path, signer.public, anchors=anchors)
    assert not result.ok and "is ahead of the log" in result.why
    log.append_many("chart-open", "badge 4411", [AuditItem("p9")], os_user="rn")
    _rewrite(log.path, _entries(log.path), signer=signer)  # back to six entries, re-signed
    result = verify(log.path, signer.public, anchors=anchors)
    assert not result.ok and result.where == "line 6 (seq 6)"
    assert "rewritten below an anchored seq" in result.why


def test_an_anchor_ahead_of_the_log_is_a_truncation(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    write_anchor(anchors, log.last_head, signer.public_pem())
    _rewrite(log.path, _entries(log.path)[:3], signer=signer)  # an older copy, head and all
    result = verify(log.path, signer.public, anchors=anchors)
    assert not result.ok and result.where == "end of log (seq 3)"
    assert "entries 4..5 are missing (truncated, or replaced by an older copy)" in result.why
    log.path.write_text("")
    head_path(log.path).unlink()
    result = verify(log.path, signer.public, anchors=anchors)
    assert not result.ok and "entries 1..5 are missing" in result.why


def test_an_anchor_of_another_workstation(tmp_path):
    mine, theirs = _signer(), _signer()
    log = _signed(tmp_path, mine, n=3)
    other = AuditLog(tmp_path / "other.log", host="ws-5E-1", signer=theirs, writer="downtime")
    other.append("unlock", "badge 12")
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    file = write_anchor(anchors, other.last_head, theirs.public_pem())
    result = verify(log.path, mine.public, anchors=file)  # given as the one anchor: wrong
    assert not result.ok and result.where == f"anchor {file}"
    assert "another workstation's log (host ws-5E-1" in result.why
    (anchors / "loose.anchor").write_bytes(file.read_bytes())  # in a folder: left aside
    result = verify(log.path, mine.public, anchors=anchors)
    assert result.ok and result.guarantee == "keyed"
    assert "not anchored: no anchor of this log" in str(result)
    assert "1 anchor(s) of other workstations' logs left aside" in str(result)


def test_a_forged_or_damaged_anchor_is_caught(tmp_path):
    signer, attacker = _signer(), _signer()
    log = _signed(tmp_path, signer, n=3)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    file = write_anchor(anchors, log.last_head, signer.public_pem())
    forged = {**json.loads(file.read_text()), "hash": "f" * 64}
    forged["sig"] = attacker.sign_head(forged)  # the right key id, the wrong key
    file.write_text(json.dumps(forged))
    result = verify(log.path, signer.public, anchors=anchors)
    assert not result.ok and result.where == f"anchor {file}" and "does not verify" in result.why
    file.write_text('{"seq": 3, "ha')
    result = verify(log.path, signer.public, anchors=anchors)
    assert not result.ok and "not an anchor (not JSON)" in result.why
    result = verify(log.path, signer.public, anchors=tmp_path / "not-there")
    assert not result.ok and "no anchor file or folder at this path" in result.why


def test_anchors_without_a_key_are_not_checked(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer, n=3)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    write_anchor(anchors, log.last_head, signer.public_pem())
    result = verify(log.path, anchors=anchors)
    assert result.ok and result.guarantee == "plain"
    assert "anchors not checked: no public key given" in str(result)


def test_an_anchor_needs_its_folder_to_be_there(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer, n=3)
    with pytest.raises(FileNotFoundError):  # a share not mounted: not made on the local disk
        write_anchor(tmp_path / "share-not-mounted", log.last_head, signer.public_pem())
    assert not (tmp_path / "share-not-mounted").exists()
    reading = read_anchors(tmp_path, signer.id)
    assert reading.anchors == [] and reading.problems == []


def test_spooled_entries_and_the_writers_own_user_are_told(tmp_path):
    signer = _signer()
    log = _signed(tmp_path, signer, n=3)
    log.append_rows([("chart-open", "badge 4411", AuditItem("p7", spooled=WHEN)),
                     ("break-glass", "badge 4411", AuditItem("p7", detail="why", spooled=WHEN))],
                    os_user="rn")
    log.append_many("lock", "svc", [AuditItem()], os_user="downtime")
    result = verify(log.path, signer.public, key_source="pinned")
    assert result.ok and result.guarantee == "keyed"
    text = str(result)
    assert f"entries 4..5 were kept in the spool of rn (first written {WHEN})" in text
    assert "1 entry was asked for by the writer's own OS user (downtime)" in text
    assert [e.get("spooled") for e in _entries(log.path)][2:] == [None, WHEN, WHEN, None]


def test_the_key_file_is_made_once_owner_only_with_its_public_half(tmp_path):
    path = tmp_path / "audit" / "audit-key.pem"
    signer = load_or_create_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_key_path(path) == tmp_path / "audit" / "audit-key.pub"
    assert public_key_path(path).stat().st_mode & 0o777 == 0o644
    assert load_or_create_key(path).id == signer.id
    assert load_audit_public_key(public_key_path(path)).public_bytes_raw() == \
        signer.public.public_bytes_raw()
    path.write_text("not a key\n")
    with pytest.raises(AuditKeyError, match="not an unencrypted PEM private key"):
        load_or_create_key(path)
    with pytest.raises(AuditKeyError, match="an audit public key"):
        load_audit_public_key(path)


def test_a_signed_log_exports_as_valid_fhir_with_what_rechecks_it(tmp_path):
    from fhir.resources.R4B.bundle import Bundle

    signer = _signer()
    log = _signed(tmp_path, signer, n=3)
    log.append_rows([("lock", "badge 4411", AuditItem(detail="idle", spooled=WHEN))],
                    os_user="rn")
    out = tmp_path / "audit.json"
    assert export_fhir(log.path, out).count == 4
    data = json.loads(out.read_text())
    Bundle.model_validate(data)
    jsonschema.validate(data, json.loads((SHARED / "fhir-r4" / "fhir.schema.json").read_text()))
    details = {d["type"]: d["valueString"]
               for d in data["entry"][3]["resource"]["entity"][-1]["detail"]}
    entry = _entries(log.path)[3]
    assert details["key"] == signer.id and details["signature"] == entry["sig"]
    assert details["os-user"] == "rn" and details["spooled"] == WHEN
