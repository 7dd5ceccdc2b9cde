"""`downtime demo`: a second run with another passphrase stops before it changes anything,
with one line; errors never reach the user as a traceback.

The keys are made here with plaintext recipients and a PEM signing key (fast): creating the
demo's passphrase-protected age identities costs seconds each (scrypt), and what is tested is
what happens before and around them."""

from __future__ import annotations

import pyrage
from click.testing import CliRunner

from downtime.cli import cli
from snapshots.keys import RECIPIENT_SUFFIX, create_signing_key


def _site(root):
    keys = root / "keys"
    keys.mkdir(parents=True)
    create_signing_key(keys, "first pass")
    for name in ("builder", "pharmacy"):  # no escrow: an incomplete key set
        (keys / f"{name}{RECIPIENT_SUFFIX}").write_text(
            str(pyrage.x25519.Identity.generate().to_public()) + "\n")
    (root / "hospital").mkdir()
    (root / "hospital" / "Patient.ndjson").write_text("from an earlier run\n")
    return keys


def test_wrong_passphrase_stops_before_anything_is_regenerated(tmp_path):
    site = tmp_path / "demo"
    _site(site)
    result = CliRunner().invoke(cli, ["demo", "--dir", str(site), "--patients", "12"],
                                env={"DOWNTIME_PASSPHRASE": "another pass"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "another passphrase" in result.output and "nothing was changed" in result.output
    assert (site / "hospital" / "Patient.ndjson").read_text() == "from an earlier run\n"
    assert not (site / "store").exists()


def test_incomplete_key_set_is_one_line(tmp_path):
    site = tmp_path / "demo"
    _site(site)
    result = CliRunner().invoke(cli, ["demo", "--dir", str(site), "--patients", "12"],
                                env={"DOWNTIME_PASSPHRASE": "first pass"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no escrow identity" in result.output


def test_unwritable_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(cli, ["demo", "--dir", str(blocker / "demo")],
                                env={"DOWNTIME_PASSPHRASE": "p"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(blocker / "demo") in result.output
