"""The real `downtime reconcile enter`, in tmux, driven as a clerk would: unlock with the HIM
identity (a real passphrase KDF), scan a MAR page's QR (a handheld scanner types it and
Enter), type the page, and find it in the journal; no plaintext left on disk."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from reconcile.backentry import ENTRY_RECORDED
from reconcile.episode import load_episode
from snapshots.keys import create_identity, load_identity
from tests.enter_helpers import MAR, PATIENT_NAMES, STAFF, Tmux, enter_site, qr

PASSPHRASE = "him station passphrase"


def _station(tmp: Path) -> tuple[Path, Path]:
    """enter_site's episode and snapshot, for a real identity file and a config on disk."""
    create_identity(tmp / "keys", "him-1", PASSPHRASE)
    him = load_identity(tmp / "keys" / "him-1.age", PASSPHRASE)
    site = enter_site(tmp, identity=him)
    staff = "\n".join(
        f'"{unit}" = [' + ", ".join(f'{{initials = "{p["initials"]}", name = "{p["name"]}"}}'
                                    for p in people) + "]" for unit, people in STAFF.items())
    config = tmp / "downtime.toml"
    config.write_text('[paths]\nstore = "store"\ntrusted_builder_key = "builder.pub"\n'
                      'audit_log = "audit.log"\n[reconcile]\nfolder = "reconcile"\n'
                      'identity = "keys/him-1.age"\n[reconcile.staff]\n' + staff + "\n")
    return config, site.folder


@pytest.mark.slow
def test_a_clerk_types_a_mar_page_in_the_real_enter(tmp_path):
    tmux = Tmux()
    assert tmux.tmux, "tmux is needed (make test installs it)"
    config, folder = _station(tmp_path)
    downtime = Path(sys.executable).parent / "downtime"
    tmux.run("new-session", "-d", "-s", tmux.session, "-x", "120", "-y", "36",
             f"TERM=xterm-256color TZ=UTC {downtime} --config {config} reconcile enter; "
             "sleep 30")
    try:
        tmux.wait_for("HIM station passphrase")
        tmux.type("Pat Clerk")
        tmux.wait_for("Pat Clerk")
        tmux.key("Tab")
        time.sleep(0.3)
        tmux.type(PASSPHRASE)
        tmux.key("Enter")
        tmux.wait_for("SCAN A PAGE")
        tmux.type(qr(MAR, "mar"))
        tmux.key("Enter")
        shown = tmux.wait_for("Metoprolol")
        assert "ALLERGIES: Penicillin" in shown and "MRN0000101" in shown, shown
        # typed without waiting between lines, as a fast typist does: each line is what
        # came before its Enter
        tmux.type("0910AB")
        tmux.key("Enter")
        tmux.type("1300 AB h NPO for surgery")
        tmux.key("Enter")
        shown = tmux.wait_for("line 102 recorded")
        assert "HELD: NPO" in shown
        tmux.key("F9")
        tmux.wait_for("marked done")
        tmux.key("C-q")
        time.sleep(0.5)
    finally:
        tmux.run("kill-server")
    him = load_identity(tmp_path / "keys" / "him-1.age", PASSPHRASE)
    journal = load_episode(folder, None, [him.recipient], [him.secret], "t").journal
    typed = [e.data["entry"] for e in journal.read() if e.type == ENTRY_RECORDED]
    assert [(e["written_by"]["name"], e["outcome"]) for e in typed] == [
        ("Alice Brown", "given"), ("Alice Brown", "held")]
    assert typed[0]["entered_by"]["name"] == "Pat Clerk"
    assert json.loads((tmp_path / "audit.log").read_text().splitlines()[0])["action"] == \
        "unlock"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            for word in PATIENT_NAMES:
                assert word.encode() not in path.read_bytes(), f"{word} in {path}"
