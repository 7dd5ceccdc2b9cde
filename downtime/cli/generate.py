"""`downtime generate`: write the synthetic demo hospital as FHIR R4 Bulk Data NDJSON."""

from __future__ import annotations

from pathlib import Path

import click

from snapshots.errors import IoError
from snapshots.settings import parse_as_of


@click.command("generate")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write <ResourceType>.ndjson files into.")
@click.option("--patients", default=150, show_default=True, type=click.IntRange(1, 100_000),
              help="Current inpatients.")
@click.option("--seed", default=1, show_default=True, type=int,
              help="Same seed (and --as-of), same hospital.")
@click.option("--as-of", help="The hospital's 'now' (ISO time; default: now).")
def generate(out: Path, patients: int, seed: int, as_of: str | None) -> None:
    """Generate a synthetic hospital (same bytes for the same seed and --as-of; without
    --as-of the hospital's 'now' is the current minute, so the bytes differ run to run).

    Only the files an earlier run wrote in --out, unchanged since (its
    .downtime-generated.json says which), are replaced; a folder holding any other FHIR file
    (a real export) is refused and nothing in it deleted."""
    from ..generator import generate as make

    when = parse_as_of(as_of) if as_of else None
    try:
        summary = make(out, patients=patients, seed=seed, as_of=when)
    except OSError as e:
        raise IoError.from_oserror(e, "cannot write", e.filename or out) from None
    total = sum(summary.resources.values())
    if summary.replaced:
        click.echo(f"replaced {len(summary.replaced)} files of an earlier generation in {out}")
    click.echo(f"wrote {total:,} resources ({summary.inpatients} current inpatients, "
               f"{len(summary.units)} units) to {out}")


COMMANDS = [generate]
