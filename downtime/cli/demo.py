"""`downtime demo`: set up the demo site and show what to try next."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from snapshots.errors import IoError

from ..demo import DEFAULT_PASSPHRASE, run_demo


@click.command("demo")
@click.option("--dir", "directory", default="demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the whole demo site (hospital, keys, store, config).")
@click.option("--patients", default=150, show_default=True, type=click.IntRange(1, 20_000),
              help="Current inpatients of the synthetic hospital.")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Same seed, same hospital (its 'now' is the current minute).")
def demo(directory: Path, patients: int, seed: int) -> None:
    """Generate the demo hospital, make keys, build and verify per-unit snapshots."""
    try:
        result = run_demo(directory, patients, seed, progress=lambda m: click.echo(f"• {m}"))
    except OSError as e:  # one that names no file is about the demo's folder
        raise IoError.from_oserror(e, path=e.filename or directory) from None
    click.echo("")
    click.secho("Demo site ready", bold=True)
    click.echo(f"  hospital   {result.resources:,} FHIR resources, {result.inpatients} current "
               f"inpatients, units {', '.join(result.units)}")
    for path, manifest in result.written:
        click.echo(f"  snapshot   {path}  ({manifest.scope}, "
                   f"{manifest.counts.get('patients', 0)} patients)")
    census = result.report["census"]
    click.echo(f"  census     {census['in_snapshot']} of "
               f"{census['source_active_inpatient_encounters']} active inpatient encounters; "
               f"{result.report['gaps']['errors']} records in the gap register as errors, "
               f"{result.report['gaps']['warnings']} as warnings")
    if result.packet:
        click.echo(f"  packet     {result.packet}  (unit {result.unit}'s downtime packet, "
                   "pre-rendered and encrypted: `print packet` sends it at once)")
    if not census["complete"]:
        click.secho("  census INCOMPLETE: see `snapshot report` on the house snapshot",
                    fg="red", bold=True)
    lost = result.report.get("records_not_loaded") or []
    if lost:  # the demo's deliberate mess: `snapshot build` exits 2 on it
        click.secho(f"  not loaded {len(lost)} active order(s)/allergy record(s) of the source "
                    "(the demo's mess, on purpose): their charts say so, and `snapshot build` "
                    "exits 2", fg="yellow")
    if result.passphrase_from_env:
        click.echo("  passphrase from $DOWNTIME_PASSPHRASE")
    else:
        click.echo(f"  passphrase '{DEFAULT_PASSPHRASE}' for every demo key "
                   "(set DOWNTIME_PASSPHRASE to choose one)")
    # the program as it was called (`.venv/bin/downtime` from `make demo`, or one on PATH)
    program = sys.argv[0] if Path(sys.argv[0]).name == "downtime" else "downtime"
    click.echo(f"  live path  {program} sandbox serve --data {result.directory / 'sandbox'} "
               f"--load {result.directory / 'hospital'} --live 6: the same hospital from a "
               "FHIR server standing in for the EHR, changing as the day goes; then the "
               "builder, agent and browse pull and show it (README, docs/sandbox.md)")
    cfg = result.config
    # not among "Try next": a drill runs for minutes and needs the sandbox extra
    click.echo(f"  rehearsal  {program} --config {cfg} drill run planned-cutover: the "
               "cutover rehearsed on this hospital, gates asked on the terminal, a report "
               "for the auditors (`drill list` names the other drills; docs/drills.md)")
    house = next(p for p, m in result.written if m.scope == "house")
    unit = next((p for p, m in result.written if m.scope == f"unit:{result.unit}"), house)
    click.echo("\nTry next:")
    for command in (f"downtime --config {cfg} snapshot info {unit}",
                    f"downtime --config {cfg} snapshot verify {house} --identity "
                    f"{result.directory / 'keys' / 'escrow.age'}",
                    f"downtime --config {cfg} snapshot report {house} --gaps --identity "
                    f"{result.directory / 'keys' / 'pharmacy.age'}",
                    f"downtime --config {cfg} browse",
                    f"downtime --config {cfg} print packet --unit {result.unit} --pdf "
                    "packet.pdf"):
        click.echo(f"  {program}{command.removeprefix('downtime')}")


COMMANDS = [demo]
