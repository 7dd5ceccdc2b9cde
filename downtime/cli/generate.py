"""`downtime generate`: write the synthetic demo hospital as FHIR R4 Bulk Data NDJSON."""

from __future__ import annotations

from pathlib import Path

import click

from snapshots.settings import SettingsError, parse_as_of


@click.command("generate")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write <ResourceType>.ndjson files into.")
@click.option("--patients", default=150, show_default=True, type=click.IntRange(1, 100_000),
              help="Current inpatients.")
@click.option("--seed", default=1, show_default=True, type=int)
@click.option("--as-of", help="The hospital's 'now' (ISO time; default: now).")
def generate(out: Path, patients: int, seed: int, as_of: str | None) -> None:
    """Generate a synthetic hospital (same bytes for the same seed and --as-of)."""
    from ..generator import generate as make

    try:
        when = parse_as_of(as_of) if as_of else None
    except SettingsError as e:
        raise click.ClickException(str(e)) from None
    summary = make(out, patients=patients, seed=seed, as_of=when)
    total = sum(summary.resources.values())
    click.echo(f"wrote {total:,} resources ({summary.inpatients} current inpatients, "
               f"{len(summary.units)} units) to {out}")


COMMANDS = [generate]
