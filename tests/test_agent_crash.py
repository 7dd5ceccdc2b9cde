"""SIGKILL the agent at random points of installs, thirty times: the store must always hold a
valid newest snapshot, and a clean pass afterwards installs what is left."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from downtime.agent import process_inbox
from snapshots.sealed import verify
from snapshots.store import list_snapshots, newest_per_scope
from tests.factory import Keys, add_patient, chart_db, sealed_snapshot

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import sys
from pathlib import Path
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from downtime.agent import process_inbox
key = load_pem_public_key(Path(sys.argv[3]).read_bytes())
print("ready", flush=True)
sys.stdin.readline()
import time
t0 = time.perf_counter()
process_inbox(Path(sys.argv[1]), Path(sys.argv[2]), key, keep=2)
print("done", time.perf_counter() - t0, flush=True)
"""


def _big_db():
    conn = chart_db()
    for i in range(150):
        add_patient(conn, f"x{i}", f"FILLER, Patient{i}", f"4W-5{i:02d}-A")
    conn.commit()
    return conn


def test_sigkill_during_installs_never_leaves_the_store_without_a_good_snapshot(tmp_path):
    from cryptography.hazmat.primitives import serialization

    keys = Keys()
    pub = tmp_path / "builder.pub"
    pub.write_bytes(keys.trusted.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo))
    inbox, store, staging = tmp_path / "inbox", tmp_path / "store", tmp_path / "staging"
    for d in (inbox, store, staging):
        d.mkdir()
    conn = _big_db()
    sealed_snapshot(inbox, keys, conn, sequence=1)
    process_inbox(inbox, store, keys.trusted, keep=2)
    rng = random.Random(20261124)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def start(seq: int) -> subprocess.Popen:
        sealed_snapshot(staging, keys, conn, sequence=seq).rename(
            inbox / f"unit-4W-{seq:06d}.dtsnap")
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(inbox), str(store), str(pub)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                 text=True)
        assert child.stdout.readline().strip() == "ready"
        child.stdin.write("go\n")
        child.stdin.flush()
        return child

    # calibrate: how long one whole install pass takes on this machine
    child = start(2)
    word, took = child.stdout.readline().split()
    assert word == "done"
    span = float(took)
    child.wait(5)
    kills, installed_between = 0, set()
    for seq in range(3, 33):
        child = start(seq)
        pending = len(list(inbox.glob("*.dtsnap")))  # each pass installs every pending file
        time.sleep(rng.uniform(0, span * pending * 1.2))
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        kills += child.returncode == -signal.SIGKILL
        newest = newest_per_scope(store)["unit:4W"]
        verify(newest.path, keys.trusted)  # raises if the newest is not whole and signed
        assert newest.manifest.sequence >= 1
        installed_between.add(newest.manifest.sequence)
    assert kills >= 15  # most kills landed before the child finished
    assert len(installed_between) >= 5  # and they landed at different points of installs
    results = process_inbox(inbox, store, keys.trusted, keep=2)
    assert all(r.status in ("installed", "already-installed") for r in results), results
    assert newest_per_scope(store)["unit:4W"].manifest.sequence == 32
    assert not list(store.glob(".*.part"))
    assert len(list_snapshots(store)[0]) == 2
    assert not (inbox / "rejected").exists()
