"""`downtime demo`: a second run with another passphrase stops before it changes anything,
with one line; errors never reach the user as a traceback.

The keys are made here with plaintext recipients and a PEM signing key (fast): creating the
demo's passphrase-protected age identities costs seconds each (scrypt), and what is tested is
what happens before and around them."""

from __future__ import annotations

from datetime import UTC, datetime

import pyrage
import pytest
from click.testing import CliRunner

from downtime.cli import cli
from downtime.generator import generate
from snapshots.keys import RECIPIENT_SUFFIX, create_signing_key

EARLIER = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _site(root):
    keys = root / "keys"
    keys.mkdir(parents=True)
    create_signing_key(keys, "first pass")
    for name in ("builder", "pharmacy"):  # no escrow: an incomplete key set
        (keys / f"{name}{RECIPIENT_SUFFIX}").write_text(
            str(pyrage.x25519.Identity.generate().to_public()) + "\n")
    generate(root / "hospital", patients=3, seed=9, as_of=EARLIER)  # an earlier run's
    return keys


def test_wrong_passphrase_stops_before_anything_is_regenerated(tmp_path):
    site = tmp_path / "demo"
    _site(site)
    result = CliRunner().invoke(cli, ["demo", "--dir", str(site), "--patients", "12"],
                                env={"DOWNTIME_PASSPHRASE": "another pass"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "another passphrase" in result.output and "nothing was changed" in result.output
    again = tmp_path / "again"
    generate(again, patients=3, seed=9, as_of=EARLIER)
    assert (site / "hospital" / "Patient.ndjson").read_bytes() == \
        (again / "Patient.ndjson").read_bytes()  # not regenerated
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


@pytest.mark.slow
def test_every_command_the_demo_suggests_works(tmp_path, monkeypatch):
    """The real demo (real age identities, two inpatients: every one on ICU, so the unit is
    not 4W), then each "Try next" line as the user would paste it (browse, the TUI, aside)."""
    import shlex

    monkeypatch.chdir(tmp_path)
    env = {"DOWNTIME_PASSPHRASE": "demo pass"}
    made = CliRunner().invoke(cli, ["demo", "--dir", "site", "--patients", "2"], env=env)
    assert made.exit_code == 0, made.output
    lines = made.output.split("Try next:\n", 1)[1].splitlines()
    commands = [shlex.split(line)[1:] for line in lines if line.strip()]
    assert len(commands) == 5 and all(c[:2] == ["--config", "site/downtime.toml"]
                                      for c in commands)
    assert "--unit" in commands[-1] and commands[-1][commands[-1].index("--unit") + 1] == "ICU"
    packets = list((tmp_path / "site" / "store" / "prerendered").glob("packet-ICU-*.age"))
    assert len(packets) == 1 and packets[0].read_bytes().startswith(b"age-encryption.org/v1")
    for args in commands:
        if "browse" in args:
            continue
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, (args, result.output)
        assert "Traceback" not in result.output
    assert (tmp_path / "packet.pdf").stat().st_size > 1000
    assert not packets[0].exists()  # `print packet` took the pre-rendered one
