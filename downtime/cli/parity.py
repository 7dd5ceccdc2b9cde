"""`downtime parity`: the migration parity check (docs/parity.md), a thin layer over
snapshots.parity.run_parity; the PDF from forms.parity_report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from snapshots.errors import ToolkitError
from snapshots.parity import ParityResult, ParitySource, run_parity

from ..config import Config, ConfigError
from .errors import json_option

CANNOT_RUN = 2  # exit status: the check could not run (a source, the config, a report file)
SHOWN = 100  # differences printed on the terminal; every one is in --json, --report, --pdf


@click.command("parity", epilog="Exit status: 0 every criterion of [parity.criteria] holds; "
               "1 a criterion failed (the differences say why); 2 the check could not run "
               "(a source missing or unreachable, a config that cannot be used).")
@click.option("--legacy", "legacy", required=True, metavar="PATH|URL",
              help="The legacy EHR: a FHIR NDJSON or Bundle folder or file, or a FHIR "
                   "server's base URL (reached as [parity.legacy] says, else [source]).")
@click.option("--target", "target", required=True, metavar="PATH|URL",
              help="The new EHR, likewise ([parity.target], else [source]).")
@click.option("--as-of", help="Treat both sources as current at this ISO time (default: "
                              "[build] as_of, else now): the windows of labs, vitals, doses.")
@click.option("--seed", type=int, help="Seed of the chart sample (default: [parity] seed).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the JSON report to this file, age-encrypted to [recipients] "
                   "escrow (it names patients; `age -d -i IDENTITY FILE` reads it).")
@click.option("--pdf", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the report as a PDF (it names patients: readable by its "
                   "owner only).")
@click.option("--paper", type=click.Choice(["Letter", "A4"]),
              help="Paper of the PDF (default: [print] paper).")
@json_option
@click.pass_context
def parity(ctx: click.Context, legacy: str, target: str, as_of: str | None, seed: int | None,
           report: Path | None, pdf: Path | None, paper: str | None, as_json: bool) -> None:
    """Compare two FHIR sources chart by chart, for the day the records move."""
    config: Config = ctx.obj.config
    try:
        result = check(config, legacy, target, as_of, seed)
        if report is not None:
            write_encrypted_report(config, report, result)
        if pdf is not None:
            from forms.parity_report import save_parity_pdf

            save_parity_pdf(result, pdf, paper or config.print.paper)
    except ToolkitError as e:
        if e.exit_status == 1:  # 1 says a criterion failed: not being able to run is 2
            e.exit_status = CANNOT_RUN
        raise
    except OSError as e:
        from snapshots.errors import IoError

        raise IoError.from_oserror(e, "cannot write the report", e.filename) from None
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        _print(result, [p for p in (report, pdf) if p is not None])
    ctx.exit(result.exit_status)


def write_encrypted_report(config: Config, path: Path, result: ParityResult) -> None:
    """The JSON report names patients, so it is never plaintext on disk (only a PDF the user
    asked for is): it is encrypted to IT's escrow recipients, who keep the migration record."""
    import pyrage

    from forms.delivery import write_private

    keys = config.recipients.escrow_keys()
    if not keys:
        raise ConfigError(f"--report {path}: the JSON report names patients and is written "
                          f"encrypted to [recipients] escrow, and {config.recipients.where} "
                          "has none (or use --json, or --pdf)")
    data = json.dumps(result.to_json(), indent=2).encode()
    write_private(path, pyrage.encrypt(data, [pyrage.x25519.Recipient.from_str(k)
                                             for k in keys]))


def check(config: Config, legacy: str, target: str, as_of: str | None = None,
          seed: int | None = None) -> ParityResult:
    """The check as the command runs it, from the config and the flags."""
    settings = config.parity
    if seed is not None:
        from dataclasses import replace

        settings = replace(settings, seed=seed)
    return run_parity(side(config, "legacy", legacy), side(config, "target", target),
                      settings, config.build_settings(as_of))


def side(config: Config, label: str, given: str) -> ParitySource:
    if given.startswith(("http://", "https://")):
        try:
            return ParitySource(label, server=config.parity_server(label, given))
        except ToolkitError as e:
            raise ConfigError(f"--{label} {given}: {e}") from None
    return ParitySource(label, path=Path(given))


def _print(result: ParityResult, written: list[Path]) -> None:
    a, b = result.legacy, result.target
    click.echo(f"legacy: {a.source}: {a.patients:,} census patients")
    click.echo(f"target: {b.source}: {b.patients:,} census patients")
    click.echo(f"compared {result.patients_compared:,} patients by section hash, "
               f"{len(result.sample)} sampled charts field by field (seed {result.seed})")
    for d in result.differences[:SHOWN]:
        click.echo(f"  {d.text}")
    if len(result.differences) > SHOWN:
        click.echo(f"  ... and {len(result.differences) - SHOWN:,} more (--json, --report, "
                   "--pdf list them all)")
    for c in result.criteria:
        mark = "ok  " if c.passed else "FAIL"
        click.echo(f"{mark} {c.figure} = {c.value:g} (limit {c.limit:g})")
    for path in written:
        click.echo(f"wrote {path}")
    if result.passed:
        click.secho(f"PARITY PASSED: {len(result.differences):,} difference(s), every "
                    "criterion holds", fg="green")
    else:
        failed = len(result.failed())
        click.secho(f"PARITY FAILED: {failed} {'criterion' if failed == 1 else 'criteria'} "
                    f"not met, {len(result.differences):,} difference(s)", fg="red", err=True)


COMMANDS = [parity]
