"""The real `downtime browse`, in tmux at 80x24, driven as a person would: unlock, type a
name, open the chart, and read the patient's allergies off the screen."""

from __future__ import annotations

import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import tests.tmux
from snapshots import chart
from snapshots.audit import verify as verify_audit
from snapshots.keys import create_identity
from snapshots.publish import Recipients, publish
from tests.factory import Keys

PASSPHRASE = "tmux test passphrase"
TMUX = shutil.which("tmux")


def _site(tmp: Path):
    from downtime.generator import generate
    from snapshots.pipeline import build_database
    from snapshots.settings import BuildSettings

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    generate(tmp / "hospital", patients=30, seed=1, as_of=now)
    result = build_database(tmp / "hospital", BuildSettings(as_of=now))
    keys = tmp / "keys"
    recipient = create_identity(keys, "ws-4W-1", PASSPHRASE)
    signing = Ed25519PrivateKey.generate()
    (keys / "builder.pub").write_bytes(signing.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    others = Keys()
    publish(result.conn, tmp / "store", recipients=Recipients(
        escrow=[others.escrow.recipient], pharmacy=[others.pharmacy.recipient],
        units={"4W": [recipient]}), signing_key=signing,
        as_of=now.strftime("%Y-%m-%dT%H:%M:%SZ"), source="tmux test", per_unit=True)
    patient = next(r for r in chart.census(result.conn, unit="4W")
                   if r.allergy.kind == "allergies" and not r.name_alert)
    config = tmp / "downtime.toml"
    config.write_text('[paths]\nstore = "store"\nidentity = "keys/ws-4W-1.age"\n'
                      'trusted_builder_key = "keys/builder.pub"\naudit_log = "audit.log"\n')
    return config, patient


class Tmux(tests.tmux.Tmux):
    def __init__(self, tmp: Path):
        super().__init__("browse")


@pytest.mark.slow
def test_nurse_finds_the_allergies_in_the_real_browse(tmp_path):
    assert TMUX, "tmux is needed (make test installs it)"
    config, patient = _site(tmp_path)
    downtime = Path(sys.executable).parent / "downtime"
    tmux = Tmux(tmp_path)
    tmux.run("new-session", "-d", "-s", tmux.session, "-x", "80", "-y", "24",
             f"TERM=xterm-256color {downtime} --config {config} browse; sleep 30")
    try:
        tmux.wait_for("Workstation passphrase")
        tmux.type("RN Night Shift")
        tmux.wait_for("RN Night Shift")  # the app is up and has the keys
        tmux.key("Tab")
        time.sleep(0.3)
        tmux.type("not the passphrase")
        tmux.wait_for("•" * 10)
        tmux.key("Enter")
        tmux.wait_for("Wrong passphrase")
        time.sleep(0.3)
        tmux.type(PASSPHRASE)
        tmux.wait_for("•" * 10)
        tmux.key("Enter")
        tmux.wait_for("Census")
        surname = patient.name.split(",")[0]
        tmux.type(surname.lower())
        shown = tmux.wait_for(" 1 of ")
        assert surname in shown
        tmux.key("Enter")
        shown = tmux.wait_for("ALLERGIES:")
        first = patient.allergy.items[0].substance
        assert first in shown, shown
        assert surname in shown and "min old" in shown
        assert "Code:" in shown  # the header's third line is not pushed off by allergies
        tmux.key("C-q")
        time.sleep(0.5)
    finally:
        tmux.run("kill-server")
    log = (tmp_path / "audit.log").read_text()
    assert '"unlock-failed"' in log and f'"patient_id":"{patient.patient_id}"' in log
    assert verify_audit(tmp_path / "audit.log").ok
