"""The workstation agent: verify, install, refuse, prune, status, watch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pyrage
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from downtime.agent import process_inbox, run_agent, status
from downtime.cli import cli
from snapshots.store import list_snapshots, newest_per_scope
from tests.factory import AS_OF, Keys, sealed_snapshot


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    inbox, store = tmp_path / "inbox", tmp_path / "store"
    inbox.mkdir()
    return inbox, store


def test_installs_a_good_snapshot_and_calls_the_hook(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    sealed_snapshot(inbox, keys, sequence=4)
    seen = []
    results = process_inbox(inbox, store, keys.trusted, on_install=lambda p, m: seen.append(m))
    assert [r.status for r in results] == ["installed"]
    assert (store / "unit-4W-000004.dtsnap").exists()
    assert not list(inbox.glob("*.dtsnap"))
    assert seen[0].sequence == 4 and seen[0].scope == "unit:4W"


def test_refuses_a_sequence_not_newer_per_scope(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    sealed_snapshot(inbox, keys, sequence=5)
    process_inbox(inbox, store, keys.trusted)
    sealed_snapshot(inbox, keys, sequence=5)  # same sequence again
    sealed_snapshot(inbox, keys, scope="house", sequence=2)  # another scope: its own sequence
    results = {r.source.name: r for r in process_inbox(inbox, store, keys.trusted)}
    assert results["unit-4W-000005.dtsnap"].status == "rejected"
    assert results["unit-4W-000005.dtsnap"].reason == "replayed"
    assert results["house-000002.dtsnap"].status == "installed"
    rejected = list((inbox / "rejected").iterdir())
    reason = next(p for p in rejected if p.name.endswith(".reason.txt"))
    assert "reason: replayed" in reason.read_text()


def test_rejects_unknown_signer_and_tampered_files(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    sealed_snapshot(inbox, Keys(), sequence=9)  # signed by someone else
    bad = sealed_snapshot(tmp_path, keys, sequence=10)
    data = bytearray(bad.read_bytes())
    data[-100] ^= 1
    (inbox / "unit-4W-000010.dtsnap").write_bytes(bytes(data))
    (inbox / "junk.dtsnap").write_bytes(b"not a snapshot at all")
    results = {r.source.name: r.reason
               for r in process_inbox(inbox, store, keys.trusted, settle_seconds=0)}
    assert results == {"unit-4W-000009.dtsnap": "unknown-signer",
                       "unit-4W-000010.dtsnap": "tampered", "junk.dtsnap": "not-a-snapshot"}
    assert not list_snapshots(store)[0]
    assert len(list((inbox / "rejected").glob("*.reason.txt"))) == 3


def test_waits_for_a_file_still_being_copied(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    whole = sealed_snapshot(tmp_path, keys, sequence=3).read_bytes()
    part = inbox / "unit-4W-000003.dtsnap"
    part.write_bytes(whole[: len(whole) // 2])
    assert [r.status for r in process_inbox(inbox, store, keys.trusted)] == ["waiting"]
    assert part.exists() and not (inbox / "rejected").exists()
    part.write_bytes(whole)
    assert [r.status for r in process_inbox(inbox, store, keys.trusted)] == ["installed"]
    # a copy that keeps the source's old mtime (cp -p) is still being written: it waits
    sealed = sealed_snapshot(tmp_path, keys, sequence=4).read_bytes()
    stale = inbox / "unit-4W-000004.dtsnap"
    stale.write_bytes(sealed[:-50])
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    assert [r.status for r in process_inbox(inbox, store, keys.trusted)] == ["waiting"]
    # a truncated file nobody has touched for the settle time is not coming back: refused
    assert [r.reason for r in process_inbox(inbox, store, keys.trusted,
                                            settle_seconds=0)] == ["truncated"]


def test_a_pruned_or_deleted_older_snapshot_cannot_be_replayed(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    old = sealed_snapshot(tmp_path / "old", keys, sequence=1).read_bytes()
    sealed_snapshot(inbox, keys, sequence=2)
    assert [r.status for r in process_inbox(inbox, store, keys.trusted)] == ["installed"]
    for installed in store.glob("*.dtsnap"):
        installed.unlink()  # the store emptied (by hand, or a disk clean-up)
    (inbox / "unit-4W-000001.dtsnap").write_bytes(old)
    assert [r.reason for r in process_inbox(inbox, store, keys.trusted)] == ["replayed"]


def test_keeps_three_per_scope_and_never_the_last_good_one(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    for seq in range(1, 6):
        sealed_snapshot(inbox, keys, sequence=seq)
        process_inbox(inbox, store, keys.trusted)
    names = sorted(p.name for p in store.glob("*.dtsnap"))
    assert names == ["unit-4W-000003.dtsnap", "unit-4W-000004.dtsnap", "unit-4W-000005.dtsnap"]
    # damage the two newest in place: pruning keeps going back until it has good ones
    from downtime.agent import prune

    for seq in (4, 5):
        p = store / f"unit-4W-{seq:06d}.dtsnap"
        p.write_bytes(p.read_bytes()[:-10])
    assert prune(store, "unit:4W", keys.trusted, keep=1) == []
    assert (store / "unit-4W-000003.dtsnap").exists()


def test_status_reports_age_count_and_fails_when_stale_or_bad(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    sealed_snapshot(inbox, keys, sequence=1)
    process_inbox(inbox, store, keys.trusted)
    fresh = status(store, 30, keys.trusted, now=AS_OF + timedelta(minutes=10))
    assert fresh.ok and fresh.scopes[0].patients == 5 and fresh.scopes[0].verified
    assert "10 min old" in fresh.scopes[0].age_text
    stale = status(store, 30, keys.trusted, now=AS_OF + timedelta(minutes=45))
    assert not stale.ok and "45 min old" in stale.problems[0]
    path = store / "unit-4W-000001.dtsnap"
    data = path.read_bytes()  # the last byte flipped (an "x" put there was, once, an "x")
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    bad = status(store, 30, keys.trusted, now=AS_OF + timedelta(minutes=10))
    assert not bad.ok and "failed to verify" in bad.problems[0]
    assert not status(tmp_path / "empty", 30).ok


def test_status_warns_of_a_workstation_clock_behind_the_snapshot(tmp_path, keys):
    # a snapshot dated after the clock: every age and due time shown here would be wrong
    inbox, store = _dirs(tmp_path)
    sealed_snapshot(inbox, keys, sequence=1)
    process_inbox(inbox, store, keys.trusted)
    behind = status(store, 30, keys.trusted, now=AS_OF - timedelta(hours=3))
    assert not behind.ok and behind.code == 1  # WARNING, as stale data is
    assert "dated 180 min after this workstation's clock: the clock is behind" in \
        behind.problems[0]
    assert "CHECK THE CLOCK" in behind.scopes[0].age_text
    # a builder's clock a minute or two ahead of this one is nothing wrong
    near = status(store, 30, keys.trusted, now=AS_OF - timedelta(minutes=2))
    assert near.ok and "0 min old" in near.scopes[0].age_text


def test_status_is_not_ready_when_nothing_installed_opens_with_this_workstation(tmp_path, keys):
    """Files signed and fresh, but none encrypted to this identity: browse could open none."""
    inbox, store = _dirs(tmp_path)
    sealed_snapshot(inbox, keys, sequence=1)
    process_inbox(inbox, store, keys.trusted)
    soon = AS_OF + timedelta(minutes=10)
    mine = status(store, 30, keys.trusted, now=soon, recipient=keys.unit.recipient)
    assert mine.ok and mine.scopes[0].opens is True
    stranger = pyrage.x25519.Identity.generate().to_public()
    other = status(store, 30, keys.trusted, now=soon, recipient=str(stranger))
    assert not other.ok and other.scopes[0].opens is False
    assert "encrypted to this workstation" in other.problems[0]
    assert "(not for this workstation)" in "\n".join(other.lines())
    stale_elsewhere = status(store, 30, keys.trusted, now=AS_OF + timedelta(minutes=45),
                             recipient=str(stranger))
    assert not any("min old" in p for p in stale_elsewhere.problems)


def test_cli_status_reads_the_identity_public_half(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    key = _pem(keys, tmp_path / "builder.pub")
    sealed_snapshot(inbox, keys, sequence=2)
    process_inbox(inbox, store, keys.trusted)
    ident = tmp_path / "ws-9X-1.age"
    ident.write_bytes(b"age-encryption.org/v1\n")  # never opened: no passphrase is asked
    (tmp_path / "ws-9X-1.age.pub").write_text(f"{pyrage.x25519.Identity.generate().to_public()}\n")
    args = ["agent", "status", "--store", str(store), "--trusted-key", str(key),
            "--stale-minutes", "100000000", "--identity", str(ident)]
    result = CliRunner().invoke(cli, args)  # CRITICAL (2): browse would open nothing
    assert result.exit_code == 2 and "NOT READY" in result.output
    assert "not for this workstation" in result.output
    (tmp_path / "ws-9X-1.age.pub").unlink()
    missing = CliRunner().invoke(cli, args)
    assert missing.exit_code == 2 and "ws-9X-1.age.pub" in missing.output
    assert "Traceback" not in missing.output


def _pem(keys: Keys, path: Path) -> Path:
    path.write_bytes(keys.trusted.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def test_cli_once_and_status(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    key = _pem(keys, tmp_path / "builder.pub")
    sealed_snapshot(inbox, keys, sequence=2)
    runner = CliRunner()
    once = runner.invoke(cli, ["agent", "--inbox", str(inbox), "--store", str(store),
                               "--trusted-key", str(key), "--once"])
    assert once.exit_code == 0, once.output
    assert "installed unit-4W-000002.dtsnap" in once.output
    st = runner.invoke(cli, ["agent", "status", "--store", str(store), "--trusted-key", str(key),
                             "--stale-minutes", "100000000"])
    assert st.exit_code == 0 and "READY" in st.output and "verified" in st.output
    old = runner.invoke(cli, ["agent", "status", "--store", str(store), "--trusted-key",
                              str(key), "--stale-minutes", "5"])
    assert old.exit_code == 1 and "NOT READY" in old.output
    body = runner.invoke(cli, ["agent", "status", "--store", str(store), "--trusted-key",
                               str(key), "--stale-minutes", "5", "--json"])
    data = json.loads(body.output)
    assert body.exit_code == 1 and data["ready"] is False and data["scopes"][0]["stale"]
    assert data["scopes"][0]["verified"] is True and "min old" in data["problems"][0]
    nokey = runner.invoke(cli, ["agent", "--inbox", str(inbox), "--store", str(store),
                                "--once"])
    assert nokey.exit_code != 0 and "trusted builder key" in nokey.output
    assert "Traceback" not in nokey.output


def test_watch_loop_installs_a_dropped_file(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    stop, installed = threading.Event(), threading.Event()
    thread = threading.Thread(target=run_agent, args=(inbox, store, keys.trusted),
                              kwargs={"stop": stop, "debounce_seconds": 0.05,
                                      "on_install": lambda p, m: installed.set()}, daemon=True)
    thread.start()
    try:
        time.sleep(0.2)
        sealed_snapshot(tmp_path, keys, sequence=7).rename(inbox / "unit-4W-000007.dtsnap")
        assert installed.wait(5)
        assert newest_per_scope(store)["unit:4W"].manifest.sequence == 7
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_a_damaged_copy_of_an_installed_snapshot_is_rejected_not_deleted(tmp_path, keys):
    """Same manifest as the installed file, other bytes: evidence for IT, not a duplicate."""
    inbox, store = _dirs(tmp_path)
    good = sealed_snapshot(tmp_path / "built", keys, sequence=3).read_bytes()
    (inbox / "unit-4W-000003.dtsnap").write_bytes(good)
    assert [r.status for r in process_inbox(inbox, store, keys.trusted)] == ["installed"]
    flipped = bytearray(good)
    flipped[-200] ^= 1
    (inbox / "copy.dtsnap").write_bytes(bytes(flipped))
    (inbox / "cut.dtsnap").write_bytes(good[:-300])
    results = {r.source.name: (r.status, r.reason)
               for r in process_inbox(inbox, store, keys.trusted, settle_seconds=0)}
    assert results == {"copy.dtsnap": ("rejected", "tampered"),
                       "cut.dtsnap": ("rejected", "truncated")}
    kept = sorted(p.name for p in (inbox / "rejected").iterdir())
    assert len(kept) == 4 and sum(n.endswith(".reason.txt") for n in kept) == 2
    assert (store / "unit-4W-000003.dtsnap").read_bytes() == good


def test_an_identical_older_copy_is_a_replay_and_a_good_copy_repairs_the_store(tmp_path, keys):
    inbox, store = _dirs(tmp_path)
    one = sealed_snapshot(tmp_path / "built", keys, sequence=1).read_bytes()
    two = sealed_snapshot(tmp_path / "built", keys, sequence=2).read_bytes()
    for seq, data in ((1, one), (2, two)):
        (inbox / f"unit-4W-{seq:06d}.dtsnap").write_bytes(data)
        process_inbox(inbox, store, keys.trusted)
    (inbox / "old.dtsnap").write_bytes(one)  # the kept seq 1, pushed again
    assert [(r.status, r.reason) for r in process_inbox(inbox, store, keys.trusted)] == \
        [("rejected", "replayed")]
    installed = store / "unit-4W-000002.dtsnap"
    installed.write_bytes(two[:-20])  # the store copy damaged on disk
    (inbox / "again.dtsnap").write_bytes(two)
    assert [r.status for r in process_inbox(inbox, store, keys.trusted)] == ["installed"]
    assert installed.read_bytes() == two
    (inbox / "twice.dtsnap").write_bytes(two)  # what a kill before the inbox clean-up leaves
    done = process_inbox(inbox, store, keys.trusted)
    assert [r.status for r in done] == ["already-installed"] and not (inbox / "twice.dtsnap"
                                                                       ).exists()
    assert "unit-4W-000002.dtsnap" in str(done[0])


def test_cli_bad_folders_are_one_line(tmp_path, keys):
    key = _pem(keys, tmp_path / "builder.pub")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    (tmp_path / "in").mkdir()  # an inbox must be there (it is never made)
    for inbox, store in ((blocker / "in", tmp_path / "s"), (tmp_path / "in", blocker / "s")):
        result = CliRunner().invoke(cli, ["agent", "--inbox", str(inbox), "--store",
                                          str(store), "--trusted-key", str(key), "--once"])
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert str(blocker) in result.output and "Traceback" not in result.output
    stale = CliRunner().invoke(cli, ["agent", "status", "--store", str(tmp_path),
                                     "--stale-minutes", "-5"])
    assert stale.exit_code == 2 and "-5" in stale.output


def test_watch_loop_outlives_a_pass_that_fails(tmp_path, keys):
    """The store's folder replaced by a file (a share unmounted, a disk trouble): the loop
    logs it and installs once the folder is back, instead of the service dying."""
    inbox, store = _dirs(tmp_path)
    store.write_text("not a folder")
    stop, installed = threading.Event(), threading.Event()
    thread = threading.Thread(target=run_agent, args=(inbox, store, keys.trusted),
                              kwargs={"stop": stop, "debounce_seconds": 0.05,
                                      "rescan_seconds": 0.2,
                                      "on_install": lambda p, m: installed.set()}, daemon=True)
    thread.start()
    try:
        sealed_snapshot(tmp_path, keys, sequence=3).rename(inbox / "unit-4W-000003.dtsnap")
        time.sleep(0.6)
        assert thread.is_alive() and not installed.is_set()
        store.unlink()
        store.mkdir()
        assert installed.wait(5)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


def test_a_signed_scope_that_would_lead_out_of_the_store_is_rejected(tmp_path, keys):
    from snapshots import sealed
    from tests.factory import chart_db

    inbox, store = _dirs(tmp_path)
    sealed.seal(chart_db(), inbox / "odd.dtsnap", scope="unit:../../escaped", sequence=1,
                as_of="2026-11-24T14:05:00Z", source="t", counts={"patients": 5},
                recipients=[keys.unit.recipient], signing_key=keys.signing, units=["x"])
    results = process_inbox(inbox, store, keys.trusted)
    assert [(r.status, r.reason) for r in results] == [("rejected", "bad-scope")]
    assert not list(tmp_path.rglob("*escaped*"))
    assert len(list((inbox / "rejected").glob("*.reason.txt"))) == 1


def test_a_missing_inbox_is_an_error_not_made(tmp_path, keys):
    """A mistyped or unmounted inbox: exit 1 and one line, and no folder made in its place
    (the agent would watch an empty local folder and report nothing to install)."""
    key = _pem(keys, tmp_path / "builder.pub")
    missing = tmp_path / "share" / "inbox"
    result = CliRunner().invoke(cli, ["agent", "--inbox", str(missing), "--store",
                                      str(tmp_path / "store"), "--trusted-key", str(key),
                                      "--once"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert str(missing) in result.output and "not create" in result.output
    assert not missing.exists() and not missing.parent.exists()
    with pytest.raises(FileNotFoundError, match="share mounted"):
        process_inbox(missing, tmp_path / "store", keys.trusted)
    assert not missing.exists()


def test_once_prints_each_file_once(tmp_path, keys):
    """A pass says what it did in one line per file (the log no longer repeats it)."""
    inbox, store = _dirs(tmp_path)
    key = _pem(keys, tmp_path / "builder.pub")
    sealed_snapshot(inbox, keys, sequence=4)
    (inbox / "junk.dtsnap").write_bytes(b"not a snapshot")
    result = subprocess.run([str(Path(sys.executable).parent / "downtime"), "agent", "--inbox",
                             str(inbox), "--store", str(store), "--trusted-key", str(key),
                             "--once"], capture_output=True, text=True, timeout=60)
    lines = result.stdout.splitlines()
    assert sum("unit-4W-000004.dtsnap" in line for line in lines) == 1, result.stdout
    assert sum("junk.dtsnap" in line for line in lines) == 1, result.stdout
    assert "junk.dtsnap" not in result.stderr and "installed" not in result.stderr


def test_status_is_not_ready_without_a_usable_identity_or_key(tmp_path, keys):
    """The configured identity missing (or not an identity), the pinned key unreadable:
    browse and print would fail at downtime, so the readiness check says NOT READY."""
    from downtime.agent import check_setup

    inbox, store = _dirs(tmp_path)
    key = _pem(keys, tmp_path / "builder.pub")
    sealed_snapshot(inbox, keys, sequence=1)
    process_inbox(inbox, store, keys.trusted)
    soon = AS_OF + timedelta(minutes=10)
    gone = check_setup(tmp_path / "keys" / "ws-4W-1.age", key)
    report = status(store, 30, now=soon, setup=gone)
    assert not report.ok and "ws-4W-1.age" in report.problems[0]
    assert report.scopes[0].verified  # the key still checked the snapshot
    (tmp_path / "plain.age").write_text("AGE-SECRET-KEY-1 in the clear\n")
    plain = status(store, 30, now=soon, setup=check_setup(tmp_path / "plain.age", key))
    assert "not a passphrase-protected age identity" in plain.problems[0]
    (tmp_path / "bad.pub").write_text("not a key")
    badkey = status(store, 30, now=soon, setup=check_setup(None, tmp_path / "bad.pub"))
    assert not badkey.ok and badkey.problems == [f"pinned builder key: {tmp_path}/bad.pub: "
                                                 "not a PEM public key"]
    assert badkey.scopes[0].verified is None
    config = tmp_path / "downtime.toml"
    config.write_text(f'[paths]\nstore = "{store}"\nidentity = "keys/ws-4W-1.age"\n'
                      f'trusted_builder_key = "{key}"\n')
    result = CliRunner().invoke(cli, ["--config", str(config), "agent", "status",
                                      "--stale-minutes", "100000000"])
    assert result.exit_code == 2 and "NOT READY" in result.output  # CRITICAL
    assert "identity:" in result.output and "ws-4W-1.age" in result.output


def test_status_checks_the_configured_printer(tmp_path, keys):
    """[print] printer names a queue CUPS does not know (or none runs here): NOT READY."""
    from downtime.agent import check_setup

    inbox, store = _dirs(tmp_path)
    sealed_snapshot(inbox, keys, sequence=1)
    process_inbox(inbox, store, keys.trusted)
    setup = check_setup(None, _pem(keys, tmp_path / "builder.pub"), printer="no-such-queue")
    report = status(store, 30, now=AS_OF + timedelta(minutes=10), setup=setup)
    assert not report.ok and report.problems[0].startswith("[print] printer: ")
    assert report.code == 2  # CRITICAL: the packet could not be printed
    assert "no-such-queue" in report.problems[0]
