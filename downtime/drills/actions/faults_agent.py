"""The faults of the workstations: a corrupt, a replayed and a wrongly signed snapshot dropped
in an inbox, a workstation key that expired (replaced, so the snapshots are no longer
encrypted to it), a workstation clock that runs ahead or behind (libfaketime under `agent status`).
Each runs the agent (or its status check) for real and checks what the docs promise
(docs/drills-faults.md, docs/agent.md)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..api import DrillContext, StepResult
from .agents import agent_pass, check_workstation
from .build import publish_into, run_build_step
from .faults_source import outcome
from .site import DrillActionError, Site, Workstation, site_of

FAKETIME_LIB = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def _target(site: Site, params: Mapping[str, Any]) -> Workstation:
    name = params.get("workstation")
    for ws in site.workstations:
        if name in (None, ws.name) and (name or _unit_snapshot(ws)):
            return ws
    raise DrillActionError(f"no workstation {name or 'with a unit snapshot installed'} for "
                           "the fault (install-agents, build and publish first)")


def _unit_snapshot(ws: Workstation) -> Any:
    from snapshots.store import newest_per_scope

    return newest_per_scope(ws.store).get(f"unit:{ws.unit}") if ws.store.is_dir() else None


def _refused(site: Site, ws: Workstation, dropped: Path, reasons: tuple[str, ...],
             fault: str, expected: str) -> StepResult:
    """One agent pass over the inbox holding `dropped`; was it refused and the current
    snapshot kept?"""
    before = _unit_snapshot(ws)
    results = agent_pass(site, ws)
    mine = [r for r in results if r.source.name == dropped.name]
    after = _unit_snapshot(ws)
    kept = before is not None and after is not None and \
        before.manifest.snapshot_id == after.manifest.snapshot_id
    rejected = [r for r in mine if r.status == "rejected"]
    evidence = sorted((ws.inbox / "rejected").glob(f"*{dropped.name}")) \
        if (ws.inbox / "rejected").is_dir() else []
    ok = bool(rejected) and rejected[0].reason in reasons and kept and bool(evidence)
    if rejected:
        actual = f"refused as {rejected[0].reason} ({rejected[0].message}); " + (
            f"sequence {after.manifest.sequence} kept" if kept else "the current one changed")
    else:
        actual = f"not refused: {mine[0] if mine else 'the agent did not see it'}"
    return outcome(fault, expected, actual, ok)


def corrupt_snapshot(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """The newest unit snapshot with a byte of its payload flipped, dropped in the inbox."""
    site = site_of(ctx)
    ws = _target(site, params)
    current = _unit_snapshot(ws)
    data = bytearray(current.path.read_bytes())
    data[len(data) * 2 // 3] ^= 0xFF  # in the encrypted payload, past the manifest line
    dropped = ws.inbox / current.path.name
    dropped.write_bytes(bytes(data))
    return _refused(site, ws, dropped, ("tampered", "bad-signature", "truncated"),
                    "corrupt-snapshot",
                    "the agent refuses the damaged file (tampered: its hash does not match "
                    "the signed one), keeps it in inbox/rejected with the reason, and the "
                    "installed snapshot stays in force")


def replayed_snapshot(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """An older, genuinely signed snapshot of the unit dropped in the inbox again."""
    site = site_of(ctx)
    ws = _target(site, params)
    scope = f"unit:{ws.unit}"
    older = _older_in_store(site, scope, _unit_snapshot(ws).manifest.sequence)
    if older is None:  # one more build so that an older snapshot exists
        ctx.log("replayed-snapshot: building once more so that an older snapshot exists")
        if run_build_step(ctx, {"mode": "full"}).outcome != "ok":
            raise DrillActionError("replayed-snapshot: the extra build failed")
        publish_into(site.store, [w.inbox for w in site.workstations])
        agent_pass(site, ws)
        older = _older_in_store(site, scope, _unit_snapshot(ws).manifest.sequence)
    dropped = ws.inbox / older.path.name
    shutil.copyfile(older.path, dropped)
    return _refused(site, ws, dropped, ("replayed",), "replayed-snapshot",
                    "the agent refuses the older snapshot as replayed (its sequence is not "
                    "above the newest this store ever installed), keeps it in "
                    "inbox/rejected, and the installed snapshot stays in force")


def _older_in_store(site: Site, scope: str, below: int) -> Any:
    from snapshots.store import list_snapshots

    return next((s for s in list_snapshots(site.store)[0]
                 if s.manifest.scope == scope and s.manifest.sequence < below), None)


def wrong_key(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """A snapshot with a higher sequence, signed by a key that is not the pinned builder's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from snapshots import sealed
    from snapshots.store import file_name

    site = site_of(ctx)
    ws = _target(site, params)
    current = _unit_snapshot(ws)
    m = current.manifest
    opened = sealed.open_snapshot(current.path, site.trusted,
                                  [ws.opened_identity(site.passphrase)])
    try:
        dropped = ws.inbox / file_name(m.scope, m.sequence + 1)
        sealed.seal(opened.db, dropped, scope=m.scope, sequence=m.sequence + 1,
                    as_of=m.as_of, source="an impostor", counts=m.counts,
                    recipients=m.recipients, signing_key=Ed25519PrivateKey.generate(),
                    units=m.units)
    finally:
        opened.close()
    return _refused(site, ws, dropped, ("unknown-signer", "bad-signature"), "wrong-key",
                    "the agent refuses a snapshot not signed by the pinned builder key "
                    "(unknown-signer), keeps it in inbox/rejected, and the installed "
                    "snapshot stays in force")


EXPIRED = ("`agent status` says NOT READY on the workstation whose key was replaced (no "
           "installed snapshot is encrypted to its identity: browse and print could open "
           "none), before any outage; the other workstations stay ready")


def expired_key(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """The workstation's identity replaced by a new one (its old key expired and rotated on
    the workstation, but the builder still encrypts to the old one); put back afterwards."""
    from snapshots.keys import create_identity_kept

    site = site_of(ctx)
    ws = _target(site, params)
    saved = {p: p.read_bytes() for p in (ws.identity_file, Path(f"{ws.identity_file}.pub"))}
    old_identity = ws.identity
    try:
        for path in saved:
            path.unlink()
        ws.identity = create_identity_kept(ws.identity_file.parent, ws.name, site.passphrase)
        problems = check_workstation(ctx, ws)
        others = [w for w in site.workstations if w is not ws]
        others_ok = all(not check_workstation(ctx, w) for w in others[:2])
    finally:
        for path, data in saved.items():
            path.write_bytes(data)
        ws.identity = old_identity
    flagged = any("encrypted to this workstation" in p or "does not open" in p
                  for p in problems)
    actual = (f"{ws.name} NOT READY: {problems[0]}" if problems else f"{ws.name} READY") + \
        ("; the others ready" if others_ok else "; another workstation not ready either")
    return outcome("expired-key", EXPIRED, actual, flagged and others_ok)


def clock_skew(ctx: DrillContext, params: Mapping[str, Any]) -> StepResult:
    """`downtime agent status` run on a workstation under libfaketime, its clock `skew`
    ahead (default "+2d") or behind ("-3h")."""
    site = site_of(ctx)
    ws = _target(site, params)
    skew = str(params.get("skew", "+2d"))
    behind = skew.strip().startswith("-")
    expected = (f"with the workstation's clock {skew} off, `agent status` says " + (
        "the snapshot is dated after the clock, the clock behind (WARNING, exit 1)" if behind
        else "the data is stale (WARNING, exit 1, the snapshot's age in minutes)") +
        " instead of READY: nobody trusts a snapshot whose age cannot be told")
    if not FAKETIME_LIB.exists():
        return outcome("clock-skew", expected, f"{FAKETIME_LIB} missing (`make system-deps` "
                                               "installs faketime)", False)
    # the monotonic clock is moved too: with FAKETIME_DONT_FAKE_MONOTONIC, libfaketime 0.9.10
    # makes Python's time.sleep (clock_nanosleep) fail with EINVAL
    env = {**os.environ, "LD_PRELOAD": str(FAKETIME_LIB), "FAKETIME": skew, "NO_COLOR": "1"}
    command = shutil.which("downtime", path=str(Path(sys.executable).parent)) or \
        shutil.which("downtime")
    if command is None:
        return outcome("clock-skew", expected, "no `downtime` command to run", False)
    done = subprocess.run([command, "--config", str(ws.folder / "downtime.toml"), "agent",
                           "status"],
                          capture_output=True, text=True, timeout=120, env=env)
    lines = (done.stdout + done.stderr).strip().splitlines()
    stale = [line for line in lines if ("clock is behind" in line if behind else
                                        "min old" in line and "threshold" in line)]
    ok = done.returncode == 1 and bool(stale) and "NOT READY" in done.stdout
    actual = f"agent status exit {done.returncode}: " + (stale[0].strip() if stale else
                                                        (lines[-1] if lines else "no output"))
    return outcome("clock-skew", expected, actual, ok)
