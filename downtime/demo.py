"""The demo: a whole site set up from nothing on the synthetic hospital, so that every command
can be tried with `--config DIR/downtime.toml`."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from forms.prerender import prerender_packet, prerendered_folder
from snapshots.errors import ToolkitError
from snapshots.keys import WrongPassphrase, load_identity, load_public_key, load_signing_key
from snapshots.manifest import Manifest
from snapshots.pipeline import build_database
from snapshots.publish import Recipients, publish
from snapshots.sealed import open_snapshot, verify
from snapshots.settings import BuildSettings

from .cli.keys import recipients_toml
from .passphrase import ENV
from .provision import provision_keys, recipients_in, workstation_name

DEFAULT_PASSPHRASE = "downtime-demo"


@dataclass
class DemoResult:
    directory: Path
    config: Path
    passphrase_from_env: bool
    inpatients: int
    resources: int
    units: list[str]
    written: list[tuple[Path, Manifest]] = field(default_factory=list)
    report: dict = field(default_factory=dict)
    unit: str = "4W"  # the unit whose workstation the config is for
    packet: Path | None = None  # that unit's pre-rendered packet (encrypted)


def demo_passphrase() -> tuple[str, bool]:
    value = os.environ.get(ENV)
    return (value, True) if value else (DEFAULT_PASSPHRASE, False)


class DemoError(ToolkitError):
    """The demo cannot run as asked (one line, for the user)."""

    reason = "demo"


def run_demo(directory: Path, patients: int = 150, seed: int = 1,
             progress: Callable[[str], None] = lambda message: None) -> DemoResult:
    """Set up the demo site; DemoError, KeyFileError, SnapshotError or OSError when it
    cannot (the CLI turns each into one line)."""
    from .generator import generate

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    passphrase, from_env = demo_passphrase()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    keys = directory / "keys"
    # Existing keys are checked against the passphrase before anything is regenerated, so a
    # wrong passphrase leaves the site as it was.
    signing = _existing_signing_key(keys, passphrase, from_env)

    progress(f"generating the demo hospital ({patients} inpatients)")
    summary = generate(directory / "hospital", patients=patients, seed=seed, as_of=now)

    progress("building the canonical database")
    result = build_database(directory / "hospital", BuildSettings(as_of=now))
    units = sorted(result.report["units"])

    if signing is not None:
        progress("reusing the keys in " + str(keys))
        table = _existing_recipients(keys, units)
    else:
        progress(f"creating keys for {len(units)} unit workstations, pharmacy and escrow")
        table = provision_keys(keys, passphrase, units)
        signing = load_signing_key(keys / "builder.pem", passphrase)
    recipients = Recipients(escrow=table["escrow"], pharmacy=table["pharmacy"],
                            builder=table["builder"], units=table["units"])

    progress("sealing per-unit and whole-house snapshots")
    written = publish(result.conn, directory / "store", recipients=recipients,
                      signing_key=signing, as_of=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                      source=result.report["source"], per_unit=True)

    progress("verifying every snapshot and opening one as a workstation would")
    trusted = load_public_key(keys / "builder.pub")
    for path, _ in written:
        verify(path, trusted)
    first_unit = "4W" if "4W" in units else units[0]
    unit_file = next((p for p, m in written if m.scope == f"unit:{first_unit}"), None)
    if unit_file is None:
        raise DemoError(f"{keys}: no workstation key for unit {first_unit}; delete {keys} to "
                        "make a complete new set")
    identity = load_identity(keys / f"{workstation_name(first_unit, 1)}.age", passphrase)
    snapshot = open_snapshot(unit_file, trusted, [identity])
    try:  # as `downtime agent --prerender` does on the workstation, so `print packet` is quick
        progress(f"pre-rendering unit {first_unit}'s downtime packet (encrypted)")
        packet = prerender_packet(snapshot, first_unit, prerendered_folder(directory / "store"),
                                  [identity.recipient])
    finally:
        snapshot.close()

    config = directory / "downtime.toml"
    config.write_text(_config_text(first_unit, table))
    (directory / "inbox").mkdir(exist_ok=True)
    return DemoResult(directory, config, from_env, summary.inpatients,
                      sum(summary.resources.values()), units, written, result.report,
                      first_unit, packet)


def _existing_signing_key(keys: Path, passphrase: str,
                          from_env: bool) -> Ed25519PrivateKey | None:
    if not (keys / "builder.pem").exists():
        return None
    try:
        return load_signing_key(keys / "builder.pem", passphrase)
    except WrongPassphrase:
        said = "$DOWNTIME_PASSPHRASE" if from_env else f"the default '{DEFAULT_PASSPHRASE}'"
        raise DemoError(f"{keys}: the demo keys there were made with another passphrase than "
                        f"{said}; set DOWNTIME_PASSPHRASE to theirs, or delete {keys} to make "
                        "new ones (nothing was changed)") from None


def _existing_recipients(keys: Path, units: list[str]) -> dict:
    found = recipients_in(keys)
    missing = [name for name in ("escrow", "pharmacy", "builder") if name not in found]
    if missing:
        raise DemoError(f"{keys}: has builder.pem but no {', '.join(missing)} identity; "
                        f"delete {keys} to make a complete new set")
    return {"escrow": [found["escrow"]], "pharmacy": [found["pharmacy"]],
            "builder": [found["builder"]],
            "units": {u: [r for n, r in found.items() if n.startswith(f"ws-{u}-")]
                      for u in units}}


def _config_text(unit: str, table: dict) -> str:
    return f"""# Written by `downtime demo`. Paths are relative to this file.
[paths]
source = "hospital"
store = "store"
inbox = "inbox"
keys = "keys"
# This workstation's identity (unit {unit}); keys/pharmacy.age sees every unit.
identity = "keys/{workstation_name(unit, 1)}.age"
trusted_builder_key = "keys/builder.pub"
signing_key = "keys/builder.pem"
audit_log = "audit.log"
registry = "forms-registry"

[thresholds]
stale_minutes = 30
idle_lock_minutes = 5

[build]
encounter_status = ["in-progress"]
encounter_class = ["IMP", "ACUTE", "OBSENC"]

{recipients_toml(table)}"""
