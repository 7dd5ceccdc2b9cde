"""`downtime audit verify` says which guarantees hold (anchored up to seq N, keyed, plain
chain only); and, with real processes, `downtime agent` as the audit writer of `downtime
print`: signed, anchored, and loud about a writer that is not there."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from downtime.cli import cli
from snapshots.audit import AuditItem, AuditLog, AuditSigner, write_anchor
from snapshots.audit.writer import AuditAccess, socket_path
from tests.factory import print_site

PASS = "audit-cli-pass"
DOWNTIME = [str(Path(sys.executable).parent / "downtime")]


def _site(tmp_path: Path) -> tuple[Path, AuditSigner, Path]:
    """A writer's log (4 entries, anchored at 3), its key beside it, a config naming both."""
    signer = AuditSigner(Ed25519PrivateKey.generate())
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "audit-key.pub").write_bytes(signer.public_pem())
    log = AuditLog(audit / "audit.log", host="ws-4W-1", signer=signer, writer="downtime")
    for action in ("unlock", "chart-open", "break-glass"):
        log.append_many(action, "badge 4411", [AuditItem("p1", detail="why")], os_user="rn")
    share = tmp_path / "share"
    share.mkdir()
    write_anchor(share, log.last_head, signer.public_pem())
    log.append_many("lock", "badge 4411", [AuditItem()], os_user="rn")
    config = tmp_path / "downtime.toml"
    config.write_text('[paths]\naudit_log = "audit/audit.log"\n'
                      '[audit]\nanchors = "share"\n')
    return config, signer, log.path


def test_verify_uses_the_workstations_key_and_anchors(tmp_path):
    config, signer, log = _site(tmp_path)
    done = CliRunner().invoke(cli, ["--config", str(config), "audit", "verify"])
    assert done.exit_code == 0, done.output
    first, *notes = done.output.splitlines()
    anchor = tmp_path / "share" / f"ws-4W-1-{signer.id}" / "seq-000000003.anchor"
    when = json.loads(anchor.read_text())["time"]
    assert first == (f"{log}: audit log anchored up to seq 3 and keyed: 4 entries, hash chain "
                     f"and head match; entries 1..3 match the anchor {anchor} (seq 3, {when}); "
                     f"every entry signed by audit key {signer.id} (the workstation's "
                     f"{log.parent / 'audit-key.pub'})")
    assert notes == ["  note: entries 4..4 are after the last anchor: keyed only"]


def test_verify_of_another_log_uses_only_what_is_given(tmp_path):
    config, signer, log = _site(tmp_path)
    copy = tmp_path / "copy.log"
    shutil.copy(log, copy)
    shutil.copy(log.parent / "audit.log.head", tmp_path / "copy.log.head")
    runner = CliRunner()
    plain = runner.invoke(cli, ["--config", str(config), "audit", "verify", "--log", str(copy)])
    assert plain.exit_code == 0 and "plain chain only" in plain.output
    assert "not checked: no public key given" in plain.output
    keyed = runner.invoke(cli, ["--config", str(config), "audit", "verify", "--log", str(copy),
                                "--key", str(log.parent / "audit-key.pub"), "--json"])
    answer = json.loads(keyed.output)
    assert keyed.exit_code == 0 and answer["guarantee"] == "keyed"
    assert answer["key"] == signer.id and answer["signed"] == [1, 4]
    assert answer["key_checked_by"] == f"--key {log.parent / 'audit-key.pub'}"
    anchored = runner.invoke(cli, ["audit", "verify", "--log", str(copy), "--key",
                                   str(log.parent / "audit-key.pub"), "--anchors",
                                   str(tmp_path / "share"), "--json"])
    assert json.loads(anchored.output)["anchored_to"] == 3


def test_verify_of_a_rewritten_log_and_of_bad_input(tmp_path):
    config, signer, log = _site(tmp_path)
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:2] + lines[3:]))  # the break-glass entry deleted
    runner = CliRunner()
    bad = runner.invoke(cli, ["--config", str(config), "audit", "verify"])
    assert bad.exit_code == 1 and "NOT intact at line 3 (seq 4)" in bad.output
    as_json = runner.invoke(cli, ["--config", str(config), "audit", "verify", "--json"])
    assert as_json.exit_code == 1 and json.loads(as_json.output)["guarantee"] == "broken"
    (tmp_path / "garbage.pub").write_text("not a key")
    for key in ("garbage.pub", "missing.pub"):
        wrong = runner.invoke(cli, ["--config", str(config), "audit", "verify", "--key",
                                    str(tmp_path / key)])
        assert wrong.exit_code == 1 and wrong.output.count("\n") == 1
        assert str(tmp_path / key) in wrong.output and "Traceback" not in wrong.output


def test_verify_says_when_the_configured_anchors_cannot_be_reached(tmp_path):
    config, _signer, _log = _site(tmp_path)
    shutil.rmtree(tmp_path / "share")
    done = CliRunner().invoke(cli, ["--config", str(config), "audit", "verify"])
    assert done.exit_code == 0 and "audit log keyed: 4 entries" in done.output
    assert f"[audit] anchors {tmp_path / 'share'} cannot be reached" in done.output


@pytest.fixture
def short_dir():
    folder = Path(tempfile.mkdtemp(prefix="dtc-", dir="/tmp"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _start_agent(site: Path, env: dict) -> tuple[subprocess.Popen, Path]:
    log = (site / "agent.log").open("a")
    agent = subprocess.Popen(DOWNTIME + ["--config", str(site / "downtime.toml"), "agent"],
                             stdout=log, stderr=subprocess.STDOUT, env=env)
    return agent, site / "agent.log"


def _wait(condition, log: Path, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise AssertionError(f"timed out; agent log:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)


def _run(site: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(DOWNTIME + ["--config", str(site / "downtime.toml"), *args],
                          capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL,
                          timeout=120)


@pytest.mark.slow
def test_the_agent_writes_prints_entries_signed_anchored_and_a_stopped_one_is_told(
        tmp_path, short_dir):
    site = print_site(tmp_path / "site", PASS)
    with (site / "downtime.toml").open("a") as f:
        f.write(f'[audit]\nwriter = "agent"\nsocket_dir = "{short_dir}/run"\n'
                f'anchors = "share"\nanchor_seconds = 0.2\nspool = "spool.log"\n')
    (site / "share").mkdir()
    env = {**os.environ, "DOWNTIME_PASSPHRASE": PASS}
    sock = socket_path(site / "audit.log", AuditAccess(short_dir / "run"))
    census = ("print", "census", "--unit", "4W", "--user", "rn.kim", "--pdf")

    agent, agent_log = _start_agent(site, env)
    try:
        _wait(sock.exists, agent_log)
        done = _run(site, env, *census, str(tmp_path / "one.pdf"))
        assert done.returncode == 0 and "warning" not in done.stderr, done.stderr
        _wait(lambda: list((site / "share").glob("*/seq-*.anchor")), agent_log)
    finally:
        agent.terminate()
        agent.wait(30)
    assert "writing the audit entries of browse and print" in agent_log.read_text()
    verified = _run(site, env, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert "audit log anchored up to seq 1 and keyed: 1 entry," in verified.stdout

    stopped = _run(site, env, *census, str(tmp_path / "two.pdf"))  # no agent: still prints
    assert stopped.returncode == 0 and (tmp_path / "two.pdf").exists()
    assert "warning: the audit writer cannot be reached" in stopped.stderr
    assert str(site / "spool.log") in stopped.stderr

    agent, agent_log = _start_agent(site, env)
    try:
        _wait(sock.exists, agent_log)
        again = _run(site, env, *census, str(tmp_path / "three.pdf"))
        assert again.returncode == 0 and "warning" not in again.stderr, again.stderr
    finally:
        agent.terminate()
        agent.wait(30)
    verified = _run(site, env, "audit", "verify")
    assert verified.returncode == 0 and "anchored up to seq 3 and keyed: 3 entries" in \
        verified.stdout, verified.stdout + verified.stderr
    assert "entries 2..2 were kept in the spool of" in verified.stdout
    entries = [json.loads(x) for x in (site / "audit.log").read_text().splitlines()]
    assert [e["user"] for e in entries] == ["rn.kim"] * 3
    assert (site / "spool.log").read_text() == ""
